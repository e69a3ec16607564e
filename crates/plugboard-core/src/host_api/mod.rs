//! The host API: what every plugin may use, whatever its runtime.
//!
//! Each plugin gets its own [`HostApi`]. Runtimes map it onto their own mechanism (WIT imports,
//! Extism host functions, a gRPC service through go-plugin's broker, a C callback table); a
//! builtin plugin calls it directly. It is the only way a plugin reaches the host: it never sees
//! another plugin's storage, configuration or log.

mod config;
mod log;
mod storage;

use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use plugboard_manifest::{FsPermissions, LogLevel, Permissions, PluginId};
use semver::Version;

pub use self::config::{ConfigError, ConfigProblem, ConfigValidator};
pub use self::log::{read_log, PluginLog, Rotation, TRACING_TARGET};
pub use self::storage::{PluginStore, StorageBackend, StorageError, MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::events::Event;
use crate::host::HostInner;
use crate::services::{Service, ServiceHandle};
use crate::{CallError, Descriptor, HealthReport};

/// What a plugin may do: what its manifest asks for, narrowed by the operator's `grant` when the
/// host configuration has one for it. Without a `grant`, the request stands (the operator
/// accepted it by installing the plugin); runtimes that sandbox still enforce exactly this set.
pub fn effective_permissions(requested: &Permissions, grant: Option<&Permissions>) -> Permissions {
    let Some(g) = grant else {
        return requested.clone();
    };
    let keep = |asked: &[String], allowed: &[String]| -> Vec<String> {
        asked
            .iter()
            .filter(|a| allowed.contains(a))
            .cloned()
            .collect()
    };
    let readable: Vec<String> = g.fs.read.iter().chain(&g.fs.write).cloned().collect();
    Permissions {
        fs: FsPermissions {
            read: keep(&requested.fs.read, &readable),
            write: keep(&requested.fs.write, &g.fs.write),
        },
        net: keep(&requested.net, &g.net),
        env: keep(&requested.env, &g.env),
        storage: requested.storage && g.storage,
    }
}

/// Per-plugin data the host API serves; shared by the plugin's [`HostApi`] and the host.
pub(crate) struct PluginContext {
    pub(crate) descriptor: Arc<Descriptor>,
    /// The slot generation this context belongs to (a new one per version after a reload).
    pub(crate) generation: u64,
    pub(crate) log: PluginLog,
    pub(crate) config: RwLock<Arc<serde_json::Value>>,
    pub(crate) reported_health: Mutex<Option<HealthReport>>,
    /// The effective permissions ([`effective_permissions`]).
    pub(crate) permissions: Permissions,
    /// State the previous version exported on a hot reload (`reload: { handoff: true }`),
    /// waiting for this version to take it while it boots.
    pub(crate) handoff: Mutex<Option<Vec<u8>>>,
}

impl fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginContext")
            .field("plugin", self.descriptor.id())
            .finish_non_exhaustive()
    }
}

/// One plugin's handle on the host.
///
/// Cheap to clone. It holds the host weakly: once the host is dropped, calls through it fail
/// with a clear error instead of keeping the host alive.
#[derive(Clone)]
pub struct HostApi {
    ctx: Arc<PluginContext>,
    host: Weak<HostInner>,
}

impl fmt::Debug for HostApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostApi")
            .field("plugin", self.id())
            .finish_non_exhaustive()
    }
}

impl HostApi {
    pub(crate) fn new(ctx: Arc<PluginContext>, host: Weak<HostInner>) -> Self {
        Self { ctx, host }
    }

    fn host(&self) -> Result<Arc<HostInner>, CallError> {
        self.host.upgrade().ok_or_else(|| {
            CallError::Denied(format!(
                "plugin {}: the host has shut down",
                self.ctx.descriptor.id()
            ))
        })
    }

    /// This plugin's id.
    pub fn id(&self) -> &PluginId {
        self.ctx.descriptor.id()
    }

    /// This plugin's version.
    pub fn version(&self) -> &Version {
        self.ctx.descriptor.version()
    }

    /// This plugin's descriptor (manifest and directory).
    pub fn descriptor(&self) -> &Descriptor {
        &self.ctx.descriptor
    }

    /// The host's state directory (logs, storage, runtime caches), for runtimes that keep
    /// per-host state such as compiled modules. `None` once the host is gone.
    pub fn state_dir(&self) -> Option<std::path::PathBuf> {
        self.host.upgrade().and_then(|h| h.config.state_dir.clone())
    }

    /// Takes the state the previous version of this plugin handed over on a hot reload, if
    /// any (see the manifest's `reload: { handoff: true }`).
    ///
    /// Meant for a runtime's `boot`: a runtime that delivers the state to its plugin while it
    /// boots takes it here; state that is still here after `boot` is given to the plugin with
    /// [`PluginInstance::import_state`](crate::PluginInstance::import_state). Builtin plugins
    /// read it with [`BootContext::handoff`](crate::BootContext::handoff). Returns `None`
    /// after the first take, on a first start, and when the old version exported nothing.
    pub fn take_handoff(&self) -> Option<Vec<u8>> {
        self.ctx.handoff.lock().take()
    }

