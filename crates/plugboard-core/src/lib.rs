//! The Plugboard host: discovery, dependency resolution, the lifecycle, extension points,
//! events, services and the host API, and the [`Runtime`] trait that runtimes implement.
//!
//! The core knows manifests, states, dependencies, extension points and the host API, and
//! nothing of how a plugin runs: each runtime (WebAssembly, process, native) is its own crate
//! behind [`Runtime`]. The builtin runtime, for Rust plugins compiled into the application,
//! lives here.
//!
//! ```
//! use plugboard_core::{BuiltinPlugin, CallError, Host};
//! use plugboard_manifest::Manifest;
//!
//! struct Greeter;
//! impl BuiltinPlugin for Greeter {
//!     fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
//!         match method {
//!             "greet" => Ok([b"hello, ".as_slice(), payload].concat()),
//!             _ => Err(CallError::plugin("greeter", format!("no method {method}"))),
//!         }
//!     }
//! }
//!
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let state = tempfile::tempdir().unwrap();
//! let manifest = Manifest::from_yaml_str(
//!     "id: greeter\nversion: 1.0.0\nruntime: builtin\nentry: greeter\n", "inline").unwrap();
//! let host = Host::builder().state_dir(state.path()).plugin(manifest, || Greeter).build().unwrap();
//! host.start().await.unwrap();
//! assert_eq!(host.call("greeter", "greet", b"world").await.unwrap(), b"hello, world");
//! host.stop().await;
//! # });
//! ```
//!
//! # Concepts
//! - [`Host`]: built with [`HostBuilder`], started and stopped as a whole.
//! - [`Descriptor`]: a discovered plugin (manifest plus directory); see [`discover`].
//! - [`resolve()`]: which plugins can start and in what order, with every problem reported.
//! - [`PluginState`] and [`Health`]: the lifecycle, observed through
//!   [`Host::on_state_change`] and the [`STATE_TOPIC`] event topic.
//! - [`PointHandle`]: calls to the implementations of an [`ExtensionPoint`].
//! - [`HostApi`]: what a plugin may use: log, config, storage, events, health, calls, services.
//! - [`Runtime`] and [`PluginInstance`]: the seam runtimes implement.
#![deny(missing_docs)]

mod builtin;
mod discovery;
mod error;
mod events;
mod extension;
mod host;
mod host_api;
pub mod resolve;
mod runtime;
mod services;
mod state;

pub use builtin::{
    BootContext, BuiltinFactory, BuiltinPlugin, BuiltinRegistry, BuiltinRuntime, Methods,
};
pub use discovery::{
    discover, load_manifest, Descriptor, Discovery, Origin, Rejected, Shadowed, BUNDLED_INDEX,
    MANIFEST_FILE,
};
pub use error::{CallError, Error, PluginError, RuntimeError};
pub use events::{topic_matches, Event, Subscription, STATE_TOPIC, SUBSCRIBER_QUEUE};
pub use extension::{decode, encode, ExtensionPoint, Implementation, PointHandle};
pub use host::{
    DirChange, Host, HostBuilder, Monitor, PluginHandle, PluginStatus, ReloadError, ReloadEvent,
    ReloadReport, StateListener, WatchKind, WatchOptions,
};
pub use host_api::{
    effective_permissions, read_log, ConfigError, ConfigProblem, ConfigValidator, HostApi,
    PluginLog, PluginStore, Rotation, StorageBackend, StorageError, MAX_KEY_LEN, MAX_VALUE_LEN,
    TRACING_TARGET,
};
pub use resolve::{resolve, Problem, Resolution};
pub use runtime::{PluginInstance, Reply, Runtime, EXPORT_STATE_METHOD, IMPORT_STATE_METHOD};
pub use services::{Service, ServiceHandle};
pub use state::{Health, HealthReport, PluginState, StateChange};

/// Re-exported so that runtimes and applications name manifest types through the core.
pub use plugboard_manifest as manifest;
