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
//!   ("panicked: ...") and marks the plugin unhealthy. A segfault or `abort` in a plugin loaded
//!   in process still ends the host: that is what `isolation: process` is for (below).
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
//! # Isolation
//! With the `isolation` feature, a manifest that says
//!
//! ```yaml
//! native:
//!   isolation: process
//! ```
//!
//! runs the same library in `plugboard-native-shim`, a small program that opens it with the same
//! loader (`plugboard-native-loader`: the same checks, the same errors) and serves it over the
//! process runtime's protocol (go-plugin gRPC, with the host API through the broker). The
//! runtime checks the library (ELF header, `integrity:`) in the host first, then asks the
//! process runtime to run the shim for the plugin
//! (`plugboard_process::ProcessRuntime::load_program`), so its
//! spawn, handshake, call timeouts, restart policy (`process.restart` in the same manifest, or
//! the default: on failure, at most 5 times a minute) and OS sandbox apply unchanged. A
//! segfault, `abort` or `exit` in the plugin ends only the shim: the call in flight fails with
//! [`CallError::Crashed`](plugboard_core::CallError) naming the signal or status, and the
//! supervisor starts the shim again and replays `boot` and `start`. Calls, hooks, the host
//! table and the state hand-off methods behave as in process; what differs:
//! - a call costs a gRPC round trip (tens of microseconds, see BENCHMARKS.md) instead of
//!   nanoseconds, and memory the plugin keeps is lost when its process restarts;
//! - a caught panic fails the call with a plain error whose message says "panicked: ..." (the
//!   process protocol has no separate panic code), and marks the plugin unhealthy as in
//!   process;
//! - storage keys must be UTF-8 (the process host API's keys are strings);
//! - `destroy` runs when the host shuts the shim down after `stop`.
//!
//! The shim is found, in order: [`NativeRuntime::with_shim`], the `PLUGBOARD_NATIVE_SHIM`
//! environment variable, beside the current executable, then `PATH`; when it is missing, the
//! plugin fails with [`LoadError::ShimNotFound`], which lists where it looked and how to fix
//! it. Without the feature, such a manifest is refused with
//! [`LoadError::IsolationUnavailable`].
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
// This crate calls through the loader's function pointers and hands it a leaked host table.
// Each unsafe block says why it is sound.
#![allow(unsafe_code)]
#![deny(missing_docs)]

mod host_table;
mod instance;
#[cfg(feature = "isolation")]
mod isolation;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use plugboard_core::manifest::{LogLevel, NativeIsolation, RuntimeKind};
use plugboard_core::{Descriptor, HostApi, PluginInstance, Runtime, RuntimeError};
use plugboard_native_loader::{leak_host_table, Copies, Library, LibrarySpec};

#[cfg(feature = "isolation")]
pub use isolation::{ENV_SHIM, SHIM_NAME};
/// The C ABI, in Rust (`sdk/c/plugboard.h`).
pub use plugboard_native_loader::abi;
pub use plugboard_native_loader::LoadError;

use instance::{NativeInstance, Stats};

/// The runtime for `runtime: native`.
///
/// Register it once per host with [`HostBuilder::runtime`](plugboard_core::HostBuilder::runtime).
/// Cheap to clone; clones share their copies directory and memory accounting.
#[derive(Debug, Clone)]
pub struct NativeRuntime {
    copies: Arc<Copies>,
    stats: Arc<Stats>,
    #[cfg(feature = "isolation")]
    isolation: isolation::Isolation,
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
            #[cfg(feature = "isolation")]
            isolation: isolation::Isolation::default(),
        }
    }

    /// The directory under which this process's copies go.
    pub fn copies_dir(&self) -> &Path {
        self.copies.base()
    }

    /// What this runtime has loaded in process, and what it keeps mapped for unloaded plugins.
    /// Plugins under `isolation: process` map nothing here.
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

/// Which library a descriptor names, and what it must be.
fn library_spec(descriptor: &Descriptor) -> Result<LibrarySpec, LoadError> {
    let plugin = descriptor.id().to_string();
    let dir = descriptor.dir.as_ref().ok_or(LoadError::NoDirectory {
        plugin: plugin.clone(),
    })?;
    let mut spec = LibrarySpec::new(
        plugin,
        descriptor.version().to_string(),
        dir.join(&descriptor.manifest.entry),
    );
    spec.sha256 = descriptor
        .manifest
        .integrity
        .as_ref()
        .map(|i| i.sha256_hex().to_owned());
    Ok(spec)
}

/// Whether the manifest asks for `native: { isolation: process }`.
fn isolated(descriptor: &Descriptor) -> bool {
    descriptor
        .manifest
        .native
        .as_ref()
        .is_some_and(|n| n.isolation == NativeIsolation::Process)
}

fn runtime_error(e: LoadError) -> RuntimeError {
    RuntimeError::new(e.to_string())
}

#[async_trait]
impl Runtime for NativeRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Native
    }

    /// Checks that the entry exists, is a shared library for this machine (its ELF header)
    /// and matches `integrity:`; under `isolation: process`, also that the shim program is
    /// found.
    fn check(&self, descriptor: &Descriptor) -> Result<(), RuntimeError> {
        library_spec(descriptor)
            .and_then(|spec| spec.check())
            .map_err(runtime_error)?;
        if isolated(descriptor) {
            self.check_isolation(descriptor).map_err(runtime_error)?;
        }
        Ok(())
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        if isolated(&descriptor) {
            return self.load_isolated(descriptor, host).await;
        }
        let copies = self.copies.clone();
        let d = descriptor.clone();
        let library = tokio::task::spawn_blocking(move || {
            let spec = library_spec(&d)?;
            let bytes = spec.read_verified()?;
            Library::open(&spec, &bytes, &copies)
        })
        .await
        .map_err(|e| {
            RuntimeError::new(format!(
                "plugin {}: the thread loading its library failed: {e}",
                descriptor.id()
            ))
        })?
        .map_err(runtime_error)?;
        host.log(
            LogLevel::Debug,
            &format!(
                "loaded {} ({} bytes) from its copy {}",
                descriptor.manifest.entry,
                library.size(),
                library.copy().display()
            ),
        );
        let table = leak_host_table(Box::new(host_table::InProcess { api: host.clone() }));
        Ok(Arc::new(NativeInstance::new(
            host,
            table,
            library,
            self.stats.clone(),
        )))
    }
}

#[cfg(not(feature = "isolation"))]
impl NativeRuntime {
    fn check_isolation(&self, descriptor: &Descriptor) -> Result<(), LoadError> {
        Err(LoadError::IsolationUnavailable {
            plugin: descriptor.id().to_string(),
        })
    }

    async fn load_isolated(
        &self,
        descriptor: Arc<Descriptor>,
        _host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        Err(runtime_error(LoadError::IsolationUnavailable {
            plugin: descriptor.id().to_string(),
        }))
    }
}

const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<NativeRuntime>();
    shared::<LoadError>();
};
