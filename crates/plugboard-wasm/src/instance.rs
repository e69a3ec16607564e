//! A loaded WebAssembly plugin as the core drives it: a pool of guest instances, the lifecycle
//! hooks, and what happens when a guest faults.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use plugboard_core::manifest::LogLevel;
use plugboard_core::{
    CallError, Event, Health, HealthReport, HostApi, PluginError, PluginInstance, Reply,
};

use crate::limits::{Budget, Failure, FaultKind};

/// A lifecycle hook without arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    Start,
    Stop,
}

impl Hook {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hook::Start => "start",
            Hook::Stop => "stop",
        }
    }
}

/// One way of running guests: components or Extism-ABI modules.
pub(crate) trait Flavor: Send + Sync + 'static {
    /// One live guest instance with its store.
    type Guest: Send + 'static;

    /// Creates a fresh instance (from the plugin's `InstancePre`).
    fn instantiate(&self) -> Result<Self::Guest, Failure>;
    /// Runs `boot(config)`; returns an adjusted configuration, if any.
    fn boot(
        &self,
        g: &mut Self::Guest,
        config: &str,
        b: &Budget,
    ) -> Result<Option<String>, Failure>;
    /// Runs `start` or `stop`.
    fn hook(&self, g: &mut Self::Guest, hook: Hook, b: &Budget) -> Result<(), Failure>;
    /// Serves a call.
    fn call(
        &self,
        g: &mut Self::Guest,
        method: &str,
        payload: &[u8],
        b: &Budget,
    ) -> Result<Vec<u8>, Failure>;
    /// Delivers an event.
    fn on_event(
        &self,
        g: &mut Self::Guest,
        topic: &str,
        payload: &[u8],
        b: &Budget,
    ) -> Result<(), Failure>;
}

/// A plugin's shared state: its instance pool and health.
pub(crate) struct Plugin<F: Flavor> {
    pub(crate) id: String,
    pub(crate) host: HostApi,
    pub(crate) flavor: F,
    pub(crate) budget: Budget,
    /// Whether calls may run on the caller's thread: true unless the guest uses WASI I/O,
    /// whose host side needs a thread where blocking on tokio is allowed.
    pub(crate) inline: bool,
    pub(crate) unhealthy_after: u32,
    idle: Mutex<Vec<F::Guest>>,
    /// The configuration every new instance boots with (JSON).
    config: RwLock<Option<String>>,
    booted: AtomicBool,
    faults: AtomicU32,
    health: Mutex<Option<HealthReport>>,
}

impl<F: Flavor> Plugin<F> {
    pub(crate) fn new(
        host: HostApi,
        flavor: F,
        budget: Budget,
        inline: bool,
        unhealthy_after: u32,
    ) -> Self {
        Self {
            id: host.id().to_string(),
            host,
            flavor,
            budget,
            inline,
            unhealthy_after,
            idle: Mutex::new(Vec::new()),
            config: RwLock::new(None),
            booted: AtomicBool::new(false),
            faults: AtomicU32::new(0),
            health: Mutex::new(None),
        }
    }

    /// An idle instance, or a new one booted with the plugin's configuration.
    fn checkout(&self, what: &str) -> Result<F::Guest, CallError> {
        if let Some(g) = self.idle.lock().pop() {
            return Ok(g);
        }
        let Some(config) = self.config.read().clone() else {
            return Err(CallError::plugin(&self.id, "the plugin has not booted"));
        };
        let mut g = self
            .flavor
            .instantiate()
            .map_err(|f| self.failure(what, f))?;
        match self.flavor.boot(&mut g, &config, &self.budget) {
            Ok(_) => Ok(g),
            Err(f) => Err(self.failure(&format!("boot of a new instance for {what}"), f)),
        }
    }

    fn checkin(&self, g: F::Guest) {
        self.idle.lock().push(g);
    }

    /// Runs `op` on a pooled instance; the instance goes back to the pool unless it faulted.
    fn with_guest<R>(
        &self,
        what: &str,
        op: impl FnOnce(&F, &mut F::Guest) -> Result<R, Failure>,
    ) -> Result<R, CallError> {
        let mut g = self.checkout(what)?;
        match op(&self.flavor, &mut g) {
            Ok(r) => {
                self.checkin(g);
                self.succeeded();
                Ok(r)
            }
            Err(Failure::Guest(e)) => {
                self.checkin(g);
                Err(e)
            }
            Err(f) => Err(self.failure(what, f)),
        }
    }

    /// Serves a call on this thread.
    pub(crate) fn call_here(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        self.with_guest(method, |f, g| f.call(g, method, payload, &self.budget))
    }

    fn succeeded(&self) {
        if self.faults.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.faults.store(0, Ordering::Relaxed);
        let report = HealthReport::new(Health::Healthy, "calls succeed again");
        *self.health.lock() = Some(report.clone());
        self.host.report_health(report);
    }

