//! Opening a Plugboard native plugin, without a host around it.
//!
//! This crate is the one loader of native plugins. The in-process runtime (`plugboard-native`)
//! and the isolation shim (`plugboard-native-shim`, which runs a library in a process of its own
//! for `native: { isolation: process }`) both open libraries through it, so both check the same
//! things and say the same things when a check fails. It depends on no part of the host: the
//! host's services reach the library through the [`HostServices`] trait, which each side backs
//! with what it has (the core's `HostApi` in process, the process protocol's host API in the
//! shim).
//!
//! ```no_run
//! use plugboard_native_loader::{Copies, Library, LibrarySpec};
//! # fn demo(services: Box<dyn plugboard_native_loader::HostServices>) -> Result<(), Box<dyn std::error::Error>> {
//! let spec = LibrarySpec::new("word-count", "1.0.0", "plugins/word-count/libword_count.so");
//! let copies = Copies::new(std::env::temp_dir());
//! let library = Library::load(&spec, &copies)?;
//! let table = plugboard_native_loader::leak_host_table(services);
//! let (plugin, _adjusted_config) = library.boot(table, b"{}").map_err(|f| f.message)?;
//! let words = plugin.call("count", b"\"one two\"").map_err(|f| f.message)?;
//! # Ok(()) }
//! ```
//!
//! What it does, in order:
//! - [`LibrarySpec::check`] and [`LibrarySpec::read_verified`]: the file exists, its ELF header
//!   is a shared library for this machine, its digest matches `integrity:`;
//! - [`Library::open`]: the verified bytes are copied to a private directory ([`Copies`]) and
//!   the copy is opened (`RTLD_NOW | RTLD_LOCAL`), never closed; the `plugboard_plugin`
//!   descriptor is read and checked (ABI version, id and version, required functions);
//! - [`Library::boot`], [`Plugin::call`], [`Plugin::start`], [`Plugin::stop`] and
//!   [`Plugin::destroy`] call through the descriptor's function pointers, with the result
//!   buffers allocated by the host ([`leak_host_table`]).
// This crate is the host side of a C ABI: it opens libraries, calls through function pointers
// and reads what plugins hand over. Each unsafe block says why it is sound.
#![allow(unsafe_code)]
#![deny(missing_docs)]

mod check;
mod error;
mod host_table;
mod library;

use std::path::{Path, PathBuf};

pub use error::LoadError;
pub use host_table::{leak_host_table, Failure, HostServices, LEAKED_BYTES};
pub use library::{Copies, Library, Plugin};
/// The C ABI, in Rust (`sdk/c/plugboard.h`).
pub use plugboard_native_abi as abi;

/// Which library to open, and what it must be: the plugin's id and version as its manifest
/// says, and the digest `integrity:` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrarySpec {
    /// The plugin's id; the descriptor must say the same.
    pub plugin: String,
    /// The plugin's version; the descriptor must say the same.
    pub version: String,
    /// The library file (the manifest's `entry:` in the plugin directory).
    pub path: PathBuf,
    /// The lowercase hex SHA-256 the file must have (`integrity:`), if any.
    pub sha256: Option<String>,
}

impl LibrarySpec {
    /// A library `path` for plugin `plugin` at `version`, with no digest to match.
    pub fn new(
        plugin: impl Into<String>,
        version: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            version: version.into(),
            path: path.into(),
            sha256: None,
        }
    }

    /// Requires the file's SHA-256 (lowercase hex) to be `sha256`.
    pub fn with_sha256(mut self, sha256: impl Into<String>) -> Self {
        self.sha256 = Some(sha256.into());
        self
    }

    /// The cheap check, for listing and validating: the file exists, its ELF header is a shared
    /// library for this machine, and its digest matches (the file is read only when a digest is
    /// asked for).
    ///
    /// # Errors
    /// [`LoadError::Missing`], [`LoadError::Io`], [`LoadError::Format`] or
    /// [`LoadError::Integrity`].
    pub fn check(&self) -> Result<(), LoadError> {
        check::check(self)
    }

    /// Reads the whole file, checks its header and digest, and returns its bytes: the bytes that
    /// were checked are the bytes [`Library::open`] loads.
    ///
    /// # Errors
    /// As for [`check`](Self::check).
    pub fn read_verified(&self) -> Result<Vec<u8>, LoadError> {
        check::read_verified(self)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<LoadError>();
    shared::<Library>();
    shared::<Plugin>();
    shared::<Copies>();
};
