//! The package format: a plugin directory as a gzip- or zstd-compressed tar with `plugin.yaml`
//! at its root, written reproducibly, and read back under limits that make a hostile archive
//! harmless.
//!
//! Reproducible: entries sorted by path, every time, owner and group fixed, modes reduced to
//! 0644/0755, a gzip header without a time or file name, and a zstd frame from a single-threaded
//! encoder with no time in it, so the same directory gives the same bytes and the same digest
//! on every machine.
//!
//! The reader tells the two compressions apart by their magic bytes, never by a file name.
//!
//! Safe: an entry must be a relative path of ordinary components (no `/`, no `..`), a regular
//! file, a directory, or a link whose target stays inside the package; device files and FIFOs
//! are refused; nothing is written through a symbolic link; the number of entries and the
//! bytes written are capped (a decompression bomb stops at the cap, not at the disk's end).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::{Compression, GzBuilder};
use plugboard_manifest::Manifest;
use tar::{EntryType, Header};

use crate::error::{Error, Result};

/// The manifest file at a package's root.
pub const MANIFEST_FILE: &str = "plugin.yaml";

/// The largest zstd window a package may ask the decoder for. `zstd -19` uses 8 MiB and
/// `tar --zstd` far less; only `--long`/`--ultra` go beyond, and a hostile frame header must
/// not make the reader reserve gigabytes.
const MAX_ZSTD_WINDOW: u64 = 64 << 20;

/// How a package's tar is compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// gzip: `.tar.gz`, what every tool reads. The default.
    #[default]
    Gzip,
    /// Zstandard: `.tar.zst`, smaller and faster to unpack.
    Zstd,
}

impl Format {
    /// The format of a package's bytes, by their magic number; `None` for neither.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Self::Gzip)
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Self::Zstd)
        } else {
            None
        }
    }

    /// The format a file name asks for: `.tar.zst` or `.tzst` is zstd, `.tar.gz` or `.tgz`
    /// gzip; `None` for any other name.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            Some(Self::Zstd)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(Self::Gzip)
        } else {
            None
        }
    }

    /// The file extension, `tar.gz` or `tar.zst`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Gzip => "tar.gz",
            Self::Zstd => "tar.zst",
        }
    }
}

/// Limits applied while reading a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes the package may expand to (all files together). Default 512 MiB.
    pub max_unpacked_bytes: u64,
    /// The most entries (files, directories, links). Default 10 000.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 512 << 20,
            max_entries: 10_000,
        }
    }
}

/// Packs the plugin directory `dir` into a `.tar.gz`, after checking its `plugin.yaml`.
///
/// # Errors
/// As [`pack_dir_as`].
pub fn pack_dir(dir: &Path) -> Result<(Manifest, Vec<u8>)> {
    pack_dir_as(dir, Format::Gzip)
}

