//! The Go go-plugin peers of `examples/go`: the KV plugin and its host `kv-host`, and on
//! Plugboard's own proto the notes plugin and the host `pb-host`.
//!
//! [`build`] runs `scripts/build-go` (offline, from Debian's Go packages; idempotent and quick
//! once built), then [`round_trip`] and [`bench()`] run `kv-host` against a plugin binary that
//! serves `examples/go/kv/proto/kv.proto`, and [`pb_host`] runs `pb-host` against any plugin
//! serving `plugboard.v1.Plugin` (a Rust plugin served by plugboard-pdk, the Go notes plugin).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The KV plugin's go-plugin magic cookie key (`shared.Handshake` in examples/go/kv/shared).
pub const KV_COOKIE_KEY: &str = "PLUGBOARD_KV_PLUGIN";
/// The KV plugin's magic cookie value.
pub const KV_COOKIE_VALUE: &str = "b7e5d3a1-kv";
/// The KV plugin's application protocol version.
pub const KV_PROTOCOL_VERSION: u32 = 1;
/// The fully qualified name of the KV gRPC service.
pub const KV_SERVICE: &str = "plugboard.examples.kv.KV";

/// The Debian packages `scripts/build-go` needs, for messages.
pub const APT_PACKAGES: &str = "golang-go golang-github-hashicorp-go-plugin-dev \
     golang-google-grpc-dev golang-goprotobuf-dev protobuf-compiler protoc-gen-go-grpc";

