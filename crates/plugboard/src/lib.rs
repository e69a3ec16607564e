//! Plugboard: a plugin host for Rust applications.
//!
//! One host, one manifest (`plugin.yaml`), one lifecycle, for every way a plugin can run:
//! builtin Rust plugins compiled into the application (always available), and, behind cargo
//! features as their runtimes land, WebAssembly, sidecar processes and native libraries.
//!
//! This crate is the facade an application depends on. It re-exports the core
//! ([`plugboard_core`]) and the manifest types ([`manifest`]).
//!
//! ```
//! use plugboard::{BuiltinPlugin, CallError, Host, Methods};
//! use plugboard::manifest::Manifest;
//!
//! #[derive(Default)]
//! struct Shout;
//!
//! impl BuiltinPlugin for Shout {
//!     fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
//!         let methods = Methods::new()
//!             .json("shout", |_: &Shout, text: String| Ok::<_, String>(text.to_uppercase()));
//!         methods.dispatch(self, "shout", method, payload)
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let state = tempfile::tempdir().unwrap();
//! let manifest = Manifest::from_yaml_str(
//!     "id: shout\nversion: 0.1.0\nruntime: builtin\nentry: shout\n", "inline").unwrap();
//! let host = Host::builder()
//!     .state_dir(state.path())
//!     .plugin(manifest, Shout::default)
//!     .build()
//!     .unwrap();
//! host.start().await.unwrap();
//! assert_eq!(host.call("shout", "shout", br#""hi""#).await.unwrap(), br#""HI""#);
//! host.stop().await;
//! # });
//! ```
//!
//! # Features
//! - `registry`: [`registry`], installing plugins from URL templates, OCI registries and
//!   local files, with digests, signatures and a lockfile (`plugboard-registry`).
//! - `native`: [`native`], the runtime for shared-library plugins behind the C ABI
//!   (`plugboard-native`).
//! - `process`: [`process`], the runtime for sidecar programs over go-plugin's gRPC protocol
//!   or the stdio transport (`plugboard-process`).
//! - `wasm`: [`wasm`], the runtime for WebAssembly plugins, components and Extism-ABI
//!   modules (`plugboard-wasm`).
//!
//! The builtin runtime is part of the core.
#![deny(missing_docs)]

pub use plugboard_core::*;

/// Installing plugins: packages, sources, signatures, the lockfile (`plugboard-registry`).
#[cfg(feature = "registry")]
pub use plugboard_registry as registry;

/// Native plugins: shared libraries behind the C ABI (`plugboard-native`).
#[cfg(feature = "native")]
pub use plugboard_native as native;

/// Process plugins: go-plugin-compatible sidecars and the stdio transport (`plugboard-process`).
#[cfg(feature = "process")]
pub use plugboard_process as process;

/// WebAssembly plugins: components and Extism-ABI modules on wasmtime (`plugboard-wasm`).
#[cfg(feature = "wasm")]
pub use plugboard_wasm as wasm;