/// Packs the plugin directory `dir` in `format`, after checking its `plugin.yaml` and that
/// the files its `entry` (and each of its `platforms`) names are there.
///
/// # Errors
/// A missing or invalid `plugin.yaml`, an entry file that is missing, an unreadable file, a
/// special file, or a symbolic link that points outside `dir`.
pub fn pack_dir_as(dir: &Path, format: Format) -> Result<(Manifest, Vec<u8>)> {
    let manifest = read_dir_manifest(dir)?;
    check_entries(dir, &manifest)?;
    let mut paths = Vec::new();
    collect(dir, Path::new(""), &mut paths)?;
    paths.sort();
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let name = dir.display().to_string();
    for rel in &paths {
        let full = dir.join(rel);
        let meta = fs::symlink_metadata(&full).map_err(|e| Error::io(&full, e))?;
        let mut header = Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let ft = meta.file_type();
        let io_err = |e: io::Error| Error::io(&full, e);
        if ft.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, rel, io::empty())
                .map_err(io_err)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(io_err)?;
            if !link_stays_inside(rel, &target) {
                return Err(Error::archive(
                    &name,
                    format!(
                        "{} is a symbolic link to {}, outside the plugin directory; copy the file in instead",
                        rel.display(),
                        target.display()
                    ),
                ));
            }
            header.set_entry_type(EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            tar.append_link(&mut header, rel, &target).map_err(io_err)?;
        } else if ft.is_file() {
            header.set_entry_type(EntryType::Regular);
            header.set_mode(if is_executable(&meta) { 0o755 } else { 0o644 });
            header.set_size(meta.len());
            let file = fs::File::open(&full).map_err(io_err)?;
            tar.append_data(&mut header, rel, file).map_err(io_err)?;
        } else {
            return Err(Error::archive(
                &name,
                format!(
                    "{} is not a regular file, directory or link; remove it",
                    rel.display()
                ),
            ));
        }
    }
    let plain = tar.into_inner().map_err(|e| Error::io(dir, e))?;
    let bytes = match format {
        Format::Gzip => {
            let mut gz = GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), Compression::default());
            gz.write_all(&plain).map_err(|e| Error::io(dir, e))?;
            gz.finish().map_err(|e| Error::io(dir, e))?
        }
        // `Fastest` (about zstd's level 1) is the best level ruzstd implements; it still beats
        // gzip's default on plugin packages, and it is deterministic.
        Format::Zstd => ruzstd::encoding::compress_to_vec(
            plain.as_slice(),
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
    };
    Ok((manifest, bytes))
}

/// The files a manifest runs must be in the package: a missing one is found now rather than
/// by every host that installs it.
fn check_entries(dir: &Path, manifest: &Manifest) -> Result<()> {
    if manifest.runtime == plugboard_manifest::RuntimeKind::Builtin {
        return Ok(());
    }
    let mut entries: Vec<(String, &str)> = Vec::new();
    if !manifest.entry.is_empty() {
        entries.push(("entry".into(), &manifest.entry));
    }
    for (platform, p) in &manifest.platforms {
        entries.push((format!("platforms.{platform}"), &p.entry));
    }
    for (key, entry) in entries {
        if !dir.join(entry).is_file() {
            return Err(Error::archive(
                dir.display().to_string(),
                format!("{key}: {entry} is not a file in the plugin directory; build it first, or fix the path in plugin.yaml"),
            ));
        }
    }
    Ok(())
}

fn read_dir_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Error::archive(
                dir.display().to_string(),
                "no plugin.yaml: a package is a plugin directory with its manifest at the root",
            )
        } else {
            Error::io(&path, e)
        }
    })?;
    Manifest::from_yaml_str(&text, &path.display().to_string()).map_err(|errors| Error::Manifest {
        package: dir.display().to_string(),
        errors,
    })
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(rel);
    let entries = fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let child = rel.join(entry.file_name());
        let ft = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        out.push(child.clone());
        if ft.is_dir() {
            collect(root, &child, out)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &fs::Metadata) -> bool {
    false
}

/// A path made only of ordinary components, with `.` dropped; `None` for anything absolute or
/// with `..`.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Whether a symbolic link at `link` (relative to the package root) with `target` resolves,
/// lexically, to somewhere inside the package.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<&std::ffi::OsStr> = link
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for c in target.components() {
        match c {
            Component::Normal(n) => depth.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// A reader that fails once more than `left` bytes have come through: it bounds everything
/// the tar reader buffers (long names, pax headers) as well as file contents.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the archive expands past the size limit",
            )
        })?;
        Ok(n)
    }
}