/// Why a Go peer could not be built or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GoError {
    /// `scripts/build-go` failed; its output says why (usually a missing package).
    #[error(
        "scripts/build-go failed ({status}):\n{output}\ninstall: apt-get install -y {APT_PACKAGES}"
    )]
    Build {
        /// Its exit status.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },
    /// A program could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A Go host (`kv-host`, `pb-host`) exited with an error.
    #[error("the Go host failed ({status}): {stderr}")]
    Host {
        /// Its exit status.
        status: String,
        /// Its stderr.
        stderr: String,
    },
    /// A Go host printed something other than its one JSON line.
    #[error("the Go host printed {line:?}, not its JSON line: {source}")]
    Output {
        /// What it printed.
        line: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// Where `scripts/build-go` put the peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoPeers {
    /// The KV plugin as a Plugboard plugin directory (`plugin.yaml`, `bin/kv-plugin`).
    pub kv_plugin_dir: PathBuf,
    /// The KV plugin's executable.
    pub kv_plugin: PathBuf,
    /// The go-plugin host of KV.
    pub kv_host: PathBuf,
    /// The notes plugin on Plugboard's proto as a Plugboard plugin directory (`plugin.yaml`,
    /// `bin/notes-plugin`).
    pub notes_plugin_dir: PathBuf,
    /// The notes plugin's executable.
    pub notes_plugin: PathBuf,
    /// The go-plugin host of any plugin on Plugboard's proto.
    pub pb_host: PathBuf,
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `${CARGO_TARGET_DIR:-target}/go`, where `scripts/build-go` writes.
pub fn go_dir() -> PathBuf {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |t| root.join(t));
    target.join("go")
}

/// Whether the Go toolchain is installed (the `go` command is on `PATH`).
pub fn go_installed() -> bool {
    Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `scripts/build-go` and returns the peers' paths.
///
/// # Errors
/// [`GoError::Build`] with the script's output.
pub fn build() -> Result<GoPeers, GoError> {
    let script = workspace_root().join("scripts/build-go");
    let out = Command::new(&script)
        .output()
        .map_err(|source| GoError::Spawn {
            program: script,
            source,
        })?;
    if !out.status.success() {
        return Err(GoError::Build {
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    let dir = go_dir();
    Ok(GoPeers {
        kv_plugin: dir.join("kv/bin/kv-plugin"),
        kv_plugin_dir: dir.join("kv"),
        kv_host: dir.join("bin/kv-host"),
        notes_plugin: dir.join("notes/bin/notes-plugin"),
        notes_plugin_dir: dir.join("notes"),
        pb_host: dir.join("bin/pb-host"),
    })
}

/// How `kv-host` should start the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOptions {
    /// The magic cookie key.
    pub cookie_key: String,
    /// The magic cookie value.
    pub cookie_value: String,
    /// The application protocol version offered.
    pub version: u32,
    /// go-plugin's AutoMTLS.
    pub auto_mtls: bool,
}

impl Default for HostOptions {
    /// The KV plugin's handshake, plaintext.
    fn default() -> Self {
        Self {
            cookie_key: KV_COOKIE_KEY.to_owned(),
            cookie_value: KV_COOKIE_VALUE.to_owned(),
            version: KV_PROTOCOL_VERSION,
            auto_mtls: false,
        }
    }
}

impl HostOptions {
    fn args(&self) -> Vec<String> {
        let mut args = vec![
            format!("-cookie-key={}", self.cookie_key),
            format!("-cookie-value={}", self.cookie_value),
            format!("-version={}", self.version),
        ];
        if self.auto_mtls {
            args.push("-mtls".to_owned());
        }
        args
    }
}

/// The line `kv-host` prints in its round-trip mode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoundTrip {
    /// `"roundtrip"`.
    pub mode: String,
    /// The key put and read.
    pub key: String,
    /// The value read back (as text).
    pub value: String,
    /// Whether Get found it.
    pub found: bool,
    /// The protocol version go-plugin negotiated.
    pub protocol_version: u32,
    /// Whether AutoMTLS was on.
    pub auto_mtls: bool,
}

/// The line `kv-host -bench` prints; times in microseconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HostBench {
    /// `"bench"`.
    pub mode: String,
    /// `"go-plugin"`.
    pub host: String,
    /// The plugin binary.
    pub plugin: String,
    /// Whether AutoMTLS was on.
    pub auto_mtls: bool,
    /// How many times the plugin was started.
    pub spawns: usize,
    /// From starting the process until the dispensed plugin answered a health check: median.
    pub spawn_to_ready_us_median: f64,
    /// The same, 99th percentile.
    pub spawn_to_ready_us_p99: f64,
    /// Timed unary calls (`KV/Get` of a one-byte value).
    pub calls: usize,
    /// Their median.
    pub call_us_median: f64,
    /// Their 99th percentile.
    pub call_us_p99: f64,
    /// Their mean.
    pub call_us_mean: f64,
}

fn run_host<T: serde::de::DeserializeOwned>(
    host: &Path,
    args: Vec<String>,
    plugin: &Path,
) -> Result<T, GoError> {
    let out = Command::new(host)
        .args(args)
        .arg(plugin)
        .output()
        .map_err(|source| GoError::Spawn {
            program: host.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(GoError::Host {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    serde_json::from_str(&line).map_err(|source| GoError::Output { line, source })
}

/// Has `kv-host` put `value` under `key` in `plugin` and read it back.
///
/// # Errors
/// [`GoError::Host`] when the plugin does not start, a call fails, or the value read differs.
pub fn round_trip(
    host: &Path,
    plugin: &Path,
    options: &HostOptions,
    key: &str,
    value: &str,
) -> Result<RoundTrip, GoError> {
    let mut args = options.args();
    args.push(format!("-key={key}"));
    args.push(format!("-value={value}"));
    run_host(host, args, plugin)
}

/// Runs `kv-host -bench calls -spawns spawns` against `plugin`.
///
/// # Errors
/// As [`round_trip`].
pub fn bench(
    host: &Path,
    plugin: &Path,
    options: &HostOptions,
    calls: usize,
    spawns: usize,
) -> Result<HostBench, GoError> {
    let mut args = options.args();
    args.push(format!("-bench={calls}"));
    args.push(format!("-spawns={spawns}"));
    run_host(host, args, plugin)
}

/// What `pb-host` does with a plugin on Plugboard's proto: the handshake it offers, what it
/// boots the plugin with, and what it delivers and calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbHostOptions {
    /// The magic cookie key (Plugboard's default unless set).
    pub cookie_key: String,
    /// The magic cookie value.
    pub cookie_value: String,
    /// The plugin id sent in Boot.
    pub id: String,
    /// The configuration sent in Boot and served by the host API's `Config`, as JSON.
    pub config: String,
    /// Offer the host API on go-plugin's broker (`false`: Boot gets broker id 0).
    pub host_api: bool,
    /// Events delivered with `OnEvent` before the calls: (topic, payload).
    pub events: Vec<(String, String)>,
    /// Calls made in order after Start: (method, payload).
    pub calls: Vec<(String, String)>,
    /// go-plugin's AutoMTLS (`-mtls`).
    pub auto_mtls: bool,
}

impl Default for PbHostOptions {
    /// Plugboard's default handshake, an empty configuration, the host API offered, no calls.
    fn default() -> Self {
        Self {
            cookie_key: PB_COOKIE_KEY.to_owned(),
            cookie_value: PB_COOKIE_VALUE.to_owned(),
            id: "go-hosted".to_owned(),
            config: "{}".to_owned(),
            host_api: true,
            events: Vec::new(),
            calls: Vec::new(),
            auto_mtls: false,
        }
    }
}

/// Plugboard's default magic cookie key (`plugboard_process::DEFAULT_COOKIE_KEY`), which the
/// notes plugin and a default plugboard-pdk plugin expect.
pub const PB_COOKIE_KEY: &str = "PLUGBOARD_PLUGIN";
/// Plugboard's default magic cookie value.
pub const PB_COOKIE_VALUE: &str = "d3b2c1a0-plugboard";

impl PbHostOptions {
    /// Adds a call of `method` with `payload`.
    #[must_use]
    pub fn call(mut self, method: &str, payload: &str) -> Self {
        self.calls.push((method.to_owned(), payload.to_owned()));
        self
    }

    /// Adds an event on `topic` delivered before the calls.
    #[must_use]
    pub fn event(mut self, topic: &str, payload: &str) -> Self {
        self.events.push((topic.to_owned(), payload.to_owned()));
        self
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            format!("-cookie-key={}", self.cookie_key),
            format!("-cookie-value={}", self.cookie_value),
            format!("-id={}", self.id),
            format!("-config={}", self.config),
        ];
        if !self.host_api {
            args.push("-no-host-api".to_owned());
        }
        if self.auto_mtls {
            args.push("-mtls".to_owned());
        }
        args.extend(self.events.iter().map(|(t, p)| format!("-event={t}={p}")));
        args.extend(self.calls.iter().map(|(m, p)| format!("-call={m}={p}")));
        args
    }
}

/// One call `pb-host` made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PbCall {
    /// The method.
    pub method: String,
    /// The payload sent.
    pub payload: String,
    /// Whether the plugin answered a payload (not an in-band error).
    pub ok: bool,
    /// The payload answered, as text.
    #[serde(default)]
    pub result: String,
    /// The in-band error's code (`FAILED`, `UNKNOWN_METHOD`, `INVALID_PAYLOAD`, `DENIED`).
    #[serde(default)]
    pub code: String,
    /// The in-band error's message.
    #[serde(default)]
    pub error: String,
}

/// A health status and its message (`HEALTHY`, `DEGRADED`, `UNHEALTHY`, `HEALTH_UNSPECIFIED`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PbHealth {
    /// The status's name in the proto.
    pub status: String,
    /// Its message.
    pub message: String,
}

/// A record the plugin wrote through the host API's `Log`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PbLog {
    /// The level's name in the proto (`INFO`, `WARN`, ...).
    pub level: String,
    /// The message.
    pub message: String,
    /// Its fields.
    pub fields: std::collections::BTreeMap<String, String>,
}

/// An event the plugin published through the host API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PbEvent {
    /// Its topic.
    pub topic: String,
    /// Its payload, as text.
    pub payload: String,
}

