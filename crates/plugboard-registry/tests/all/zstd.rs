//! `.tar.zst` packages: reproducible packing, interoperability with the `zstd` and `tar` tools,
//! detection by magic bytes, and the same refusals as `.tar.gz`.

use std::path::Path;
use std::process::Command;

use plugboard_registry::{pack_dir, pack_dir_as, unpack, Digest, Error, Format, Limits, Package};
use tar::{EntryType, Header};

use crate::support::{plugin_dir, tool_missing};

const MANIFEST: &[u8] = b"id: evil\nversion: 1.0.0\nruntime: builtin\nentry: probe\n";

fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

/// A plain tar with entries written byte for byte.
fn raw_tar(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, kind, data, link) in entries {
        let mut h = Header::new_old();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                old.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    tar
}

fn refused(bytes: &[u8], limits: Limits) -> String {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let err = unpack(bytes, &dest, limits, "evil.tar.zst").expect_err("the archive was accepted");
    assert!(
        matches!(err, Error::Archive { .. } | Error::Manifest { .. }),
        "{err:?}"
    );
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(outside, ["x"], "something escaped the destination");
    err.to_string()
}

#[test]
fn zstd_packing_is_reproducible_and_round_trips() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = plugin_dir(scratch.path(), "z", "1.0.0", &[]);
    std::fs::write(dir.join("data/big.txt"), "plugboard ".repeat(20_000)).unwrap();
    let (m, first) = pack_dir_as(&dir, Format::Zstd).unwrap();
    assert_eq!(m.id.as_str(), "z");
    assert_eq!(Format::detect(&first), Some(Format::Zstd));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(dir.join("data/readme.txt"), "z 1.0.0\n").unwrap();
    let (_, second) = pack_dir_as(&dir, Format::Zstd).unwrap();
    assert_eq!(
        Digest::of(&first),
        Digest::of(&second),
        "the same directory, the same digest"
    );
    let (_, gz) = pack_dir(&dir).unwrap();
    assert_eq!(Format::detect(&gz), Some(Format::Gzip));
    assert_ne!(gz, first);

    let out = tempfile::tempdir().unwrap();
    let m = unpack(&first, out.path(), Limits::default(), "z.tar.zst").unwrap();
    assert_eq!(m.version.to_string(), "1.0.0");
    assert_eq!(
        std::fs::read_to_string(out.path().join("data/big.txt")).unwrap(),
        "plugboard ".repeat(20_000)
    );
    let p = Package::from_bytes(first, "z", Limits::default()).unwrap();
    assert_eq!(p.format, Format::Zstd);
    assert_eq!(p.file_name(), "z-1.0.0.tar.zst");
}