/// Unpacks `bytes` (a package named `package` in messages) into `dest`, which must exist and
/// be empty, and returns the package's manifest.
///
/// # Errors
/// Anything unsafe or malformed in the archive, a limit exceeded, a missing or invalid
/// `plugin.yaml`. `dest` may then hold part of the package: unpack into a temporary directory.
pub fn unpack(bytes: &[u8], dest: &Path, limits: Limits, package: &str) -> Result<Manifest> {
    let bad = |reason: String| Error::archive(package, reason);
    // The tar stream is a little larger than the files it holds (headers, padding).
    let slack = limits
        .max_entries
        .saturating_mul(1024)
        .saturating_add(1 << 20);
    let format = Format::detect(bytes).ok_or_else(|| {
        bad("not a plugin package: neither gzip (.tar.gz) nor zstd (.tar.zst) data; make one with `plugboard pack`".into())
    })?;
    let inner: Box<dyn Read + '_> = match format {
        Format::Gzip => Box::new(GzDecoder::new(bytes)),
        Format::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(bytes, MAX_ZSTD_WINDOW)
                .map_err(|e| {
                    bad(format!(
                        "not a readable zstd stream ({e}); windows over {} MiB are refused",
                        MAX_ZSTD_WINDOW >> 20
                    ))
                })?,
        ),
    };
    let reader = Capped {
        inner,
        left: limits.max_unpacked_bytes.saturating_add(slack),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a {} package: {e}", format.extension())))?;
    let mut written: u64 = 0;
    let mut count: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("unreadable archive entry: {e}")))?;
        count += 1;
        if count > limits.max_entries {
            return Err(bad(format!(
                "more than {} entries; a plugin package is refused past that limit",
                limits.max_entries
            )));
        }
        let raw = entry
            .path()
            .map_err(|e| bad(format!("an entry has an unreadable path: {e}")))?
            .into_owned();
        let Some(rel) = safe_relative(&raw) else {
            if raw.components().all(|c| c == Component::CurDir) {
                continue; // `./` itself
            }
            return Err(bad(format!(
                "the entry {} is an absolute path or leaves the package with `..`; refusing to unpack it",
                raw.display()
            )));
        };
        check_parents(dest, &rel).map_err(&bad)?;
        let target = dest.join(&rel);
        if fs::symlink_metadata(&target).is_ok()
            && entry.header().entry_type() != EntryType::Directory
        {
            return Err(bad(format!("the entry {} appears twice", rel.display())));
        }
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Directory => {
                fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.header().size().unwrap_or(u64::MAX);
                if written.saturating_add(size) > limits.max_unpacked_bytes {
                    return Err(bomb(package, limits));
                }
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                let mut file = fs::File::create(&target).map_err(|e| Error::io(&target, e))?;
                let budget = limits.max_unpacked_bytes - written;
                let copied = io::copy(&mut (&mut entry).take(budget + 1), &mut file)
                    .map_err(|e| bad(format!("cannot unpack {}: {e}", rel.display())))?;
                if copied > budget {
                    return Err(bomb(package, limits));
                }
                written += copied;
                file.flush().map_err(|e| Error::io(&target, e))?;
                set_mode(&target, entry.header().mode().unwrap_or(0o644))?;
            }
            EntryType::Symlink | EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(|e| bad(format!("unreadable link in {}: {e}", rel.display())))?
                    .ok_or_else(|| bad(format!("the link {} has no target", rel.display())))?
                    .into_owned();
                if kind == EntryType::Symlink {
                    if !link_stays_inside(&rel, &link) {
                        return Err(bad(format!(
                            "the symbolic link {} points to {}, outside the package; refusing to unpack it",
                            rel.display(),
                            link.display()
                        )));
                    }
                    make_symlink(&link, &target)?;
                } else {
                    // A hard link names another entry of the archive, relative to its root.
                    let source = safe_relative(&link).ok_or_else(|| {
                        bad(format!(
                            "the hard link {} points to {}, outside the package; refusing to unpack it",
                            rel.display(),
                            link.display()
                        ))
                    })?;
                    check_parents(dest, &source).map_err(&bad)?;
                    let from = dest.join(&source);
                    let meta = fs::symlink_metadata(&from).map_err(|_| {
                        bad(format!(
                            "the hard link {} points to {}, which is not an earlier file of the package",
                            rel.display(),
                            source.display()
                        ))
                    })?;
                    if !meta.is_file() {
                        return Err(bad(format!(
                            "the hard link {} points to {}, which is not a regular file",
                            rel.display(),
                            source.display()
                        )));
                    }
                    // A copy, not a link: the installed files must not share an inode with
                    // anything a later entry could rewrite.
                    written = written.saturating_add(meta.len());
                    if written > limits.max_unpacked_bytes {
                        return Err(bomb(package, limits));
                    }
                    fs::copy(&from, &target).map_err(|e| Error::io(&target, e))?;
                }
            }
            EntryType::XGlobalHeader | EntryType::XHeader => {}
            other => {
                return Err(bad(format!(
                    "the entry {} is a {}, which a plugin package may not hold (only files, directories and links)",
                    rel.display(),
                    kind_name(other)
                )));
            }
        }
    }
    let manifest_path = dest.join(MANIFEST_FILE);
    let text = match fs::symlink_metadata(&manifest_path) {
        Ok(m) if m.is_file() => fs::read_to_string(&manifest_path)
            .map_err(|e| bad(format!("plugin.yaml is not readable text: {e}")))?,
        _ => {
            return Err(bad(
                "no plugin.yaml at the package root; is this a Plugboard package (made by `plugboard pack`)?".into(),
            ))
        }
    };
    Manifest::from_yaml_str(&text, &format!("{package}!/{MANIFEST_FILE}")).map_err(|errors| {
        Error::Manifest {
            package: package.to_owned(),
            errors,
        }
    })
}