/// What the plugin did with the host API `pb-host` served it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PbHostApi {
    /// Its log records, in order.
    pub logs: Vec<PbLog>,
    /// How many times it read its configuration.
    pub config_reads: usize,
    /// The storage at the end, values as text.
    pub storage: std::collections::BTreeMap<String, String>,
    /// The events it published, in order.
    pub events: Vec<PbEvent>,
    /// The health it reported, in order.
    pub reported_health: Vec<PbHealth>,
}

/// The line `pb-host` prints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PbHostReport {
    /// The protocol version go-plugin negotiated.
    pub protocol_version: u32,
    /// Whether AutoMTLS was on.
    #[serde(default)]
    pub auto_mtls: bool,
    /// go-plugin's grpc.health.v1 check (`SERVING`).
    pub grpc_health: String,
    /// The broker id of the host API sent in Boot (0: none offered).
    pub host_api_broker_id: u32,
    /// The calls, in order.
    pub calls: Vec<PbCall>,
    /// What the plugin's `Health` answered after the calls.
    pub health: PbHealth,
    /// What the plugin did with the host API.
    pub host_api: PbHostApi,
    /// The plugin process's exit code after `client.Kill()` (-1: killed by a signal).
    pub exit_code: i32,
    /// Whether it exited by itself, with status 0, after `GRPCController.Shutdown`.
    pub graceful: bool,
}

/// Has `pb-host` start `plugin`, boot it, deliver the events, make the calls, check its health,
/// stop it and kill the client, and returns what it printed.
///
/// # Errors
/// [`GoError::Host`] when the plugin does not start, or Boot, Start, Stop or a gRPC call fails
/// (an in-band call error is in its [`PbCall`] instead).
pub fn pb_host(
    host: &Path,
    plugin: &Path,
    options: &PbHostOptions,
) -> Result<PbHostReport, GoError> {
    run_host(host, options.args(), plugin)
}