/// The reference `zstd` tool reads what Plugboard writes, and what `tar --zstd` writes
/// installs.
#[test]
fn zstd_interoperates_with_the_zstd_and_tar_tools() {
    if tool_missing("zstd", "apt-get install zstd") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let dir = plugin_dir(scratch.path(), "t", "2.0.0", &[]);
    let (_, bytes) = pack_dir_as(&dir, Format::Zstd).unwrap();
    let pkg = scratch.path().join("t.tar.zst");
    std::fs::write(&pkg, &bytes).unwrap();
    let out = Command::new("zstd")
        .args(["-d", "-q", "-c"])
        .arg(&pkg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zstd -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = tar::Archive::new(out.stdout.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["data", "data/readme.txt", "plugin.yaml"]);

    // GNU tar with zstd, at zstd's default level 3 (a different encoder): read back.
    let made = scratch.path().join("by-tar.tar.zst");
    let status = Command::new("tar")
        .arg("--zstd")
        .arg("-cf")
        .arg(&made)
        .arg("-C")
        .arg(&dir)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let out = tempfile::tempdir().unwrap();
    let m = unpack(
        &std::fs::read(&made).unwrap(),
        out.path(),
        Limits::default(),
        "by-tar.tar.zst",
    )
    .unwrap();
    assert_eq!(m.id.as_str(), "t");
    assert!(out.path().join("data/readme.txt").is_file());
}

#[test]
fn zstd_archives_get_the_same_refusals() {
    let bytes = zstd(&raw_tar(&[
        ("plugin.yaml", EntryType::Regular, MANIFEST, None),
        ("../escape.txt", EntryType::Regular, b"x", None),
    ]));
    assert!(refused(&bytes, Limits::default()).contains("leaves the package"));
    let bytes = zstd(&raw_tar(&[
        ("plugin.yaml", EntryType::Regular, MANIFEST, None),
        ("link", EntryType::Symlink, b"", Some("../../etc")),
    ]));
    assert!(refused(&bytes, Limits::default()).contains("outside the package"));
    let bytes = zstd(&raw_tar(&[
        ("plugin.yaml", EntryType::Regular, MANIFEST, None),
        ("dev", EntryType::Char, b"", None),
    ]));
    assert!(refused(&bytes, Limits::default()).contains("may not hold"));

    // A bomb: 64 MiB of zeros in a small zstd frame, against a 16 MiB limit.
    let mut tar = raw_tar(&[("plugin.yaml", EntryType::Regular, MANIFEST, None)]);
    tar.truncate(tar.len() - 1024);
    let mut h = Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(64 << 20);
    h.set_mode(0o644);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.resize(tar.len() + (64 << 20) + 1024, 0);
    let bomb = zstd(&tar);
    assert!(bomb.len() < 4 << 20, "the bomb is small: {}", bomb.len());
    let limits = Limits {
        max_unpacked_bytes: 16 << 20,
        ..Limits::default()
    };
    assert!(refused(&bomb, limits).contains("size limit"));

    // A zstd magic number followed by garbage, and neither format at all.
    let mut garbage = vec![0x28, 0xb5, 0x2f, 0xfd];
    garbage.extend_from_slice(b"\xff\xff\xff\xff not a frame");
    let err = refused(&garbage, Limits::default());
    assert!(err.contains("zstd"), "{err}");
    let err = refused(b"PK\x03\x04 a zip file", Limits::default());
    assert!(
        err.contains("neither gzip (.tar.gz) nor zstd (.tar.zst)"),
        "{err}"
    );
}

/// The format is read from the bytes: a zstd package named `.tar.gz` still unpacks.
#[test]
fn the_format_comes_from_the_bytes_not_the_name() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = plugin_dir(scratch.path(), "m", "1.0.0", &[]);
    let (_, bytes) = pack_dir_as(&dir, Format::Zstd).unwrap();
    let misnamed = scratch.path().join("m-1.0.0.tar.gz");
    std::fs::write(&misnamed, &bytes).unwrap();
    let p = Package::read(&misnamed, Limits::default()).unwrap();
    assert_eq!(p.format, Format::Zstd);
    assert_eq!(Format::from_file_name("x.TAR.ZST"), Some(Format::Zstd));
    assert_eq!(Format::from_file_name("x.tgz"), Some(Format::Gzip));
    assert_eq!(Format::from_file_name("x.zip"), None);
}

#[test]
fn packing_checks_that_entries_exist() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("p");
    std::fs::create_dir_all(dir.join("bin/linux-x86_64")).unwrap();
    std::fs::write(dir.join("bin/linux-x86_64/tool"), "#!/bin/sh\n").unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        "id: p\nversion: 1.0.0\nruntime: process\nplatforms:\n  linux-x86_64: bin/linux-x86_64/tool\n  macos-aarch64: bin/macos-aarch64/tool\n",
    )
    .unwrap();
    let err = pack_dir(&dir).unwrap_err().to_string();
    assert!(
        err.contains("platforms.macos-aarch64: bin/macos-aarch64/tool is not a file"),
        "{err}"
    );
    std::fs::create_dir_all(dir.join("bin/macos-aarch64")).unwrap();
    std::fs::write(dir.join("bin/macos-aarch64/tool"), "#!/bin/sh\n").unwrap();
    let (m, _) = pack_dir(&dir).unwrap();
    assert_eq!(m.platforms.len(), 2);
    assert!(Path::new(&dir).join("plugin.yaml").is_file());
}
