//! `plugboard-native-shim`: runs one native plugin library in a process of its own, for
//! `native: { isolation: process }`.
//!
//! ```text
//! plugboard-native-shim --plugin ID --version VERSION [--sha256 HEX] LIBRARY
//! ```
//!
//! The native runtime starts it through the process runtime, which gives it go-plugin's
//! environment and supervises it; it is not meant to be run by hand. It opens `LIBRARY` with
//! `plugboard-native-loader` (the same checks as in process: ELF header, digest, descriptor, id
//! and version), then serves it with `plugboard-pdk`'s process serving:
//! - `Boot`/`Start`/`Stop` run the descriptor's `boot`/`start`/`stop`; `Call` runs its `call`,
//!   including the reserved hand-off methods `plugboard.export_state` and
//!   `plugboard.import_state`, which the library's own export routes;
//! - the C host table the library gets is backed by the host API the host offers through the
//!   broker (log, configuration, storage, events, calls to other plugins); health the library
//!   reports is answered to the host's health checks;
//! - when the host shuts the process down, the descriptor's `destroy` runs, then it exits.
//!
//! A segfault, `abort` or `exit` in the library ends this process only; the process runtime
//! notices, fails the call in flight, and restarts it under the manifest's `process.restart`.
// One unsafe call: the descriptor's `destroy`, whose contract (no call after it) `main` keeps.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use plugboard_native_loader::abi::{self, health, level};
use plugboard_native_loader::{
    leak_host_table, Copies, Failure, HostServices, Library, LibrarySpec, Plugin,
};
use plugboard_pdk::process::{
    async_trait, serve_with, HealthStatus, ProcessHost, ProcessPlugin, ServeConfig, ServeError,
};
use plugboard_pdk::{Error, Level, EXPORT_STATE_METHOD, IMPORT_STATE_METHOD};
use tokio::runtime::Handle;

const USAGE: &str =
    "usage: plugboard-native-shim --plugin ID --version VERSION [--sha256 HEX] LIBRARY";

/// The command line.
#[derive(Debug)]
struct Args {
    spec: LibrarySpec,
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut args = args.into_iter().skip(1);
    let (mut plugin, mut version, mut sha256, mut library) = (None, None, None, None);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.into_string().ok())
                .ok_or_else(|| format!("{name} needs a UTF-8 value"))
        };
        match arg.to_str() {
            Some("--plugin") => plugin = Some(value("--plugin")?),
            Some("--version") => version = Some(value("--version")?),
            Some("--sha256") => sha256 = Some(value("--sha256")?),
            Some(flag) if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if library.is_none() => library = Some(PathBuf::from(arg)),
            _ => return Err("only one LIBRARY may be given".to_owned()),
        }
    }
    let (Some(plugin), Some(version), Some(library)) = (plugin, version, library) else {
        return Err("--plugin, --version and LIBRARY are required".to_owned());
    };
    let mut spec = LibrarySpec::new(plugin, version, library);
    spec.sha256 = sha256;
    Ok(Args { spec })
}

fn main() -> ExitCode {
    let args = match parse(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("plugboard-native-shim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = ServeConfig::default();
    if std::env::var(&config.cookie_key).ok().as_deref() != Some(config.cookie_value.as_str()) {
        eprintln!("{}", ServeError::NotAPluginHost);
        return ExitCode::from(1);
    }
    // TMPDIR is the private directory the process runtime made for this start.
    let copies = Copies::new(std::env::temp_dir());
    let library = match Library::load(&args.spec, &copies) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("[ERROR] {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("[ERROR] cannot start the shim's runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let services = Arc::new(Services {
        handle: runtime.handle().clone(),
        host: OnceLock::new(),
        health: Mutex::new(None),
    });
    let shim = Arc::new(Shim {
        library,
        services: services.clone(),
        plugin: OnceLock::new(),
        stopped: AtomicBool::new(false),
    });
    let served = runtime.block_on(serve_with(ShimPlugin(shim.clone()), config));
    if let (Some(plugin), true) = (shim.plugin.get(), shim.stopped.load(Ordering::Acquire)) {
        // SAFETY: the server has stopped, so no call reaches the plugin any more, and `stop`
        // ran: this is the end of the instance, as `unload` is in process.
        unsafe { plugin.destroy() };
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ERROR] {e}");
            ExitCode::from(1)
        }
    }
}

