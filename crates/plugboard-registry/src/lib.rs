//! Where Plugboard plugins come from beyond the local directories: packages, URL templates over
//! HTTP(S), OCI registries and local files, with digests, signatures, a lockfile and safe
//! extraction.
//!
//! ```no_run
//! use plugboard_manifest::HostConfig;
//! use plugboard_registry::{InstallOptions, Installer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::path::Path::new("config.yaml");
//! let config = HostConfig::from_yaml_str(&std::fs::read_to_string(path)?, "config.yaml")?;
//! let mut installer = Installer::new(path, &config, InstallOptions::default())?;
//! let wants = installer.listed();
//! let report = installer.install(wants).await?;
//! for p in &report.installed {
//!     println!("installed {} {} ({})", p.id, p.version, p.digest);
//! }
//! # Ok(()) }
//! ```
//!
//! # Core concepts
//! - A **package** is a plugin directory packed as a reproducible `.tar.gz` or `.tar.zst`
//!   ([`Format`]) with `plugin.yaml` at its root ([`pack_dir_as`]); it is read back under
//!   [`Limits`] by [`unpack`], which tells the formats apart by their magic bytes and refuses
//!   anything that could write outside its destination. Its manifest may hold an entry per
//!   platform (`platforms:`); an install checks that the host's platform has one.
//! - A **source** is `registry:` or a named entry of `sources:` in `config.yaml`, a URL
//!   template ([`Template`]): HTTP(S) or `file://` directories with an [`Index`]
//!   (`index.json`) or a redirect for "latest", package URL templates, or OCI repositories,
//!   logged into with a [`Login`] (the source's `auth:` or Docker's `config.json`).
//! - **Integrity**: every package is checked against a sha256 [`Digest`] from the index or the
//!   [`Lockfile`] (`plugboard.lock`), and its minisign signature against the trusted keys
//!   ([`KeyRing`]) unless the source allows unsigned packages.
//! - The [`Installer`] puts it together: resolution, parallel downloads, a local cache,
//!   dependencies, all-or-nothing installs, offline mode.
#![deny(missing_docs)]

mod archive;
mod auth;
mod digest;
mod error;
mod fetch;
mod index;
mod install;
mod lockfile;
mod oci;
mod publish;
mod resolve;
mod signature;
mod source;

pub use archive::{inspect, pack_dir, pack_dir_as, unpack, Format, Limits, MANIFEST_FILE};
pub use auth::Login;
pub use digest::{Digest, InvalidDigest};
pub use error::{Error, Result};
pub use fetch::{FetchOptions, Progress};
pub use index::{newest_matching, Index, IndexEntry, PackageFile, INDEX_FILE};
pub use install::{InstallOptions, Installed, Installer, Report, Want};
pub use lockfile::{LockedPlugin, Lockfile, LOCKFILE};
pub use oci::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, PACKAGE_MEDIA_TYPE, PACKAGE_ZSTD_MEDIA_TYPE,
    SIGNATURE_MEDIA_TYPE,
};
pub use plugboard_manifest::current_platform;
pub use publish::{publish_to_dir, publish_to_oci, Package};
pub use signature::{
    generate_keypair, trusted_comment, KeyId, KeyRing, PublicKey, SecretKey, Verified,
};
pub use source::{Scheme, Template};

// Installs run on a multi-threaded runtime and errors cross threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Installer>();
    assert_send_sync::<Error>();
};
