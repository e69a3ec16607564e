//! The Plugboard runtime for native plugins: shared libraries behind the C ABI of
//! `sdk/c/plugboard.h`, loaded into the host process.
//!
//! ```no_run
//! use std::sync::Arc;
//! use plugboard_core::Host;
//! use plugboard_native::NativeRuntime;
//!
//! # async fn demo() -> Result<(), plugboard_core::Error> {
//! let host = Host::builder()
//!     .config_file("config.yaml")?
//!     .runtime(Arc::new(NativeRuntime::new()))
//!     .build()?;
//! host.start().await?;
//! let words = host.call("word-count", "count", b"one two three").await?;
//! # Ok(()) }
//! ```
//!
//! Native plugins are for trusted code that must be as fast as a function call: a call is an
//! indirect call through a C function pointer; the plugin writes its result straight into a
//! buffer the host allocated (through the host table's `reserve`), which becomes the host's
//! result without a copy. No executor, no serialization beyond what the plugin does itself.
//!
//! # What it answers
//! Rust dylib plugin systems hit the same walls again and again. This runtime answers each:
//! - **No stable Rust ABI.** Nothing Rust-specific crosses the boundary: only the C types of
//!   [`plugboard_native_abi`] (integers, `(pointer, length)` pairs, function pointers). A plugin
//!   built with another rustc, or written in C, works. Authors in Rust use `plugboard-pdk`.
//! - **Panics across `extern "C"`.** The pdk catches every panic at every entry point and
//!   returns it as a status with the message; the host's callbacks do the same in the other
//!   direction. A caught panic fails the call with [`CallError::Crashed`](plugboard_core::CallError)
//!   ("panicked: ...") and marks the plugin unhealthy. A segfault or `abort` in a plugin still
//!   ends the host: that is what the planned `isolation: process` mode is for, which is not
//!   available yet (a manifest asking for it is refused at `check` and load).
//! - **Unsound `dlclose`.** A library that registered thread-local destructors (every Rust
//!   library that touches a `thread_local!` with a destructor, and C++ `thread_local`s) leaves
//!   glibc holding pointers into its code; unmapping it crashes the process when a thread that
//!   used it exits. Whether a library did so cannot be known from outside. So this runtime
//!   never calls `dlclose`: it forgets the handle, and a retired library stays mapped for the
//!   rest of the process. That is a leak, on purpose, bounded by the size of the libraries
//!   that were ever loaded, and reported by [`NativeRuntime::memory`] and in the plugin's log.
//! - **Reload.** `dlopen` of a path (or file) that is already open returns the old library, and
//!   overwriting a mapped library in place crashes its callers. So every load opens a fresh
//!   copy of the entry, written to a directory of this process's own (mode 0700) under
//!   [`NativeRuntime::with_state_dir`]'s directory or the temporary directory: a new version
//!   gets its own mapping while calls to the old one finish on the old code. Copies of
//!   processes that no longer run are removed on the next load.
//! - **Tampering.** `integrity:` is checked on the bytes that are then copied and loaded, so
//!   the file cannot change between the check and `dlopen`.
//!
//! # Errors
//! A missing file, a wrong architecture (from the ELF header, before `dlopen`), a digest
//! mismatch, a library `dlopen` refuses (with what it said, and a hint when a dependency
//! library is missing), a missing `plugboard_plugin` symbol, a wrong ABI version, and a
//! descriptor that disagrees with the manifest each have their [`LoadError`], naming the plugin
//! and the file and saying what to do.
//!
//! # Threads
//! Hooks (`boot`, `start`, `stop`, `destroy`) run on tokio's blocking pool; `call` runs on the
//! caller's thread and returns a ready [`Reply`](plugboard_core::Reply), so a native call
//! costs no allocation beyond its result and no executor. Plugins must accept concurrent calls.
//!
//! `destroy` runs in `unload`, after `stop`, when the core no longer routes calls to the
//! plugin; a call that was already running on another thread at that moment would race with
//! it. The core's lifecycle does not produce that overlap today; a host that reloads plugins
//! must drain calls before unloading the old instance (the library itself stays mapped, so only
//! the plugin's own state is at stake).
// This crate is the host side of a C ABI: it opens libraries, calls through function pointers
// and reads what plugins hand over. Each unsafe block says why it is sound.
#![allow(unsafe_code)]
#![deny(missing_docs)]