/// The host services behind the library's C host table: the host API the host offers over the
/// broker, called from the library's (blocking) threads.
struct Services {
    handle: Handle,
    host: OnceLock<ProcessHost>,
    /// What the library last reported with `report_health`, or a panic the shim saw.
    health: Mutex<Option<(HealthStatus, String)>>,
}

impl Services {
    /// Runs a host API request to completion. The library's code runs on blocking threads (or
    /// threads of its own), never on the runtime's workers, so blocking here is allowed.
    fn request<T>(
        &self,
        f: impl AsyncFnOnce(&ProcessHost) -> Result<T, Error>,
    ) -> Result<T, Failure> {
        let host = self
            .host
            .get()
            .ok_or_else(|| Failure::error("the host API is not available before boot"))?;
        self.handle.block_on(f(host)).map_err(failure)
    }

    fn set_health(&self, status: HealthStatus, message: String) {
        *self.health.lock() = Some((status, message));
    }
}

/// A pdk error as the C ABI carries it.
fn failure(e: Error) -> Failure {
    Failure::new(e.status(), e.message().to_owned())
}

/// A storage key under isolation: the host API's keys are strings.
fn key(key: &[u8]) -> Result<&str, Failure> {
    std::str::from_utf8(key).map_err(|_| {
        Failure::error(
            "storage keys must be UTF-8 for a plugin under `isolation: process` (the host API's keys are strings)",
        )
    })
}

impl HostServices for Services {
    fn log(&self, value: i32, message: &str) {
        let level = match value {
            i32::MIN..=level::TRACE => Level::Trace,
            level::DEBUG => Level::Debug,
            level::INFO => Level::Info,
            level::WARNING => Level::Warning,
            _ => Level::Error,
        };
        // A record that cannot reach the host goes to stderr, which the host also logs.
        if self.request(async |h| h.log(level, message).await).is_err() {
            eprintln!("{message}");
        }
    }

    fn config(&self) -> Result<Vec<u8>, Failure> {
        let config = self.request(async |h| h.config().await)?;
        serde_json::to_vec(&config).map_err(|e| Failure::error(e.to_string()))
    }

    fn storage_get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        let k = key(k)?;
        self.request(async |h| h.storage_get(k).await)
    }

    fn storage_put(&self, k: &[u8], value: &[u8]) -> Result<(), Failure> {
        let k = key(k)?;
        self.request(async |h| h.storage_put(k, value).await)
    }

    fn storage_delete(&self, k: &[u8]) -> Result<bool, Failure> {
        let k = key(k)?;
        self.request(async |h| h.storage_delete(k).await)
    }

    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), Failure> {
        self.request(async |h| h.publish(topic, payload).await)
    }

    fn report_health(&self, value: i32, message: &str) {
        let status = match value {
            health::HEALTHY => HealthStatus::Healthy,
            health::DEGRADED => HealthStatus::Degraded,
            _ => HealthStatus::Unhealthy,
        };
        self.set_health(status, message.to_owned());
    }

    fn call(&self, target: &str, method: &str, payload: &[u8]) -> Result<Vec<u8>, Failure> {
        self.request(async |h| h.call_plugin(target, method, payload).await)
    }
}

/// The library, booted once.
struct Shim {
    library: Library,
    services: Arc<Services>,
    plugin: OnceLock<Plugin>,
    stopped: AtomicBool,
}

impl Shim {
    fn plugin(&self) -> Result<Plugin, Error> {
        self.plugin
            .get()
            .copied()
            .ok_or_else(|| Error::new("the plugin has not booted"))
    }

    /// A failure of the library's `what` as the pdk's error; a panic also makes the plugin
    /// unhealthy, as it does in process.
    fn error(&self, what: &str, f: Failure) -> Error {
        match f.status {
            abi::STATUS_NOT_FOUND => {
                let known: Vec<&str> = f
                    .message
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .collect();
                Error::unknown_method(&known)
            }
            abi::STATUS_DENIED => Error::denied(f.message),
            abi::STATUS_PANIC => {
                let message = if f.message.contains("panic") {
                    f.message
                } else {
                    format!("panicked: {}", f.message)
                };
                self.services.set_health(
                    HealthStatus::Unhealthy,
                    format!("panicked during {what}: {message}"),
                );
                Error::new(message)
            }
            _ => Error::new(f.message),
        }
    }

