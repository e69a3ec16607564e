//! The Go go-plugin peers of `examples/go`: the KV plugin and the `kv-host` host.
//!
//! [`build`] runs `scripts/build-go` (offline, from Debian's Go packages; idempotent and quick
//! once built), then [`round_trip`] and [`bench()`] run the Go host against a plugin binary: the
//! Go plugin, or any plugin serving `examples/go/kv/proto/kv.proto` (a Rust plugin served by
//! plugboard-pdk, for the reverse-direction test).

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
     golang-google-grpc-dev golang-goprotobuf-dev protobuf-compiler";

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
    /// `kv-host` exited with an error.
    #[error("kv-host failed ({status}): {stderr}")]
    Host {
        /// Its exit status.
        status: String,
        /// Its stderr.
        stderr: String,
    },
    /// `kv-host` printed something other than its one JSON line.
    #[error("kv-host printed {line:?}, not its JSON line: {source}")]
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
    /// The go-plugin host.
    pub kv_host: PathBuf,
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
