//! The runtime-specific sections of a manifest: `wasm:`, `process:` and `native:`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::manifest::is_default;
use crate::{ByteSize, Duration, Toggle};

/// Settings for `runtime: wasm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmSettings {
    /// `component` (the default) or `extism`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub abi: WasmAbi,
    /// The most linear memory an instance may use, for example `64MiB`; capped by the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<ByteSize>,
    /// The deadline of one call, for example `1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// An optional instruction budget per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

/// The binary interface of a WebAssembly plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WasmAbi {
    /// A component implementing the `plugboard:plugin` WIT world.
    #[default]
    Component,
    /// A core module using Extism's kernel ABI.
    Extism,
}

/// Settings for `runtime: process`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSettings {
    /// The wire protocol: go-plugin's gRPC (the default) or the stdio transport.
    #[serde(default, alias = "transport", skip_serializing_if = "is_default")]
    pub protocol: ProcessProtocol,
    /// Arguments passed to the executable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment for the plugin.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::strict::map"
    )]
    pub env: BTreeMap<String, String>,
    /// go-plugin's handshake configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
    /// Whether to use go-plugin's AutoMTLS.
    #[serde(default, skip_serializing_if = "is_default")]
    pub auto_mtls: bool,
    /// What to do when the process exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Whether to confine the process with the OS sandbox. Default on.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sandbox: Toggle,
    /// How long the process has to print its handshake (grpc) or answer `hello` (stdio), for
    /// example `10s`. Default 20 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<Duration>,
    /// The deadline of one call, for example `5s`: a plugin that hangs in a call is answered
    /// with a timeout error instead of holding the caller. Default 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_timeout: Option<Duration>,
}

/// The wire protocol of a process plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessProtocol {
    /// HashiCorp go-plugin's gRPC protocol over a Unix socket or TCP.
    #[default]
    Grpc,
    /// Framed JSON messages on the child's stdin and stdout.
    Stdio,
}

/// go-plugin's `HandshakeConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handshake {
    /// The environment variable that carries the magic cookie.
    pub cookie_key: String,
    /// The magic cookie's value.
    pub cookie_value: String,
    /// The application protocol versions the host offers.
    #[serde(default = "default_versions")]
    pub versions: Vec<u32>,
}

fn default_versions() -> Vec<u32> {
    vec![1]
}

/// A restart policy for process plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// When to restart.
    pub policy: RestartWhen,
    /// The most restarts within `window` before the plugin is quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// The window for `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

/// When a supervised process is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartWhen {
    /// After every exit.
    Always,
    /// After an exit with a failure status or a signal.
    OnFailure,
    /// Never.
    Never,
}

/// Settings for `runtime: native`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSettings {
    /// Where the library runs: in the host process (default) or in a supervised shim process.
    #[serde(default, skip_serializing_if = "is_default")]
    pub isolation: NativeIsolation,
}

/// Where a native plugin's library runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NativeIsolation {
    /// Loaded into the host process: fastest, trusted code only.
    #[default]
    None,
    /// Loaded by a shim executable served over the process runtime.
    Process,
}
