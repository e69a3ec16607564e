//! A loaded native plugin, as the core drives it.

use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use parking_lot::Mutex;
use plugboard_core::manifest::LogLevel;
use plugboard_core::{
    CallError, Health, HealthReport, HostApi, PluginError, PluginInstance, Reply,
};
use plugboard_native_abi::{
    Buf, HookFn, HostTable, Str, STATUS_DENIED, STATUS_NOT_FOUND, STATUS_OK, STATUS_PANIC,
};

use crate::host_table::{take, LEAKED_BYTES};
use crate::loader::{Functions, InstancePtr, Opened};

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
// from any thread (`HostApi` is `Send + Sync`).
unsafe impl Send for TablePtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for TablePtr {}

impl TablePtr {
    fn get(self) -> *const HostTable {
        self.0
    }
}

impl InstancePtr {
    fn get(self) -> *mut c_void {
        self.0
    }
}

pub(crate) struct NativeInstance {
    id: String,
    host: HostApi,
    table: TablePtr,
    functions: Functions,
    instance: OnceLock<InstancePtr>,
    destroyed: AtomicBool,
    crash: Mutex<Option<HealthReport>>,
    copy: PathBuf,
    bytes: u64,
    retired: AtomicBool,
    stats: Arc<Stats>,
}

impl NativeInstance {
    pub(crate) fn new(
        host: HostApi,
        table: &'static HostTable,
        opened: Opened,
        stats: Arc<Stats>,
    ) -> Self {
        stats.loaded_libraries.fetch_add(1, Ordering::Relaxed);
        stats
            .loaded_bytes
            .fetch_add(opened.bytes, Ordering::Relaxed);
        Self {
            id: host.id().to_string(),
            host,
            table: TablePtr(table),
            functions: opened.functions,
            instance: OnceLock::new(),
            destroyed: AtomicBool::new(false),
            crash: Mutex::new(None),
            copy: opened.copy,
            bytes: opened.bytes,
            retired: AtomicBool::new(false),
            stats,
        }
    }

    fn booted(&self) -> Result<InstancePtr, PluginError> {
        match self.instance.get() {
            Some(p) if !self.destroyed.load(Ordering::Acquire) => Ok(*p),
            Some(_) => Err(PluginError::new("the plugin was destroyed")),
            None => Err(PluginError::new("the plugin has not booted")),
        }
    }

    async fn hook(&self, name: &str, hook: Option<HookFn>) -> Result<(), PluginError> {
        let Some(hook) = hook else {
            return Ok(());
        };
        let raw = self.booted()?;
        let (status, bytes) = tokio::task::spawn_blocking(move || {
            let mut out = Buf::EMPTY;
            // SAFETY: `raw` is the instance `boot` returned, not destroyed; `out` is ours.
            let status = unsafe { hook(raw.get(), &mut out) };
            (status, result(out))
        })
        .await
        .map_err(|e| PluginError::new(format!("the {name} hook's thread failed: {e}")))?;
        self.hook_result(name, status, bytes)
    }

    fn hook_result(&self, name: &str, status: i32, bytes: Vec<u8>) -> Result<(), PluginError> {
        if status == STATUS_OK {
            return Ok(());
        }
        let message = String::from_utf8_lossy(&bytes).into_owned();
        if status == STATUS_PANIC {
            self.crashed(name, &message);
        }
        Err(PluginError::new(format!("{name} failed: {message}")))
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
    fn call_error(&self, status: i32, method: &str, bytes: Vec<u8>) -> CallError {
        let message = String::from_utf8_lossy(&bytes).into_owned();
        match status {
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
        let bytes = self.bytes + LEAKED_BYTES;
        self.stats.retired_libraries.fetch_add(1, Ordering::Relaxed);
        self.stats.retired_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.host.log(
            LogLevel::Debug,
            &format!(
                "retired {}: it stays mapped ({bytes} bytes) because unloading a library that may hold thread-local destructors is unsound",
                self.copy.display()
            ),
        );
    }
}

/// The `out` buffer after a plugin function wrote to it.
fn result(out: Buf) -> Vec<u8> {
    // SAFETY: `out` started as `Buf::EMPTY`, and the plugin grew it only through the host's
    // `reserve`; it is not used again.
    unsafe { take(out) }
}

#[async_trait]
impl PluginInstance for NativeInstance {
    async fn boot(
        &self,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError> {
        if self.instance.get().is_some() {
            return Err(PluginError::new("boot was called twice"));
        }
        let json = serde_json::to_vec(&config)
            .map_err(|e| PluginError::new(format!("cannot encode the configuration: {e}")))?;
        let (table, functions) = (self.table, self.functions);
        let (status, raw, bytes) = tokio::task::spawn_blocking(move || {
            let mut raw: *mut c_void = std::ptr::null_mut();
            let mut out = Buf::EMPTY;
            // SAFETY: the table is leaked (valid forever); the config, the slot and `out` are
            // valid for the call.
            let status =
                unsafe { (functions.boot)(table.get(), Str::new(&json), &mut raw, &mut out) };
            (status, InstancePtr(raw), result(out))
        })
        .await
        .map_err(|e| PluginError::new(format!("the boot hook's thread failed: {e}")))?;
        if status != STATUS_OK {
            return self.hook_result("boot", status, bytes).map(|()| None);
        }
        let _ = self.instance.set(raw);
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
        self.hook("start", self.functions.start).await
    }

    async fn stop(&self) -> Result<(), PluginError> {
        self.hook("stop", self.functions.stop).await
    }

    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        let Some(raw) = self.instance.get() else {
            return Reply::ready(Err(CallError::plugin(
                &self.id,
                "the plugin has not booted",
            )));
        };
        let mut out = Buf::EMPTY;
        // SAFETY: `raw` is the instance `boot` returned; the ABI lets `call` run on any thread,
        // concurrently; `method`, `payload` and `out` are valid for the call.
        let status = unsafe {
            (self.functions.call)(raw.get(), Str::text(method), Str::new(payload), &mut out)
        };
        let bytes = result(out);
        if status == STATUS_OK {
            Reply::ready(Ok(bytes))
        } else {
            Reply::ready(Err(self.call_error(status, method, bytes)))
        }
    }

    async fn health(&self) -> Option<HealthReport> {
        self.crash.lock().clone()
    }

    async fn unload(&self) {
        if let (Some(destroy), Ok(raw)) = (self.functions.destroy, self.booted()) {
            self.destroyed.store(true, Ordering::Release);
            // SAFETY: called once, after `stop`, with the instance `boot` returned.
            let _ = tokio::task::spawn_blocking(move || unsafe { destroy(raw.get()) }).await;
        }
        self.retire();
    }
}

impl Drop for NativeInstance {
    fn drop(&mut self) {
        self.retire();
    }
}
