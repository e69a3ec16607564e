//! The plugin author's kit for Rust: write a native plugin as an ordinary Rust type, export it
//! behind Plugboard's C ABI with one macro.
//!
//! ```
//! use std::fmt::Write;
//! use plugboard_pdk::{Boot, Error, NativePlugin, Output};
//!
//! struct Greeter {
//!     greeting: String,
//! }
//!
//! impl NativePlugin for Greeter {
//!     fn boot(boot: &mut Boot) -> Result<Self, Error> {
//!         boot.host().info("booting");
//!         Ok(Greeter { greeting: "hello".to_owned() })
//!     }
//!
//!     fn call(&self, method: &str, payload: &[u8], out: &mut Output<'_>) -> Result<(), Error> {
//!         match method {
//!             "greet" => {
//!                 let name = String::from_utf8_lossy(payload);
//!                 write!(out, "{}, {name}", self.greeting).map_err(|_| Error::new("write"))
//!             }
//!             _ => Err(Error::unknown_method(&["greet"])),
//!         }
//!     }
//! }
//!
//! // In a crate with `crate-type = ["cdylib"]`:
//! plugboard_pdk::export_native!(Greeter, id = "greeter");
//! ```
//!
//! Build the crate (`cargo build --release`), put `lib<name>.so` in a plugin directory next to
//! a `plugin.yaml` with `runtime: native` and `entry: lib<name>.so`, and the host loads it.
//!
//! # Why a C ABI
//! Rust has no stable ABI: a trait object built by one rustc cannot be called safely by code
//! built with another. So nothing Rust-specific crosses the boundary: the macro generates
//! `extern "C"` functions and a descriptor made of integers, `(pointer, length)` pairs and
//! function pointers (the types of [`abi`], which mirror `sdk/c/plugboard.h`). A plugin built
//! with any rustc, or written in C, works with any host that speaks the same ABI version.
//!
//! # Panics
//! A panic that unwinds across `extern "C"` is undefined behaviour (at best an abort of the
//! host). Every generated entry point runs the author's code under `catch_unwind`; a panic
//! becomes an error result carrying the panic message, and the host marks the plugin unhealthy.
//! Build plugins with `panic = "unwind"` (the default): with `panic = "abort"` there is nothing
//! to catch and a panic ends the host process.
//!
//! # Threads
//! The host calls [`NativePlugin::call`] from many threads at once, hence `Send + Sync`. Hooks
//! run on a blocking thread and may block. [`Host`] is `Copy` and valid for the life of the
//! process: keep it in your type, hand it to threads of your own.
// The pdk is where a Rust plugin meets the C ABI: it must dereference the pointers the host
// passes and hand out raw buffers. Each unsafe block says why it is sound.
#![allow(unsafe_code)]
#![deny(missing_docs)]

mod export;
mod host;
mod output;
#[cfg(feature = "process")]
pub mod process;

pub use host::{Health, Host, HostError, Level};
pub use output::Output;
/// The C ABI declarations this kit implements (`sdk/c/plugboard.h`, in Rust).
pub use plugboard_native_abi as abi;

use std::fmt;

