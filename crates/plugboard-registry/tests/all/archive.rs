//! The package format: reproducible packing, and every way a hostile archive is refused.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use plugboard_registry::{pack_dir, unpack, Digest, Error, Limits};
use tar::{EntryType, Header};

use crate::support::plugin_dir;

const MANIFEST: &[u8] = b"id: evil\nversion: 1.0.0\nruntime: builtin\nentry: probe\n";

/// A tar.gz with entries written byte for byte (names a normal builder would refuse).
pub(crate) fn raw_archive(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
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
    gzip(&tar)
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn refused(bytes: &[u8], limits: Limits) -> String {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let err = unpack(bytes, &dest, limits, "evil.tar.gz").expect_err("the archive was accepted");
    assert!(
        matches!(err, Error::Archive { .. } | Error::Manifest { .. }),
        "{err:?}"
    );
    // Nothing was written outside the destination.
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(outside, ["x"], "something escaped the destination");
    err.to_string()
}

#[test]
fn packing_is_reproducible_and_round_trips() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = plugin_dir(scratch.path(), "a", "1.0.0", &[]);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/tool"), "#!/bin/sh\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("bin/tool"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::os::unix::fs::symlink("tool", dir.join("bin/alias")).unwrap();
    }
    let (m, first) = pack_dir(&dir).unwrap();
    assert_eq!(m.id.as_str(), "a");
    // Touching files changes times, not the package.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(dir.join("data/readme.txt"), "a 1.0.0\n").unwrap();
    let copy = scratch.path().join("copy");
    copy_dir(&dir, &copy);
    let (_, second) = pack_dir(&dir).unwrap();
    let (_, third) = pack_dir(&copy).unwrap();
    assert_eq!(Digest::of(&first), Digest::of(&second));
    assert_eq!(
        Digest::of(&first),
        Digest::of(&third),
        "a copy elsewhere packs the same"
    );

    let out = tempfile::tempdir().unwrap();
    let m = unpack(&first, out.path(), Limits::default(), "a.tar.gz").unwrap();
    assert_eq!(m.version.to_string(), "1.0.0");
    assert_eq!(
        std::fs::read_to_string(out.path().join("data/readme.txt")).unwrap(),
        "a 1.0.0\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.path().join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(out.path().join("bin/alias")).unwrap(),
            Path::new("tool")
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        let target = to.join(e.file_name());
        if ft.is_dir() {
            copy_dir(&e.path(), &target);
        } else if ft.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn packing_checks_the_manifest_and_links() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("bad");
    std::fs::create_dir(&dir).unwrap();
    let err = pack_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("no plugin.yaml"), "{err}");
    std::fs::write(dir.join("plugin.yaml"), "id: Bad Id\nversion: x\n").unwrap();
    let err = pack_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("plugin.yaml"), "{err}");
    #[cfg(unix)]
    {
        let ok = plugin_dir(scratch.path(), "b", "1.0.0", &[]);
        std::os::unix::fs::symlink("/etc/passwd", ok.join("passwd")).unwrap();
        let err = pack_dir(&ok).unwrap_err().to_string();
        assert!(err.contains("outside the plugin directory"), "{err}");
    }
}

#[test]
fn path_traversal_is_refused() {
    for name in [
        "../escape.txt",
        "/tmp/plugboard-abs.txt",
        "a/../../escape.txt",
    ] {
        let bytes = raw_archive(&[
            ("plugin.yaml", EntryType::Regular, MANIFEST, None),
            (name, EntryType::Regular, b"x", None),
        ]);
        let err = refused(&bytes, Limits::default());
        assert!(
            err.contains("leaves the package") || err.contains("absolute"),
            "{name}: {err}"
        );
    }
    assert!(!Path::new("/tmp/plugboard-abs.txt").exists());
}