fn bomb(package: &str, limits: Limits) -> Error {
    Error::archive(
        package,
        format!(
            "the package expands past {} MiB, the size limit; refusing it (a decompression bomb?)",
            limits.max_unpacked_bytes >> 20
        ),
    )
}

fn kind_name(kind: EntryType) -> &'static str {
    match kind {
        EntryType::Char => "character device",
        EntryType::Block => "block device",
        EntryType::Fifo => "FIFO",
        EntryType::GNUSparse => "sparse file",
        _ => "special entry",
    }
}

/// Refuses a path whose parent directories, inside `dest`, include a symbolic link: writing
/// through one could land anywhere.
fn check_parents(dest: &Path, rel: &Path) -> std::result::Result<(), String> {
    let mut at = dest.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            at.push(c);
            if let Ok(m) = fs::symlink_metadata(&at) {
                if m.file_type().is_symlink() {
                    return Err(format!(
                        "the entry {} would be written through the symbolic link {}; refusing to unpack it",
                        rel.display(),
                        at.strip_prefix(dest).unwrap_or(&at).display()
                    ));
                }
                if !m.is_dir() {
                    return Err(format!(
                        "the entry {} is inside {}, which is not a directory",
                        rel.display(),
                        at.strip_prefix(dest).unwrap_or(&at).display()
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn make_symlink(target: &Path, link: &Path) -> Result<()> {
    if let Some(parent) = link.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| Error::io(link, e))
}

#[cfg(not(unix))]
fn make_symlink(_: &Path, link: &Path) -> Result<()> {
    Err(Error::archive(
        link.display().to_string(),
        "symbolic links in packages are supported on Unix only",
    ))
}

/// Reads the manifest of a package without unpacking it to its final place (it is unpacked
/// into a temporary directory, so every safety check runs).
///
/// # Errors
/// As [`unpack`].
pub fn inspect(bytes: &[u8], limits: Limits, package: &str) -> Result<Manifest> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    unpack(bytes, tmp.path(), limits, package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_inside_and_outside() {
        assert!(link_stays_inside(
            Path::new("lib/a.so"),
            Path::new("a.so.1")
        ));
        assert!(link_stays_inside(Path::new("lib/a.so"), Path::new("../x")));
        assert!(!link_stays_inside(
            Path::new("lib/a.so"),
            Path::new("../../x")
        ));
        assert!(!link_stays_inside(Path::new("a"), Path::new("/etc/passwd")));
        assert!(safe_relative(Path::new("./a/b")).is_some());
        assert!(safe_relative(Path::new("a/../b")).is_none());
        assert!(safe_relative(Path::new("/a")).is_none());
    }
}