    /// Writes a record to this plugin's log file (and the host's log) if `level` is enabled.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.ctx.log.record(level, message, &[]);
    }

    /// Writes a record with structured fields.
    pub fn log_with(&self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        self.ctx.log.record(level, message, fields);
    }

    /// Whether records at `level` are written; skip building expensive messages when not.
    pub fn log_enabled(&self, level: LogLevel) -> bool {
        self.ctx.log.enabled(level)
    }

    /// The plugin's effective configuration: validated against its schema, defaults applied,
    /// as adjusted by its `boot` hook.
    pub fn config(&self) -> Arc<serde_json::Value> {
        self.ctx.config.read().clone()
    }

    /// What this plugin may do: its manifest's permissions narrowed by the operator's `grant`
    /// ([`effective_permissions`]). Runtimes that sandbox a plugin enforce exactly this set.
    pub fn permissions(&self) -> &Permissions {
        &self.ctx.permissions
    }

    /// The plugin's key-value store.
    ///
    /// # Errors
    /// [`CallError::Denied`] when the manifest does not ask for `permissions: { storage: true }`
    /// (or the host configuration does not grant it).
    pub fn storage(&self) -> Result<PluginStore, CallError> {
        if !self.ctx.permissions.storage {
            let msg = format!(
                "plugin {}: storage is not permitted; add `permissions: {{ storage: true }}` to its plugin.yaml (and grant it in config.yaml if the host restricts grants)",
                self.id()
            );
            self.log(LogLevel::Warning, &msg);
            return Err(CallError::Denied(msg));
        }
        Ok(self.host()?.storage.namespace(self.id()))
    }

    /// Reports this plugin's health; shown beside its state until the next report.
    pub fn report_health(&self, report: HealthReport) {
        self.log(
            match report.health {
                crate::Health::Healthy => LogLevel::Debug,
                crate::Health::Degraded => LogLevel::Warning,
                crate::Health::Unhealthy => LogLevel::Error,
            },
            &format!("health: {} ({})", report.health, report.message),
        );
        *self.ctx.reported_health.lock() = Some(report);
    }

    /// Reports that this plugin's instance failed on its own, outside any hook or call: for a
    /// runtime whose plugins can die by themselves (a process plugin that crashed more often
    /// than its restart policy allows). The plugin becomes `failed` with `reason` (say why and
    /// quote what the plugin last said), its services and subscriptions are withdrawn, its
    /// instance is unloaded, and the plugins that depend on it are told in their logs.
    ///
    /// Returns at once; the transition happens on the host's runtime. Does nothing unless the
    /// plugin is active.
    pub fn report_failure(&self, reason: impl Into<String>) {
        if let Ok(host) = self.host() {
            host.report_failure(&self.ctx, reason.into());
        }
    }

    /// Publishes an event on `topic`.
    ///
    /// # Errors
    /// When the host has shut down, or the topic is one the host reserves (`plugin.*`).
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), CallError> {
        if topic.starts_with("plugin.") {
            return Err(CallError::Denied(format!(
                "plugin {}: topics under `plugin.` are reserved for the host; publish on a topic of your own, such as `{}.{}`",
                self.id(),
                self.id(),
                topic.trim_start_matches("plugin.")
            )));
        }
        let mut event = Event::new(topic, payload);
        event.source = Some(self.id().clone());
        self.host()?.events.publish(event);
        Ok(())
    }

    /// Calls `method` on plugin `target`, which must be declared in this plugin's `requires` or
    /// `optional`. A lazy target is started first.
    ///
    /// # Errors
    /// [`CallError::Denied`] for an undeclared target, or the call's own error.
    pub async fn call(
        &self,
        target: &str,
        method: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        self.check_declared(target, "call")?;
        let host = self.host()?;
        host.call(target, method, payload).await
    }

    /// Like [`HostApi::call`], for code that cannot await (a builtin plugin's `call`).
    ///
    /// A builtin or native target answers at once. A target that answers later (process,
    /// WebAssembly) is waited for on the host's runtime.
    ///
    /// # Errors
    /// As for [`HostApi::call`].
    pub fn call_blocking(
        &self,
        target: &str,
        method: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        self.check_declared(target, "call")?;
        let host = self.host()?;
        crate::host::block_on(&host, host.call(target, method, payload))
    }

    /// Registers a service under `id` (conventionally prefixed with this plugin's id). It is
    /// withdrawn when this plugin stops.
    ///
    /// # Errors
    /// When another plugin registered the same id.
    pub fn register_service(&self, id: &str, service: Arc<dyn Service>) -> Result<(), CallError> {
        self.host()?
            .services
            .register(self.id(), self.ctx.generation, id, service)
    }

    /// Resolves service `id`. Its provider must be declared in this plugin's `requires` or
    /// `optional`.
    ///
    /// # Errors
    /// [`CallError::Denied`] when the provider is not declared, or no such service is registered.
    pub fn service(&self, id: &str) -> Result<ServiceHandle, CallError> {
        let host = self.host()?;
        let handle = host.services.get(id).ok_or_else(|| {
            CallError::Denied(format!(
                "plugin {}: no service {id:?} is registered; its provider registers it in `start`",
                self.id()
            ))
        })?;
        if handle.provider() != self.id() {
            self.check_declared(handle.provider().as_str(), "use services of")?;
        }
        Ok(handle)
    }

    fn check_declared(&self, target: &str, what: &str) -> Result<(), CallError> {
        let m = &self.ctx.descriptor.manifest;
        if target == m.id.as_str()
            || m.requires.contains_key(target)
            || m.optional.contains_key(target)
        {
            return Ok(());
        }
        let msg = format!(
            "plugin {} may not {what} {target}: declare it under `requires` or `optional` in its plugin.yaml",
            m.id
        );
        self.log(LogLevel::Warning, &msg);
        Err(CallError::Denied(msg))
    }
}
