//! The probe: a builtin plugin whose faults and records come from its configuration.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use plugboard::manifest::LogLevel;
use plugboard::{BootContext, BuiltinPlugin, CallError, Event, HostApi, HostBuilder, PluginError};
use serde_json::{json, Value};

/// The builtin entry name the probe is registered under by [`register`], and the default
/// `entry` of [`ManifestBuilder::builtin`](crate::ManifestBuilder::builtin).
pub const PROBE_ENTRY: &str = "probe";

/// How long a `hang_*` hook sleeps unless `hang_ms` says otherwise: longer than any hook
/// timeout a test sets, short enough that a leaked thread does not outlive a test run by much.
const DEFAULT_HANG: Duration = Duration::from_secs(60);

/// The storage key of `incr` and `count` when the payload is empty.
const DEFAULT_COUNTER: &[u8] = b"counter";

/// The methods the probe answers, sorted, for [`CallError::UnknownMethod`].
const METHODS: [&str; 10] = [
    "call", "config", "count", "echo", "events", "fail", "identity", "incr", "log", "panic",
];

/// Registers the [`Probe`] under [`PROBE_ENTRY`], so that every manifest with
/// `runtime: builtin` and `entry: probe` runs it.
///
/// ```
/// let builder = plugboard_test_support::register(plugboard::Host::builder());
/// # let _ = builder;
/// ```
pub fn register(builder: HostBuilder) -> HostBuilder {
    builder.builtin(PROBE_ENTRY, Probe::default)
}

/// A builtin plugin for fault injection: what it does in each hook comes from its configuration
/// (the `config:` of its entry in `config.yaml`), so that one compiled plugin can play every
/// role a test needs, in-process or in a host binary such as `plugboard`'s `fault_host`.
///
/// # Configuration
/// Unknown keys are ignored (a test may give the probe a schema of its own).
///
/// | key | effect |
/// |---|---|
/// | `fail_boot`, `fail_start`, `fail_stop` | the hook fails with this message |
/// | `panic_boot` | `boot` panics |
/// | `hang_boot`, `hang_start`, `hang_stop` | the hook sleeps for `hang_ms` (default 60 s) |
/// | `panic_call` | every call panics |
/// | `record` | each hook, call and event is written to the plugin's log (`probe boot`, `probe call echo`, ...) at INFO |
/// | `journal` | an absolute file path: each hook appends `<id> <hook>` to it, one line per hook, so that several probes record one total order ([`PluginTree::journal`](crate::PluginTree::journal)) |
/// | `boot_sets` | a mapping merged into the configuration by `boot` (which the host validates again) |
///
/// Each hook is journaled and recorded before its fault, so a failed hook still shows that it
/// ran.
///
/// # Methods
/// | method | input | output |
/// |---|---|---|
/// | `echo` | any bytes | the same bytes |
/// | `identity` | - | `{"id": ..., "version": ...}` |
/// | `config` | - | the effective configuration, as JSON |
/// | `incr` | a key (empty: `counter`) | the key's stored counter plus one, stored and returned as a JSON number (needs `permissions: { storage: true }`) |
/// | `count` | a key (empty: `counter`) | the stored counter, 0 if none |
/// | `log` | text | writes it to the plugin's log at INFO; returns `null` |
/// | `call` | `{"plugin": id, "method": m, "input": text or JSON}` | the result of that call through [`HostApi::call_blocking`] (the target must be declared in `requires` or `optional`) |
/// | `fail` | text | fails with that text |
/// | `panic` | text | panics with that text |
/// | `events` | - | how many events it has received, as a JSON number |
#[derive(Debug, Default)]
pub struct Probe {
    host: OnceLock<HostApi>,
    settings: OnceLock<Settings>,
    events: AtomicU64,
}

/// The probe's behaviour, read from its configuration at boot.
#[derive(Debug, Clone, Default)]
struct Settings {
    fail_boot: Option<String>,
    fail_start: Option<String>,
    fail_stop: Option<String>,
    panic_boot: bool,
    hang_boot: bool,
    hang_start: bool,
    hang_stop: bool,
    hang: Duration,
    panic_call: bool,
    record: bool,
    journal: Option<PathBuf>,
    boot_sets: Option<serde_json::Map<String, Value>>,
}

impl Settings {
    fn from_config(config: &Value) -> Result<Settings, PluginError> {
        let text = |key: &str| -> Result<Option<String>, PluginError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => {
                    Err(format!("probe config `{key}` must be a string, not {other}").into())
                }
            }
        };
        let flag = |key: &str| -> Result<bool, PluginError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => {
                    Err(format!("probe config `{key}` must be true or false, not {other}").into())
                }
            }
        };
        let hang = match config.get("hang_ms") {
            None | Some(Value::Null) => DEFAULT_HANG,
            Some(v) => Duration::from_millis(v.as_u64().ok_or_else(|| {
                PluginError::new(format!(
                    "probe config `hang_ms` must be a number of milliseconds, not {v}"
                ))
            })?),
        };
        let boot_sets = match config.get("boot_sets") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(other) => {
                return Err(
                    format!("probe config `boot_sets` must be a mapping, not {other}").into(),
                )
            }
        };
        Ok(Settings {
            fail_boot: text("fail_boot")?,
            fail_start: text("fail_start")?,
            fail_stop: text("fail_stop")?,
            panic_boot: flag("panic_boot")?,
            hang_boot: flag("hang_boot")?,
            hang_start: flag("hang_start")?,
            hang_stop: flag("hang_stop")?,
            hang,
            panic_call: flag("panic_call")?,
            record: flag("record")?,
            journal: text("journal")?.map(PathBuf::from),
            boot_sets,
        })
    }

    /// Writes `event` to the journal and, when recording, to the plugin's log.
    fn note(&self, host: &HostApi, event: &str) {
        if self.record {
            host.log(LogLevel::Info, &format!("probe {event}"));
        }
        let Some(path) = &self.journal else { return };
        let line = format!("{} {event}\n", host.id());
        // One `write_all` on a file opened for appending: lines of concurrent probes never mix.
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(e) = written {
            host.log(
                LogLevel::Error,
                &format!(
                    "probe: cannot append to the journal {}: {e}",
                    path.display()
                ),
            );
        }
    }

    /// Fails, hangs or passes, as configured for a hook.
    fn fault(&self, fail: Option<&String>, hang: bool) -> Result<(), PluginError> {
        if hang {
            std::thread::sleep(self.hang);
        }
        match fail {
            Some(message) => Err(PluginError::new(message.clone())),
            None => Ok(()),
        }
    }
}