    /// Turns a failure into the caller's error; a fault is logged and counted.
    fn failure(&self, what: &str, f: Failure) -> CallError {
        match f {
            Failure::Guest(e) | Failure::Aborted(e) => e,
            Failure::Fault(kind, message) => {
                let n = self.faults.fetch_add(1, Ordering::Relaxed) + 1;
                self.host.log(
                    LogLevel::Warning,
                    &format!("{what}: {message}; the instance was discarded and will be replaced"),
                );
                let health = if n >= self.unhealthy_after {
                    Health::Unhealthy
                } else {
                    Health::Degraded
                };
                let report =
                    HealthReport::new(health, format!("{n} fault(s) in a row; last: {message}"));
                *self.health.lock() = Some(report.clone());
                self.host.report_health(report);
                if kind == FaultKind::Timeout {
                    CallError::Timeout {
                        plugin: self.id.clone(),
                        method: what.to_owned(),
                        millis: u64::try_from(self.budget.timeout.as_millis()).unwrap_or(u64::MAX),
                    }
                } else {
                    CallError::Crashed {
                        plugin: self.id.clone(),
                        method: what.to_owned(),
                        message,
                    }
                }
            }
        }
    }

    fn boot_here(&self, config: String) -> Result<Option<String>, PluginError> {
        if self.booted.swap(true, Ordering::AcqRel) {
            return Err(PluginError::new("boot was called twice"));
        }
        let mut g = self
            .flavor
            .instantiate()
            .map_err(|f| PluginError::new(self.failure("instantiate", f).to_string()))?;
        let adjusted = self
            .flavor
            .boot(&mut g, &config, &self.budget)
            .map_err(|f| PluginError::new(format!("boot failed: {}", self.failure("boot", f))))?;
        *self.config.write() = Some(adjusted.clone().unwrap_or(config));
        self.checkin(g);
        Ok(adjusted)
    }

    fn hook_here(&self, hook: Hook) -> Result<(), PluginError> {
        self.with_guest(hook.name(), |f, g| f.hook(g, hook, &self.budget))
            .map_err(|e| PluginError::new(format!("{} failed: {e}", hook.name())))
    }

    fn event_here(&self, topic: &str, payload: &[u8]) {
        if let Err(e) = self.with_guest("on-event", |f, g| {
            f.on_event(g, topic, payload, &self.budget)
        }) {
            self.host.log(
                LogLevel::Warning,
                &format!("on-event for topic {topic:?} failed: {e}"),
            );
        }
    }
}

/// The [`PluginInstance`] the core sees.
pub(crate) struct WasmInstance<F: Flavor> {
    plugin: Arc<Plugin<F>>,
}

impl<F: Flavor> WasmInstance<F> {
    pub(crate) fn new(plugin: Plugin<F>) -> Self {
        Self {
            plugin: Arc::new(plugin),
        }
    }

    /// Whether work must leave this thread: the guest uses WASI I/O and this thread is in a
    /// tokio runtime, where wasmtime-wasi's blocking bridge would panic.
    fn offload(&self) -> bool {
        !self.plugin.inline && tokio::runtime::Handle::try_current().is_ok()
    }

    async fn blocking<R: Send + 'static>(
        &self,
        what: &str,
        op: impl FnOnce(&Plugin<F>) -> R + Send + 'static,
    ) -> Result<R, String> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(op(&self.plugin));
        }
        let p = self.plugin.clone();
        tokio::task::spawn_blocking(move || op(&p))
            .await
            .map_err(|e| {
                format!(
                    "plugin {}: the thread running {what} failed: {e}",
                    self.plugin.id
                )
            })
    }
}

#[async_trait]
impl<F: Flavor> PluginInstance for WasmInstance<F> {
    async fn boot(
        &self,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError> {
        let json = serde_json::to_string(&config)
            .map_err(|e| PluginError::new(format!("cannot encode the configuration: {e}")))?;
        let adjusted = self
            .blocking("boot", move |p| p.boot_here(json))
            .await
            .map_err(PluginError::new)??;
        match adjusted {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                PluginError::new(format!(
                    "boot returned an adjusted configuration that is not JSON: {e}"
                ))
            }),
        }
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.blocking("start", |p| p.hook_here(Hook::Start))
            .await
            .map_err(PluginError::new)?
    }

    async fn stop(&self) -> Result<(), PluginError> {
        self.blocking("stop", |p| p.hook_here(Hook::Stop))
            .await
            .map_err(PluginError::new)?
    }

    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        if !self.offload() {
            return Reply::ready(self.plugin.call_here(method, payload));
        }
        let p = self.plugin.clone();
        let (m, bytes) = (method.to_owned(), payload.to_vec());
        Reply::pending(async move {
            tokio::task::spawn_blocking(move || p.call_here(&m, &bytes))
                .await
                .unwrap_or_else(|e| {
                    Err(CallError::Crashed {
                        plugin: self.plugin.id.clone(),
                        method: method.to_owned(),
                        message: format!("the thread running the call failed: {e}"),
                    })
                })
        })
    }

    async fn on_event(&self, event: &Event) {
        let (topic, payload) = (event.topic.clone(), event.payload.to_vec());
        let _ = self
            .blocking("on-event", move |p| p.event_here(&topic, &payload))
            .await;
    }

    async fn health(&self) -> Option<HealthReport> {
        self.plugin.health.lock().clone()
    }

    async fn unload(&self) {
        self.plugin.idle.lock().clear();
    }
}