/// What a Rust author implements to make a native plugin.
///
/// The value returned by [`NativePlugin::boot`] is the instance: the host keeps it until the
/// plugin is stopped and destroyed.
pub trait NativePlugin: Send + Sync + Sized + 'static {
    /// Creates the instance from the validated configuration. May adjust the configuration
    /// through [`Boot::set_config`]; the host validates it again.
    ///
    /// # Errors
    /// A message for the operator; the plugin is marked failed.
    fn boot(boot: &mut Boot) -> Result<Self, Error>;

    /// Begins work (after `boot`, before the first call).
    ///
    /// # Errors
    /// A message for the operator; the plugin is marked failed.
    fn start(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Ends work: release what `start` took.
    ///
    /// # Errors
    /// A message for the operator.
    fn stop(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Handles a call: `method` with `payload`, writing the result bytes to `out`. Runs on the
    /// caller's thread, possibly on many threads at once.
    ///
    /// `out` is the host's own buffer: what is written there becomes the host's result without
    /// a copy, which is why this is not `-> Vec<u8>` (a `Vec` made here would be copied into
    /// the host's allocator and freed, doubling the cost of a small call). Code that has a
    /// `Vec` writes it with `out.extend_from_slice(&v)`. On an error, what was written is
    /// discarded and the error's message sent instead.
    ///
    /// # Errors
    /// [`Error::unknown_method`] for a method the plugin does not have, or any other error.
    fn call(&self, method: &str, payload: &[u8], out: &mut Output<'_>) -> Result<(), Error>;

    /// Exports the instance's state for its next version on a hot reload, when the manifest
    /// says `reload: { handoff: true }`. The host calls it once no call is in flight and
    /// before `stop`; the next version receives the bytes in
    /// [`import_state`](Self::import_state), after its `boot` and before its `start`.
    ///
    /// # Errors
    /// The host keeps the running version and refuses the update. The default refuses: a
    /// plugin that sets `handoff` implements both hooks.
    fn export_state(&self) -> Result<Vec<u8>, Error> {
        Err(Error::new(
            "the plugin sets `reload: { handoff: true }` but does not implement NativePlugin::export_state",
        ))
    }

    /// Receives the state the previous version exported (see
    /// [`export_state`](Self::export_state)).
    ///
    /// # Errors
    /// The host abandons this version and the previous one resumes.
    fn import_state(&self, state: &[u8]) -> Result<(), Error> {
        let _ = state;
        Err(Error::new(
            "the plugin sets `reload: { handoff: true }` but does not implement NativePlugin::import_state",
        ))
    }
}

/// The method the host calls to export a plugin's state on a hot reload (the core's
/// `EXPORT_STATE_METHOD`); the pdk routes it to `export_state`.
pub const EXPORT_STATE_METHOD: &str = "plugboard.export_state";

/// The method the host calls to give a new version its predecessor's state (the core's
/// `IMPORT_STATE_METHOD`); the pdk routes it to `import_state`.
pub const IMPORT_STATE_METHOD: &str = "plugboard.import_state";

/// What [`NativePlugin::boot`] receives: the host and the plugin's configuration.
#[derive(Debug)]
pub struct Boot {
    host: Host,
    config: String,
    adjusted: Option<String>,
}

impl Boot {
    /// The host, to keep for later use.
    pub fn host(&self) -> Host {
        self.host
    }

    /// The validated configuration as JSON text, with schema defaults applied.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// Replaces the configuration with `json`; the host validates it again after `boot`.
    pub fn set_config(&mut self, json: impl Into<String>) {
        self.adjusted = Some(json.into());
    }
}

/// Why a hook or a call failed. The message reaches the operator, so say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

impl Error {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            status: abi::STATUS_ERROR,
            message: message.into(),
        }
    }

    /// The plugin has no such method; `known` lists the methods it has, which the host shows
    /// the caller.
    pub fn unknown_method(known: &[&str]) -> Self {
        Self {
            status: abi::STATUS_NOT_FOUND,
            message: known.join(","),
        }
    }

    /// The caller is not allowed to do this.
    pub fn denied(message: impl Into<String>) -> Self {
        Self {
            status: abi::STATUS_DENIED,
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status the error crosses the C ABI with ([`abi::STATUS_ERROR`],
    /// [`abi::STATUS_NOT_FOUND`] or [`abi::STATUS_DENIED`]).
    pub fn status(&self) -> i32 {
        self.status
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status == abi::STATUS_NOT_FOUND {
            write!(f, "no such method; the plugin has: {}", self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<HostError> for Error {
    fn from(e: HostError) -> Self {
        Self::new(e.to_string())
    }
}

/// Exports a [`NativePlugin`] as a Plugboard native plugin: generates the `plugboard_plugin`
/// symbol and the `extern "C"` functions of the C ABI, each catching panics.
///
/// `id` must equal the manifest's `id`; `version` defaults to the crate's version and must
/// equal the manifest's `version`. Use it once per `cdylib`.
///
/// ```no_run
/// use plugboard_pdk::{Boot, Error, NativePlugin, Output};
///
/// struct WordCount;
///
/// impl NativePlugin for WordCount {
///     fn boot(_boot: &mut Boot) -> Result<Self, Error> {
///         Ok(WordCount)
///     }
///     fn call(&self, _method: &str, payload: &[u8], out: &mut Output<'_>) -> Result<(), Error> {
///         let words = String::from_utf8_lossy(payload).split_whitespace().count();
///         out.extend_from_slice(words.to_string().as_bytes());
///         Ok(())
///     }
/// }
///
/// // Or, to pin the version: `export_native!(WordCount, id = "word-count", version = "1.2.0");`
/// plugboard_pdk::export_native!(WordCount, id = "word-count");
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_native {
    ($plugin:ty, id = $id:expr) => {
        $crate::export_native!($plugin, id = $id, version = env!("CARGO_PKG_VERSION"));
    };
    ($plugin:ty, id = $id:expr, version = $version:expr) => {
        // The symbol the host looks up; exporting it is the one unsafe act of a plugin crate,
        // and the kit vouches for what it points to.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn plugboard_plugin() -> *const $crate::abi::PluginDescriptor {
            static DESCRIPTOR: $crate::__private::StaticDescriptor =
                $crate::__private::descriptor::<$plugin>($id, $version);
            DESCRIPTOR.as_ptr()
        }
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{descriptor, StaticDescriptor};
}

pub(crate) fn new_boot(host: Host, config: String) -> Boot {
    Boot {
        host,
        config,
        adjusted: None,
    }
}

pub(crate) fn adjusted(boot: Boot) -> Option<String> {
    boot.adjusted
}

pub(crate) fn status_of(e: &Error) -> i32 {
    e.status
}

#[cfg(test)]
mod tests;
