//! A native plugin loaded in process, as the core drives it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use parking_lot::Mutex;
use plugboard_core::manifest::LogLevel;
use plugboard_core::{
    CallError, Health, HealthReport, HostApi, PluginError, PluginInstance, Reply,
};
use plugboard_native_loader::abi::{HostTable, STATUS_DENIED, STATUS_NOT_FOUND, STATUS_PANIC};
use plugboard_native_loader::{Failure, Library, Plugin, LEAKED_BYTES};

/// What the runtime has loaded and retired, shared by its instances.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) loaded_libraries: AtomicU64,
    pub(crate) loaded_bytes: AtomicU64,
    pub(crate) retired_libraries: AtomicU64,
    pub(crate) retired_bytes: AtomicU64,
}

/// The leaked host table, as a pointer that may cross threads.
#[derive(Clone, Copy)]
struct TablePtr(*const HostTable);

// SAFETY: the table is leaked (valid forever), never mutated, and its functions may be called
// from any thread (its services are `Send + Sync`).
unsafe impl Send for TablePtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for TablePtr {}

impl TablePtr {
    fn get(self) -> &'static HostTable {
        // SAFETY: the pointer came from a `&'static HostTable` (a leaked table).
        unsafe { &*self.0 }
    }
}

pub(crate) struct NativeInstance {
    id: String,
    host: HostApi,
    table: TablePtr,
    library: Arc<Library>,
    plugin: OnceLock<Plugin>,
    destroyed: AtomicBool,
    crash: Mutex<Option<HealthReport>>,
    retired: AtomicBool,
    stats: Arc<Stats>,
}

impl NativeInstance {
    pub(crate) fn new(
        host: HostApi,
        table: &'static HostTable,
        library: Library,
        stats: Arc<Stats>,
    ) -> Self {
        stats.loaded_libraries.fetch_add(1, Ordering::Relaxed);
        stats
            .loaded_bytes
            .fetch_add(library.size(), Ordering::Relaxed);
        Self {
            id: host.id().to_string(),
            host,
            table: TablePtr(table),
            library: Arc::new(library),
            plugin: OnceLock::new(),
            destroyed: AtomicBool::new(false),
            crash: Mutex::new(None),
            retired: AtomicBool::new(false),
            stats,
        }
    }

    fn booted(&self) -> Result<Plugin, PluginError> {
        match self.plugin.get() {
            Some(p) if !self.destroyed.load(Ordering::Acquire) => Ok(*p),
            Some(_) => Err(PluginError::new("the plugin was destroyed")),
            None => Err(PluginError::new("the plugin has not booted")),
        }
    }

    async fn hook(
        &self,
        name: &str,
        hook: fn(&Plugin) -> Result<(), Failure>,
    ) -> Result<(), PluginError> {
        let plugin = self.booted()?;
        let outcome = tokio::task::spawn_blocking(move || hook(&plugin))
            .await
            .map_err(|e| PluginError::new(format!("the {name} hook's thread failed: {e}")))?;
        self.hook_result(name, outcome)
    }

    fn hook_result(&self, name: &str, outcome: Result<(), Failure>) -> Result<(), PluginError> {
        let Err(f) = outcome else {
            return Ok(());
        };
        if f.status == STATUS_PANIC {
            self.crashed(name, &f.message);
        }
        Err(PluginError::new(format!("{name} failed: {}", f.message)))
    }

    /// Records a panic the plugin caught: the plugin is unhealthy from now on.
    fn crashed(&self, what: &str, message: &str) {
        let report = HealthReport::new(
            Health::Unhealthy,
            format!("panicked during {what}: {message}"),
        );
        *self.crash.lock() = Some(report.clone());
        self.host.report_health(report);
    }

    #[cold]
    fn call_error(&self, method: &str, f: Failure) -> CallError {
        let message = f.message;
        match f.status {
            STATUS_NOT_FOUND => CallError::UnknownMethod {
                plugin: self.id.clone(),
                method: method.to_owned(),
                known: message
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            STATUS_DENIED => CallError::Denied(format!("plugin {}: {message}", self.id)),
            STATUS_PANIC => {
                let message = if message.contains("panic") {
                    message
                } else {
                    format!("panicked: {message}")
                };
                self.crashed(&format!("call {method:?}"), &message);
                CallError::Crashed {
                    plugin: self.id.clone(),
                    method: method.to_owned(),
                    message,
                }
            }
            _ => CallError::Plugin {
                plugin: self.id.clone(),
                message,
            },
        }
    }

    /// Accounts for the library staying mapped for the rest of the process.
    fn retire(&self) {
        if self.retired.swap(true, Ordering::AcqRel) {
            return;
        }
        let bytes = self.library.size() + LEAKED_BYTES;
        self.stats.retired_libraries.fetch_add(1, Ordering::Relaxed);
        self.stats.retired_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.host.log(
            LogLevel::Debug,
            &format!(
                "retired {}: it stays mapped ({bytes} bytes) because unloading a library that may hold thread-local destructors is unsound",
                self.library.copy().display()
            ),
        );
    }
}

#[async_trait]
impl PluginInstance for NativeInstance {
    async fn boot(
        &self,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError> {
        if self.plugin.get().is_some() {
            return Err(PluginError::new("boot was called twice"));
        }
        let json = serde_json::to_vec(&config)
            .map_err(|e| PluginError::new(format!("cannot encode the configuration: {e}")))?;
        let (table, library) = (self.table, self.library.clone());
        let booted = tokio::task::spawn_blocking(move || library.boot(table.get(), &json))
            .await
            .map_err(|e| PluginError::new(format!("the boot hook's thread failed: {e}")))?;
        let (plugin, bytes) = match booted {
            Ok(b) => b,
            Err(f) => return self.hook_result("boot", Err(f)).map(|()| None),
        };
        let _ = self.plugin.set(plugin);
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            PluginError::new(format!(
                "boot returned an adjusted configuration that is not JSON: {e}"
            ))
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.hook("start", Plugin::start).await
    }

    async fn stop(&self) -> Result<(), PluginError> {
        self.hook("stop", Plugin::stop).await
    }

    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        let Some(plugin) = self.plugin.get() else {
            return Reply::ready(Err(CallError::plugin(
                &self.id,
                "the plugin has not booted",
            )));
        };
        match plugin.call(method, payload) {
            Ok(bytes) => Reply::ready(Ok(bytes)),
            Err(f) => Reply::ready(Err(self.call_error(method, f))),
        }
    }

    async fn health(&self) -> Option<HealthReport> {
        self.crash.lock().clone()
    }

    async fn unload(&self) {
        if let Ok(plugin) = self.booted() {
            if plugin.has_destroy() {
                self.destroyed.store(true, Ordering::Release);
                // SAFETY: called once, after `stop`, when the core no longer routes calls to
                // the plugin (see the crate documentation on `destroy`).
                let _ = tokio::task::spawn_blocking(move || unsafe { plugin.destroy() }).await;
            }
        }
        self.retire();
    }
}

impl Drop for NativeInstance {
    fn drop(&mut self) {
        self.retire();
    }
}