    /// Runs plugin code on a blocking thread, so that its host requests may block.
    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::new(format!("the shim's thread for the plugin failed: {e}")))
    }

    async fn call(&self, method: &str, payload: Vec<u8>) -> Result<Vec<u8>, Error> {
        let plugin = self.plugin()?;
        let m = method.to_owned();
        Self::blocking(move || plugin.call(&m, &payload))
            .await?
            .map_err(|f| self.error(&format!("call {method:?}"), f))
    }
}

/// The pdk's view of the shim (a newtype: the pdk wants ownership, `main` keeps a handle).
struct ShimPlugin(Arc<Shim>);

#[async_trait]
impl ProcessPlugin for ShimPlugin {
    async fn boot(
        &self,
        host: &ProcessHost,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, Error> {
        let shim = &self.0;
        if shim.plugin.get().is_some() {
            return Err(Error::new("boot was called twice"));
        }
        let _ = shim.services.host.set(host.clone());
        let json = serde_json::to_vec(&config)
            .map_err(|e| Error::new(format!("cannot encode the configuration: {e}")))?;
        let services = SharedServices(shim.services.clone());
        let library = self.0.clone();
        let booted = Shim::blocking(move || {
            library
                .library
                .boot(leak_host_table(Box::new(services)), &json)
        })
        .await?;
        let (plugin, adjusted) = booted.map_err(|f| shim.error("boot", f))?;
        let _ = shim.plugin.set(plugin);
        if adjusted.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&adjusted).map(Some).map_err(|e| {
            Error::new(format!(
                "boot returned an adjusted configuration that is not JSON: {e}"
            ))
        })
    }

    async fn start(&self, _: &ProcessHost) -> Result<(), Error> {
        let plugin = self.0.plugin()?;
        Shim::blocking(move || plugin.start())
            .await?
            .map_err(|f| self.0.error("start", f))
    }

    async fn stop(&self, _: &ProcessHost) -> Result<(), Error> {
        let plugin = self.0.plugin()?;
        let stopped = Shim::blocking(move || plugin.stop())
            .await?
            .map_err(|f| self.0.error("stop", f));
        self.0.stopped.store(true, Ordering::Release);
        stopped
    }

    async fn call(
        &self,
        _: &ProcessHost,
        method: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        self.0.call(method, payload).await
    }

    async fn health(&self) -> Option<(HealthStatus, String)> {
        self.0.services.health.lock().clone()
    }

    // The library's own export routes the reserved hand-off methods to its hooks.
    async fn export_state(&self, _: &ProcessHost) -> Result<Vec<u8>, Error> {
        self.0.call(EXPORT_STATE_METHOD, Vec::new()).await
    }

    async fn import_state(&self, _: &ProcessHost, state: Vec<u8>) -> Result<(), Error> {
        self.0.call(IMPORT_STATE_METHOD, state).await.map(drop)
    }
}

/// The services, shared between the leaked host table and the shim.
struct SharedServices(Arc<Services>);

impl HostServices for SharedServices {
    fn log(&self, level: i32, message: &str) {
        self.0.log(level, message);
    }
    fn config(&self) -> Result<Vec<u8>, Failure> {
        self.0.config()
    }
    fn storage_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        self.0.storage_get(key)
    }
    fn storage_put(&self, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        self.0.storage_put(key, value)
    }
    fn storage_delete(&self, key: &[u8]) -> Result<bool, Failure> {
        self.0.storage_delete(key)
    }
    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), Failure> {
        self.0.publish(topic, payload)
    }
    fn report_health(&self, health: i32, message: &str) {
        self.0.report_health(health, message);
    }
    fn call(&self, target: &str, method: &str, payload: &[u8]) -> Result<Vec<u8>, Failure> {
        self.0.call(target, method, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(
            std::iter::once("shim")
                .chain(list.iter().copied())
                .map(OsString::from),
        )
    }

    #[test]
    fn the_command_line_names_the_library_and_what_it_must_be() {
        let a = args(&[
            "--plugin",
            "p",
            "--version",
            "1.0.0",
            "--sha256",
            "ab",
            "/x.so",
        ])
        .unwrap();
        assert_eq!(
            a.spec,
            LibrarySpec::new("p", "1.0.0", "/x.so").with_sha256("ab")
        );
        assert!(args(&["/x.so"]).unwrap_err().contains("required"));
        assert!(args(&["--plugin"]).unwrap_err().contains("needs"));
        assert!(args(&["--what", "/x.so"]).unwrap_err().contains("unknown"));
        assert!(args(&["--plugin", "p", "--version", "1", "/a", "/b"])
            .unwrap_err()
            .contains("only one"));
    }
}