#[test]
fn links_that_escape_are_refused() {
    let cases: [(&str, EntryType, &str); 3] = [
        ("link", EntryType::Symlink, "../../etc"),
        ("link", EntryType::Symlink, "/etc/passwd"),
        ("hard", EntryType::Link, "../outside"),
    ];
    for (name, kind, target) in cases {
        let bytes = raw_archive(&[
            ("plugin.yaml", EntryType::Regular, MANIFEST, None),
            (name, kind, b"", Some(target)),
        ]);
        let err = refused(&bytes, Limits::default());
        assert!(err.contains("outside the package"), "{target}: {err}");
    }
    // A link inside the package, then a file written through it.
    let bytes = raw_archive(&[
        ("plugin.yaml", EntryType::Regular, MANIFEST, None),
        ("sub", EntryType::Directory, b"", None),
        ("link", EntryType::Symlink, b"", Some("sub")),
        ("link/file", EntryType::Regular, b"x", None),
    ]);
    let err = refused(&bytes, Limits::default());
    assert!(err.contains("through the symbolic link"), "{err}");
}

#[test]
fn devices_and_fifos_are_refused() {
    for kind in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
        let bytes = raw_archive(&[
            ("plugin.yaml", EntryType::Regular, MANIFEST, None),
            ("dev", kind, b"", None),
        ]);
        let err = refused(&bytes, Limits::default());
        assert!(err.contains("may not hold"), "{err}");
    }
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    // 64 MiB of zeros compress to about 64 KiB; the limit is 16 MiB.
    let limits = Limits {
        max_unpacked_bytes: 16 << 20,
        ..Limits::default()
    };
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::best()));
    let mut h = Header::new_gnu();
    h.set_size(MANIFEST.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "plugin.yaml", MANIFEST).unwrap();
    let mut h = Header::new_gnu();
    h.set_size(64 << 20);
    h.set_mode(0o644);
    tar.append_data(&mut h, "zeros", std::io::repeat(0).take_bytes(64 << 20))
        .unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    assert!(
        bytes.len() < 1 << 20,
        "the bomb itself is small: {}",
        bytes.len()
    );
    let err = refused(&bytes, limits);
    assert!(err.contains("size limit"), "{err}");

    // A header that claims 10 GiB, with the default limits: refused before any byte is written.
    let mut tar = Vec::new();
    let mut h = Header::new_gnu();
    h.set_path("huge").unwrap();
    h.set_size(10 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend(std::iter::repeat_n(0u8, 1 << 20));
    let err = refused(&gzip(&tar), Limits::default());
    assert!(err.contains("size limit"), "{err}");
}

trait TakeBytes {
    fn take_bytes(self, n: u64) -> std::io::Take<std::io::Repeat>;
}

impl TakeBytes for std::io::Repeat {
    fn take_bytes(self, n: u64) -> std::io::Take<std::io::Repeat> {
        std::io::Read::take(self, n)
    }
}

#[test]
fn too_many_entries_and_missing_manifest() {
    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let entries: Vec<(String, EntryType, &[u8], Option<&str>)> = (0..5)
        .map(|i| (format!("f{i}"), EntryType::Regular, &b"x"[..], None))
        .collect();
    let refs: Vec<_> = entries
        .iter()
        .map(|(n, k, d, l)| (n.as_str(), *k, *d, *l))
        .collect();
    let err = refused(&raw_archive(&refs), limits);
    assert!(err.contains("more than 3 entries"), "{err}");
    let err = refused(&raw_archive(&refs[..2]), Limits::default());
    assert!(err.contains("no plugin.yaml"), "{err}");
    let err = refused(b"not a gzip at all", Limits::default());
    assert!(err.contains("evil.tar.gz"), "{err}");
}

/// Fuzzing seeds and crash reproducers (`fuzz/corpus/archive`, `fuzz/artifacts/archive`) go
/// through the reader on stable Rust: a fixed crash stays fixed.
#[test]
fn fuzz_corpus_and_crash_reproducers_do_not_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let limits = Limits {
        max_unpacked_bytes: 4 << 20,
        max_entries: 256,
    };
    let mut seen = 0;
    for dir in ["corpus/archive", "artifacts/archive"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let out = tempfile::tempdir().unwrap();
            let _ = unpack(&bytes, out.path(), limits, "corpus");
            seen += 1;
        }
    }
    assert!(seen > 0, "no seed in fuzz/corpus/archive");
}