impl Probe {
    fn host(&self) -> Result<&HostApi, CallError> {
        self.host
            .get()
            .ok_or_else(|| CallError::plugin("probe", "the probe has not booted"))
    }

    fn settings(&self) -> &Settings {
        static NONE: OnceLock<Settings> = OnceLock::new();
        self.settings
            .get()
            .unwrap_or_else(|| NONE.get_or_init(Settings::default))
    }

    fn counter(&self, host: &HostApi, key: &[u8], add: u64) -> Result<Vec<u8>, CallError> {
        let failed =
            |e: plugboard::StorageError| CallError::plugin(host.id().as_str(), e.to_string());
        let key = if key.is_empty() { DEFAULT_COUNTER } else { key };
        let store = host.storage()?;
        let before = match store.get(key).map_err(failed)? {
            None => 0,
            Some(bytes) => String::from_utf8_lossy(&bytes)
                .parse::<u64>()
                .map_err(|e| {
                    CallError::plugin(
                        host.id().as_str(),
                        format!("the stored counter is not a number: {e}"),
                    )
                })?,
        };
        let now = before + add;
        if add > 0 {
            store.put(key, now.to_string().as_bytes()).map_err(failed)?;
        }
        Ok(now.to_string().into_bytes())
    }

    fn forward(&self, host: &HostApi, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let codec = |message: String| CallError::Codec {
            method: "call".to_owned(),
            message,
        };
        let request: Value = serde_json::from_slice(payload)
            .map_err(|e| codec(format!("the input is not JSON: {e}")))?;
        let field = |key: &str| {
            request[key]
                .as_str()
                .ok_or_else(|| codec(format!("the input needs a string `{key}`")))
        };
        let (plugin, method) = (field("plugin")?, field("method")?);
        let input = match &request["input"] {
            Value::Null => Vec::new(),
            Value::String(text) => text.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        host.call_blocking(plugin, method, &input)
    }
}

impl BuiltinPlugin for Probe {
    fn boot(&mut self, ctx: &mut BootContext) -> Result<(), PluginError> {
        let host = ctx.host().clone();
        let settings = Settings::from_config(ctx.config())?;
        settings.note(&host, "boot");
        if settings.panic_boot {
            panic!("probe {}: panic_boot", host.id());
        }
        if let Some(sets) = &settings.boot_sets {
            if let Value::Object(config) = ctx.config_mut() {
                config.extend(sets.clone());
            }
        }
        settings.fault(settings.fail_boot.as_ref(), settings.hang_boot)?;
        let _ = self.host.set(host);
        let _ = self.settings.set(settings);
        Ok(())
    }

    fn start(&self, host: &HostApi) -> Result<(), PluginError> {
        let s = self.settings();
        s.note(host, "start");
        s.fault(s.fail_start.as_ref(), s.hang_start)
    }

    fn stop(&self, host: &HostApi) -> Result<(), PluginError> {
        let s = self.settings();
        s.note(host, "stop");
        s.fault(s.fail_stop.as_ref(), s.hang_stop)
    }

    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let host = self.host()?;
        let s = self.settings();
        if s.record {
            host.log(LogLevel::Info, &format!("probe call {method}"));
        }
        let text = || String::from_utf8_lossy(payload).into_owned();
        if s.panic_call {
            panic!("probe {}: panic_call ({method})", host.id());
        }
        match method {
            "echo" => Ok(payload.to_vec()),
            "identity" => Ok(
                json!({"id": host.id(), "version": host.version().to_string()})
                    .to_string()
                    .into_bytes(),
            ),
            "config" => Ok(host.config().to_string().into_bytes()),
            "incr" => self.counter(host, payload, 1),
            "count" => self.counter(host, payload, 0),
            "log" => {
                host.log(LogLevel::Info, &text());
                Ok(b"null".to_vec())
            }
            "call" => self.forward(host, payload),
            "fail" => Err(CallError::plugin(host.id().as_str(), text())),
            "panic" => panic!("{}", text()),
            "events" => Ok(self.events.load(Ordering::Relaxed).to_string().into_bytes()),
            _ => Err(CallError::UnknownMethod {
                plugin: host.id().to_string(),
                method: method.to_owned(),
                known: METHODS.iter().map(|m| (*m).to_owned()).collect(),
            }),
        }
    }

    fn on_event(&self, event: &Event) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if let (true, Some(host)) = (self.settings().record, self.host.get()) {
            host.log(LogLevel::Info, &format!("probe event {}", event.topic));
        }
    }
}
