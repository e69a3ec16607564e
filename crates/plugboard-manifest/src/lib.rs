//! The shared language of Plugboard: `plugin.yaml` manifests and the host's `config.yaml`.
//!
//! This crate is pure data. It turns text into typed, validated values and reports every problem
//! with the file, line, column and field it concerns, so that an operator can fix a manifest
//! without reading Plugboard's source. It performs no I/O beyond the text it is given: reading
//! files is the caller's job, which keeps the parsers easy to fuzz.
//!
//! ```
//! use plugboard_manifest::Manifest;
//!
//! let manifest = Manifest::from_yaml_str(
//!     "id: text-tools\nversion: 1.2.0\napi: \"^1\"\nruntime: builtin\nentry: text_tools\n",
//!     "plugin.yaml",
//! )?;
//! assert_eq!(manifest.id.as_str(), "text-tools");
//! # Ok::<(), plugboard_manifest::ManifestErrors>(())
//! ```
//!
//! # Core concepts
//! - [`Manifest`]: one plugin's descriptor, from its `plugin.yaml`
//!   ([`Manifest::from_yaml_str`]) or, for a `.wasm` or shared library dropped in a plugin
//!   directory without one, from its file name ([`Manifest::for_bare_artifact`]).
//! - [`HostConfig`]: the operator's `config.yaml` ([`HostConfig::from_yaml_str`]).
//! - [`ManifestErrors`]: every [`Problem`] found, each printed as
//!   `file:line:column: field: message (hint: ...)`.
//!
//! Parsing runs in two passes. serde turns the text into typed values and stops at the first
//! syntax or type error; the semantic checks then run over the whole value and report every
//! problem at once, each placed at the line and column of the value it concerns. Every key is
//! documented in `docs/manifest.md` and `docs/config.md`.
#![deny(missing_docs)]

mod bare;
mod config;
mod error;
mod id;
mod location;
mod manifest;
mod parse;
mod runtime;
mod strict;
mod validate;
mod values;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod regressions;

pub use bare::is_bare_artifact_name;
pub use config::{
    AuthConfig, Directories, Endpoint, HookSettings, HostConfig, LogLevel, LoggingConfig, Pipeline,
    PipelineStep, PluginEntry, RegistryConfig, SourceConfig, UiConfig, DEFAULT_UI_LISTEN,
    REGISTRY_SOURCE,
};
pub use error::{ManifestErrors, Problem};
pub use id::{InvalidId, PluginId};
pub use manifest::{
    current_platform, Activation, Cardinality, Codec, ConfigSection, ExtensionPointDecl,
    FsPermissions, Manifest, NoPlatformEntry, Permissions, PlatformEntry, Provide, ReloadSettings,
    RuntimeKind, UiPanel, PLUGIN_API_VERSION,
};
pub use parse::MAX_DOCUMENT_BYTES;
pub use runtime::{
    Handshake, NativeIsolation, NativeSettings, ProcessProtocol, ProcessSettings, RestartPolicy,
    RestartWhen, WasmAbi, WasmSettings,
};
pub use values::{ByteSize, Duration, Integrity, Toggle};

// The host shares parsed manifests and configurations between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Manifest>();
    assert_send_sync::<HostConfig>();
    assert_send_sync::<ManifestErrors>();
};
