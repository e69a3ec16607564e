//! `plugin.yaml`: the types of a plugin manifest.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The version of the Plugboard plugin API that this build of the host implements.
///
/// A manifest's `api` requirement is matched against it: `api: "^1"` loads on any 1.x host.
pub const PLUGIN_API_VERSION: Version = Version::new(1, 0, 0);

/// A plugin's identifier: `[a-z0-9][a-z0-9._-]*`, unique within a host.
///
/// Identifiers name log files, storage namespaces and directories, so they are restricted to
/// characters that are safe in all three.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginId(String);

impl PluginId {
    /// The longest identifier accepted; long enough for reverse-DNS names, short enough for a
    /// file name on every file system.
    pub const MAX_LEN: usize = 128;

    /// Checks `text` and wraps it.
    ///
    /// # Errors
    /// When `text` is empty, too long, or has a character outside `[a-z0-9._-]` (or does not
    /// start with `[a-z0-9]`); the message says which character and where.
    pub fn new(text: impl Into<String>) -> Result<Self, InvalidId> {
        let text = text.into();
        validate_id(&text)?;
        Ok(Self(text))
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a text is not a valid [`PluginId`] (or extension point id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id {text:?}: {problem}; ids use lower-case letters, digits, '.', '_' and '-', and start with a letter or digit")]
pub struct InvalidId {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
}

fn validate_id(text: &str) -> Result<(), InvalidId> {
    let fail = |problem: String| {
        Err(InvalidId {
            text: text.to_owned(),
            problem,
        })
    };
    if text.is_empty() {
        return fail("it is empty".into());
    }
    if text.len() > PluginId::MAX_LEN {
        return fail(format!("it is longer than {} bytes", PluginId::MAX_LEN));
    }
    for (i, c) in text.char_indices() {
        let ok = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || (i > 0 && matches!(c, '.' | '_' | '-'));
        if !ok {
            return fail(format!("character {c:?} at position {} is not allowed", i + 1));
        }
    }
    Ok(())
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl FromStr for PluginId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for PluginId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for PluginId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for PluginId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PluginId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PluginId::new(text).map_err(serde::de::Error::custom)
    }
}

/// How a plugin runs. Each kind is served by one runtime crate; the core knows only the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Rust code compiled into the host application, registered under the manifest's `entry`.
    Builtin,
    /// A WebAssembly component or Extism-ABI module, sandboxed on wasmtime.
    Wasm,
    /// A sidecar process over gRPC (go-plugin wire) or the stdio transport.
    Process,
    /// A shared library behind Plugboard's C ABI.
    Native,
}

impl RuntimeKind {
    /// All kinds, in the order they are documented.
    pub const ALL: [RuntimeKind; 4] = [Self::Builtin, Self::Wasm, Self::Process, Self::Native];

    /// The manifest spelling: `builtin`, `wasm`, `process`, `native`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Wasm => "wasm",
            Self::Process => "process",
            Self::Native => "native",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the host loads a plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Loaded and started when the host starts.
    #[default]
    Eager,
    /// Resolved when the host starts, loaded and started on first use of something it provides.
    Lazy,
}

/// A digest that an artifact must match before it is loaded: `sha256:<64 hex digits>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Integrity {
    /// The lower-case hex digest.
    hex: String,
}

impl Integrity {
    /// Parses `sha256:<hex>`.
    ///
    /// # Errors
    /// For another algorithm, or a digest that is not 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(hex) = text.strip_prefix("sha256:") else {
            return Err(format!(
                "{text:?} is not a supported digest; write sha256:<64 hex digits>"
            ));
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "the sha256 digest must be 64 hex digits, found {} characters",
                hex.len()
            ));
        }
        Ok(Self {
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// The expected SHA-256 digest as lower-case hex.
    pub fn sha256_hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Integrity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Integrity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Integrity::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One entry of `provides:`: an extension point this plugin implements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provide {
    /// The extension point's id, for example `text.transform`.
    pub point: String,
    /// The methods of the point that this plugin implements; empty means all of them.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Order among implementations of the same point: higher runs first. Default 0.
    #[serde(default)]
    pub priority: i32,
}

/// How many implementations an extension point takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cardinality {
    /// Exactly one implementation is used: the one with the highest priority.
    One,
    /// Every implementation is called, in priority order.
    #[default]
    Many,
}

/// One entry of `extension_points:`: a point this plugin opens for other plugins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionPointDecl {
    /// The point's id. By convention it starts with the declaring plugin's id.
    pub id: String,
    /// The version of the point's interface. Default 1.0.0.
    #[serde(default = "default_point_version")]
    pub version: Version,
    /// The methods an implementation may offer; empty means any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// One implementation or many.
    #[serde(default)]
    pub cardinality: Cardinality,
    /// The payload codec of the point's methods.
    #[serde(default)]
    pub codec: Codec,
}

fn default_point_version() -> Version {
    Version::new(1, 0, 0)
}

/// The encoding of call payloads on an extension point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// UTF-8 JSON. The default: readable, and every language has it.
    #[default]
    Json,
    /// MessagePack, where payload size and encoding speed matter.
    Msgpack,
    /// Opaque bytes, passed through unchanged.
    Raw,
}

/// What a plugin asks to be allowed. Nothing is allowed unless asked for here and granted by the
/// host configuration; runtimes that can enforce a permission do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// File-system paths, relative to the plugin's directory unless absolute.
    #[serde(default)]
    pub fs: FsPermissions,
    /// Network destinations as `host:port` (`*` allowed for the host part).
    #[serde(default)]
    pub net: Vec<String>,
    /// Environment variables the plugin may read.
    #[serde(default)]
    pub env: Vec<String>,
    /// Whether the plugin uses the host's key-value storage.
    #[serde(default)]
    pub storage: bool,
}