mod check;
mod error;
mod host_table;
mod instance;
mod loader;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use plugboard_core::manifest::{LogLevel, RuntimeKind};
use plugboard_core::{Descriptor, HostApi, PluginInstance, Runtime, RuntimeError};

pub use error::LoadError;
/// The C ABI, in Rust (`sdk/c/plugboard.h`).
pub use plugboard_native_abi as abi;

use instance::{NativeInstance, Stats};
use loader::Copies;

/// The runtime for `runtime: native`.
///
/// Register it once per host with [`HostBuilder::runtime`](plugboard_core::HostBuilder::runtime).
/// Cheap to clone; clones share their copies directory and memory accounting.
#[derive(Debug, Clone)]
pub struct NativeRuntime {
    copies: Arc<Copies>,
    stats: Arc<Stats>,
}

/// What a [`NativeRuntime`] holds mapped, as [`NativeRuntime::memory`] reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Memory {
    /// Libraries loaded since the runtime was made (each load is its own copy).
    pub loaded_libraries: u64,
    /// Their total size in bytes.
    pub loaded_bytes: u64,
    /// Libraries whose plugin was unloaded, left mapped on purpose.
    pub retired_libraries: u64,
    /// What stays mapped for them: the library files plus the host tables they were given.
    pub retired_bytes: u64,
}

impl Default for NativeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl NativeRuntime {
    /// A runtime that keeps the copies it loads in the temporary directory.
    pub fn new() -> Self {
        Self::with_copies_dir(std::env::temp_dir())
    }

    /// A runtime that keeps the copies it loads under `<state_dir>/native`, beside the host's
    /// other state (give it the host's `state_dir`).
    pub fn with_state_dir(state_dir: impl AsRef<Path>) -> Self {
        Self::with_copies_dir(state_dir.as_ref().join("native"))
    }

    fn with_copies_dir(dir: PathBuf) -> Self {
        Self {
            copies: Arc::new(Copies::new(dir)),
            stats: Arc::new(Stats::default()),
        }
    }

    /// The directory under which this process's copies go.
    pub fn copies_dir(&self) -> &Path {
        self.copies.base()
    }

    /// What this runtime has loaded, and what it keeps mapped for unloaded plugins.
    pub fn memory(&self) -> Memory {
        let s = &self.stats;
        Memory {
            loaded_libraries: s.loaded_libraries.load(Ordering::Relaxed),
            loaded_bytes: s.loaded_bytes.load(Ordering::Relaxed),
            retired_libraries: s.retired_libraries.load(Ordering::Relaxed),
            retired_bytes: s.retired_bytes.load(Ordering::Relaxed),
        }
    }
}

#[async_trait]
impl Runtime for NativeRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Native
    }

    /// Checks that the entry exists, is a shared library for this machine (its ELF header)
    /// and matches `integrity:`, and that the manifest does not ask for `isolation: process`.
    fn check(&self, descriptor: &Descriptor) -> Result<(), RuntimeError> {
        check::check(descriptor).map_err(Into::into)
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        let copies = self.copies.clone();
        let d = descriptor.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let entry = check::entry_path(&d)?;
            let bytes = check::read_verified(&d, &entry)?;
            loader::open(&d, &entry, &bytes, &copies)
        })
        .await
        .map_err(|e| {
            RuntimeError::new(format!(
                "plugin {}: the thread loading its library failed: {e}",
                descriptor.id()
            ))
        })??;
        host.log(
            LogLevel::Debug,
            &format!(
                "loaded {} ({} bytes) from its copy {}",
                descriptor.manifest.entry,
                opened.bytes,
                opened.copy.display()
            ),
        );
        let table = host_table::leak(host.clone());
        Ok(Arc::new(NativeInstance::new(
            host,
            table,
            opened,
            self.stats.clone(),
        )))
    }
}

const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<NativeRuntime>();
    shared::<LoadError>();
};
