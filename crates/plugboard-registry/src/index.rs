//! `index.json`: the versions a registry directory offers.
//!
//! ```json
//! {
//!   "plugins": {
//!     "sample-plugin": {
//!       "1.0.0": { "file": "sample-plugin-1.0.0.tar.gz", "digest": "sha256:..." },
//!       "1.1.0": { "file": "sample-plugin-1.1.0.tar.gz", "digest": "sha256:..." }
//!     }
//!   }
//! }
//! ```
//!
//! `file` is relative to the index's URL (or absolute); the signature is that file with
//! `.minisig` appended. A version may instead (or as well) list packages per platform, keyed
//! `<os>-<arch>` as Rust names them; an install takes its own platform's package, else the
//! portable one:
//!
//! ```json
//! "2.0.0": {
//!   "platforms": {
//!     "linux-x86_64": { "file": "native-2.0.0-linux-x86_64.tar.gz", "digest": "sha256:..." },
//!     "macos-aarch64": { "file": "native-2.0.0-macos-aarch64.tar.gz", "digest": "sha256:..." }
//!   }
//! }
//! ```
//!
//! `plugboard publish --to DIR [--platform OS-ARCH]` writes the index.

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::Digest;

/// The index's file name.
pub const INDEX_FILE: &str = "index.json";

/// A package file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageFile {
    /// The package file, relative to the index (or an absolute URL).
    pub file: String,
    /// The package's digest.
    pub digest: Digest,
}

/// One published version: a portable package, packages per platform, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The package for every platform.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub any: Option<PackageFile>,
    /// Packages for one platform each, keyed `<os>-<arch>` (`linux-x86_64`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platforms: BTreeMap<String, PackageFile>,
}

impl IndexEntry {
    /// The package for `platform`, else the portable one.
    pub fn for_platform(&self, platform: &str) -> Option<&PackageFile> {
        self.platforms.get(platform).or(self.any.as_ref())
    }
}

pub(crate) use plugboard_manifest::current_platform;

/// A registry's index: plugin id, then version, then file and digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The plugins.
    #[serde(default)]
    pub plugins: BTreeMap<String, BTreeMap<Version, IndexEntry>>,
}

impl Index {
    /// Parses an index; `url` names it in errors.
    ///
    /// # Errors
    /// Malformed JSON, versions or digests.
    pub fn parse(bytes: &[u8], url: &str) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::Format {
            path: url.to_owned(),
            reason: format!("not a Plugboard index.json: {e}"),
        })
    }

    /// The newest version of `id` matching `req` (any version when `None`) that has a package
    /// for `platform`; pre-releases only when the requirement names one.
    pub fn newest(
        &self,
        id: &str,
        req: Option<&VersionReq>,
        platform: &str,
    ) -> Option<(&Version, &PackageFile)> {
        self.plugins
            .get(id)?
            .iter()
            .rev()
            .filter(|(v, _)| match req {
                Some(r) => r.matches(v),
                None => v.pre.is_empty(),
            })
            .find_map(|(v, e)| e.for_platform(platform).map(|f| (v, f)))
    }

    /// The versions offered for `id`, oldest first, for error messages.
    pub fn versions(&self, id: &str) -> Vec<String> {
        self.plugins
            .get(id)
            .map(|m| m.keys().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// Pretty JSON for writing.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The newest of `versions` matching `req`, as [`Index::newest`] chooses.
pub fn newest_matching<'a>(
    versions: impl IntoIterator<Item = &'a Version>,
    req: Option<&VersionReq>,
) -> Option<&'a Version> {
    versions
        .into_iter()
        .filter(|v| match req {
            Some(r) => r.matches(v),
            None => v.pre.is_empty(),
        })
        .max()
}
