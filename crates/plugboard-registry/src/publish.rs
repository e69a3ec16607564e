//! Publishing: a package (and its signature) into a registry directory with an `index.json`,
//! or to an OCI registry; and checking a package file as `plugboard verify` does.

use std::fs;
use std::path::{Path, PathBuf};

use plugboard_manifest::Manifest;

use crate::archive::{self, Format, Limits};
use crate::auth::Login;
use crate::error::{Error, Result};
use crate::index::{Index, PackageFile, INDEX_FILE};
use crate::oci::Oci;
use crate::signature::{KeyRing, Verified};
use crate::Digest;

/// A package read into memory with its manifest.
#[derive(Debug, Clone)]
pub struct Package {
    /// The package bytes (`.tar.gz` or `.tar.zst`).
    pub bytes: Vec<u8>,
    /// Their compression, from their magic bytes.
    pub format: Format,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its digest.
    pub digest: Digest,
}

impl Package {
    /// Reads a package file, checking it as an install would (every safety check of unpacking).
    ///
    /// # Errors
    /// An unreadable file or an unsafe or invalid package.
    pub fn read(path: &Path, limits: Limits) -> Result<Self> {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes, &path.display().to_string(), limits)
    }

    /// A package from its bytes; `name` names it in messages.
    ///
    /// # Errors
    /// An unsafe or invalid package.
    pub fn from_bytes(bytes: Vec<u8>, name: &str, limits: Limits) -> Result<Self> {
        let manifest = archive::inspect(&bytes, limits, name)?;
        Ok(Self {
            format: Format::detect(&bytes).unwrap_or_default(),
            digest: Digest::of(&bytes),
            bytes,
            manifest,
        })
    }

    /// The conventional file name, `<id>-<version>.tar.gz` (or `.tar.zst`).
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.{}",
            self.manifest.id,
            self.manifest.version,
            self.format.extension()
        )
    }

    /// Checks `signature` against `keys`, and that it names this plugin and version.
    ///
    /// # Errors
    /// As [`KeyRing::verify`] and [`Verified::check_names`].
    pub fn verify(&self, signature: &str, keys: &KeyRing, name: &str) -> Result<Verified> {
        let v = keys.verify(&self.bytes, signature, name)?;
        v.check_names(
            self.manifest.id.as_str(),
            &self.manifest.version.to_string(),
            name,
        )?;
        Ok(v)
    }
}

/// Writes `package` (and `signature`) into the registry directory `dir` and adds it to the
/// directory's `index.json`, as the package for every platform, or for `platform` only
/// (`linux-x86_64`). Returns the package's path. Serve `dir` over HTTP (a release's
/// assets, a static site) and point `registry.url` at it.
///
/// # Errors
/// The directory or index cannot be written, or the index already lists this version with
/// other bytes.
pub fn publish_to_dir(
    package: &Package,
    signature: Option<&str>,
    dir: &Path,
    platform: Option<&str>,
) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let index_path = dir.join(INDEX_FILE);
    let mut index = match fs::read(&index_path) {
        Ok(b) => Index::parse(&b, &index_path.display().to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
        Err(e) => return Err(Error::io(&index_path, e)),
    };
    let id = package.manifest.id.to_string();
    let version = package.manifest.version.clone();
    let existing = index
        .plugins
        .get(&id)
        .and_then(|m| m.get(&version))
        .and_then(|e| match platform {
            Some(p) => e.platforms.get(p),
            None => e.any.as_ref(),
        });
    if let Some(existing) = existing {
        if existing.digest != package.digest {
            return Err(Error::Config(format!(
                "{}: {id} {version}{} is already published with digest {}; a published version \
                 never changes: bump the version in plugin.yaml",
                index_path.display(),
                platform.map(|p| format!(" for {p}")).unwrap_or_default(),
                existing.digest
            )));
        }
    }
    let file = match platform {
        Some(p) => format!(
            "{}-{}-{p}.{}",
            package.manifest.id,
            package.manifest.version,
            package.format.extension()
        ),
        None => package.file_name(),
    };
    let path = dir.join(&file);
    fs::write(&path, &package.bytes).map_err(|e| Error::io(&path, e))?;
    let sig_path = dir.join(format!("{file}.minisig"));
    match signature {
        Some(sig) => fs::write(&sig_path, sig).map_err(|e| Error::io(&sig_path, e))?,
        None => {
            let _ = fs::remove_file(&sig_path);
        }
    }
    let entry = index
        .plugins
        .entry(id)
        .or_default()
        .entry(version)
        .or_default();
    let published = PackageFile {
        file,
        digest: package.digest,
    };
    match platform {
        Some(p) => {
            entry.platforms.insert(p.to_owned(), published);
        }
        None => entry.any = Some(published),
    }
    fs::write(&index_path, index.to_text()).map_err(|e| Error::io(&index_path, e))?;
    Ok(path)
}

/// Pushes `package` (and `signature`) to an OCI registry at `reference`
/// (`oci://host[:port]/repository:tag`; without a tag, the version is the tag), logged in
/// with `login`. Returns the manifest URL.
///
/// # Errors
/// Not an `oci://` reference, or the registry refused the push (the error names the registry
/// and where the credentials came from).
pub async fn publish_to_oci(
    package: &Package,
    signature: Option<&str>,
    reference: &str,
    login: &Login,
) -> Result<String> {
    let rest = reference
        .strip_prefix("oci://")
        .ok_or_else(|| Error::Config(format!("{reference}: not an oci:// reference")))?;
    let id = package.manifest.id.to_string();
    let version = &package.manifest.version;
    let rest = rest
        .replace("{plugin}", &id)
        .replace("{version}", &version.to_string());
    let full = match crate::source::split_tag(&rest) {
        (_, Some(_)) => rest,
        (repo, None) => format!("{repo}:{version}"),
    };
    Oci::default()
        .push(&full, &package.bytes, signature, &id, version, login)
        .await
}