/// File-system paths a plugin may read or write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsPermissions {
    /// Paths it may read.
    #[serde(default)]
    pub read: Vec<String>,
    /// Paths it may read and write.
    #[serde(default)]
    pub write: Vec<String>,
}

/// The `config:` section: how the plugin's configuration is validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSection {
    /// A JSON Schema (draft 2020-12). `default` values in it fill in what the host config omits.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
}

/// Settings for `runtime: wasm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmSettings {
    /// `component` (the default) or `extism`.
    #[serde(default)]
    pub abi: WasmAbi,
    /// The most linear memory an instance may use, for example `64MiB`; capped by the host.
    #[serde(default)]
    pub memory_max: Option<ByteSize>,
    /// The deadline of one call, for example `1s`.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// An optional instruction budget per call.
    #[serde(default)]
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
    #[serde(default, alias = "transport")]
    pub protocol: ProcessProtocol,
    /// Arguments passed to the executable.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment for the plugin.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// go-plugin's handshake configuration.
    #[serde(default)]
    pub handshake: Option<Handshake>,
    /// Whether to use go-plugin's AutoMTLS.
    #[serde(default)]
    pub auto_mtls: bool,
    /// What to do when the process exits.
    #[serde(default)]
    pub restart: Option<RestartPolicy>,
    /// Whether to confine the process with the OS sandbox. Default on.
    #[serde(default)]
    pub sandbox: Toggle,
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
    #[serde(default)]
    pub max: Option<u32>,
    /// The window for `max`.
    #[serde(default)]
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

/// `on` or `off` (YAML booleans are accepted too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Toggle {
    /// Enabled (the default).
    #[default]
    On,
    /// Disabled.
    Off,
}

impl Serialize for Toggle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Toggle::On => "on",
            Toggle::Off => "off",
        })
    }
}

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Toggle::On),
            Raw::Bool(false) => Ok(Toggle::Off),
            Raw::Text(t) => match t.as_str() {
                "on" | "true" | "yes" => Ok(Toggle::On),
                "off" | "false" | "no" => Ok(Toggle::Off),
                other => Err(serde::de::Error::custom(format!(
                    "expected `on` or `off`, found {other:?}"
                ))),
            },
        }
    }
}

/// Settings for `runtime: native`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSettings {
    /// Where the library runs: in the host process (default) or in a supervised shim process.
    #[serde(default)]
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

/// A duration written the human way: `250ms`, `1s`, `2m 30s`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(Duration)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration ({e}); write for example 500ms, 1s or 2m")))
    }
}

/// A size written the human way: `64MiB`, `512KiB`, `1GB`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => t
                .trim()
                .parse::<bytesize::ByteSize>()
                .map(|b| ByteSize(b.as_u64()))
                .map_err(|e| serde::de::Error::custom(format!("{t:?} is not a size ({e}); write for example 64MiB"))),
        }
    }
}

/// A parsed and validated `plugin.yaml`.
///
/// Every key is documented in `docs/manifest.md`. Unknown keys are an error, with a
/// "did you mean" hint for near misses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique id within a host.
    pub id: PluginId,
    /// Human-readable name; defaults to the id.
    #[serde(default)]
    pub name: Option<String>,
    /// The plugin's own version.
    pub version: Version,
    /// One line about what it does.
    #[serde(default)]
    pub description: Option<String>,
    /// The Plugboard plugin API version it needs, matched against [`PLUGIN_API_VERSION`].
    #[serde(default = "default_api")]
    pub api: VersionReq,
    /// How it runs.
    pub runtime: RuntimeKind,
    /// builtin: the registered name; otherwise a path relative to the plugin directory.
    pub entry: String,
    /// The digest the entry must match before it is loaded.
    #[serde(default)]
    pub integrity: Option<Integrity>,
    /// Plugins that must be present and started first.
    #[serde(default)]
    pub requires: BTreeMap<PluginId, VersionReq>,
    /// Plugins used when present, never a reason to fail.
    #[serde(default)]
    pub optional: BTreeMap<PluginId, VersionReq>,
    /// Extension points it implements.
    #[serde(default)]
    pub provides: Vec<Provide>,
    /// Extension points it opens for others.
    #[serde(default)]
    pub extension_points: Vec<ExtensionPointDecl>,
    /// Event topics it receives.
    #[serde(default)]
    pub subscribes: Vec<String>,
    /// What it asks to be allowed.
    #[serde(default)]
    pub permissions: Permissions,
    /// How its configuration is validated.
    #[serde(default)]
    pub config: ConfigSection,
    /// Eager or lazy loading.
    #[serde(default)]
    pub activation: Activation,
    /// Settings for `runtime: wasm`.
    #[serde(default)]
    pub wasm: Option<WasmSettings>,
    /// Settings for `runtime: process`.
    #[serde(default)]
    pub process: Option<ProcessSettings>,
    /// Settings for `runtime: native`.
    #[serde(default)]
    pub native: Option<NativeSettings>,
}

fn default_api() -> VersionReq {
    VersionReq::STAR
}

impl Manifest {
    /// The display name: `name`, or the id when there is none.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.id.as_str())
    }

    /// Every dependency, required and optional, with its requirement and whether it is optional.
    pub fn dependencies(&self) -> impl Iterator<Item = (&PluginId, &VersionReq, bool)> {
        self.requires
            .iter()
            .map(|(id, req)| (id, req, false))
            .chain(self.optional.iter().map(|(id, req)| (id, req, true)))
    }
}

impl Manifest {
    /// Parses and validates a manifest. `file` names the source in error messages.
    ///
    /// # Errors
    /// Every problem found, each with its line, column and field.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<Manifest, String> {
        serde_norway::from_str(text).map_err(|e| format!("{file}: {e}"))
    }
}
