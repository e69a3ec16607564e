//! `plugboard.lock`: what was installed, from where, with which bytes and which key.
//!
//! The file sits beside `config.yaml`. An install that finds a plugin in it fetches that exact
//! source and accepts only bytes with that digest, so a second machine gets what the first
//! one got, or an error. It is JSON, one entry per plugin sorted by id, so diffs stay small.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::Digest;

/// The lockfile's name.
pub const LOCKFILE: &str = "plugboard.lock";

/// The format version written in the file.
const FORMAT: u32 = 1;

/// One locked plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    /// The installed version.
    pub version: Version,
    /// Where the package came from: a URL (`https://`, `http://`, `oci://`, `file://`), the
    /// concrete one when the source's `latest` redirected.
    pub source: String,
    /// The configured source it was installed from: `registry` or a name in `sources:`;
    /// absent for a package file installed directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The sha256 digest of the package's bytes.
    pub digest: Digest,
    /// The id of the key whose signature was verified; absent for an unsigned package
    /// accepted through `allow_unsigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The lockfile's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lockfile {
    /// The locked plugins, by id.
    pub plugins: BTreeMap<String, LockedPlugin>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    #[serde(default)]
    plugins: BTreeMap<String, LockedPlugin>,
}

impl Lockfile {
    /// The lockfile's path for a configuration file.
    pub fn path_for(config: &Path) -> PathBuf {
        config.parent().unwrap_or(Path::new(".")).join(LOCKFILE)
    }

    /// Reads a lockfile; a missing file is an empty lockfile.
    ///
    /// # Errors
    /// An unreadable or malformed file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a lockfile's text.
    ///
    /// # Errors
    /// Malformed JSON or an unknown format version.
    pub fn parse(text: &str, name: &str) -> Result<Self> {
        let disk: OnDisk = serde_json::from_str(text).map_err(|e| Error::Format {
            path: name.to_owned(),
            reason: format!("{e}; delete the file and run `plugboard install` to write it again"),
        })?;
        if disk.version != FORMAT {
            return Err(Error::Format {
                path: name.to_owned(),
                reason: format!(
                    "lockfile format {} is not supported (this plugboard writes {FORMAT}); upgrade plugboard",
                    disk.version
                ),
            });
        }
        Ok(Self {
            plugins: disk.plugins,
        })
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let disk = OnDisk {
            version: FORMAT,
            plugins: self.plugins.clone(),
        };
        let mut text = serde_json::to_string_pretty(&disk).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the lockfile atomically (a temporary file renamed over it).
    ///
    /// # Errors
    /// The directory is not writable.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
        std::io::Write::write_all(&mut tmp, self.to_text().as_bytes())
            .map_err(|e| Error::io(path, e))?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut lock = Lockfile::default();
        lock.plugins.insert(
            "a".into(),
            LockedPlugin {
                version: Version::new(1, 2, 3),
                source: "https://example.com/a-1.2.3.tar.gz".into(),
                source_name: Some("registry".into()),
                digest: Digest::of(b"x"),
                key: Some("0011223344556677".into()),
            },
        );
        let text = lock.to_text();
        assert_eq!(Lockfile::parse(&text, "plugboard.lock").unwrap(), lock);
        assert!(Lockfile::parse("{\"version\": 9}", "l").is_err());
    }
}
