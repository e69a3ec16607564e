//! The registry's error type: each variant names the file, URL, plugin or key it concerns and
//! says what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while packing, fetching, verifying or installing a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A package is not a well-formed, safe plugin archive.
    #[error("{package}: {reason}")]
    Archive {
        /// The package (file name or URL).
        package: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A plugin directory or package has an invalid or missing `plugin.yaml`.
    #[error("{package}: invalid plugin.yaml:\n{errors}")]
    Manifest {
        /// The package or directory.
        package: String,
        /// Every problem found.
        errors: plugboard_manifest::ManifestErrors,
    },
    /// The bytes downloaded are not the bytes expected.
    #[error(
        "{package}: digest mismatch: expected {expected}, got {actual}; the package was changed \
         after it was locked or published. Nothing was installed. If the change is intended, run \
         `plugboard update {id}`"
    )]
    DigestMismatch {
        /// The plugin id.
        id: String,
        /// The package (URL or file).
        package: String,
        /// The digest the lockfile or index records.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A signature is missing, malformed, made by an untrusted key, or does not match.
    #[error("{package}: {reason}")]
    Signature {
        /// The package (URL or file).
        package: String,
        /// What is wrong, naming the key id where there is one, and what to do.
        reason: String,
    },
    /// A secret or public key could not be read or used.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A download failed.
    #[error("{url}: {reason}")]
    Http {
        /// The URL tried.
        url: String,
        /// What happened, and from which template the URL came.
        reason: String,
    },
    /// An OCI registry refused or failed a request.
    #[error("{reference}: {reason}")]
    Oci {
        /// The OCI reference (`host/repo:tag`).
        reference: String,
        /// What happened.
        reason: String,
    },
    /// No version of a plugin satisfies what is asked for.
    #[error("{id}: {reason}")]
    Resolve {
        /// The plugin id.
        id: String,
        /// What was asked for and what the source offers.
        reason: String,
    },
    /// The configuration does not allow what was asked (no registry, no external directory,
    /// offline without a lock entry, ...).
    #[error("{0}")]
    Config(String),
    /// The lockfile or an index could not be parsed.
    #[error("{}: {reason}", path)]
    Format {
        /// The file or URL.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn archive(package: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Archive {
            package: package.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn signature(package: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Signature {
            package: package.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn http(url: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Http {
            url: url.into(),
            reason: reason.into(),
        }
    }
}

/// The registry's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
