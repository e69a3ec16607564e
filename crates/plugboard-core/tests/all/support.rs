//! What every test shares: a builtin plugin whose hooks are closures, a journal of what ran, and
//! manifests written inline.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use plugboard_core::manifest::Manifest;
use plugboard_core::{
    BootContext, BuiltinPlugin, CallError, Event, HealthReport, HostApi, PluginError, StateChange,
};

/// What the plugins of one test did, in order: `a.boot`, `a.start`, `b.call:echo`, ...
#[derive(Clone, Default)]
pub(crate) struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().push(entry.into());
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().clone()
    }

    /// The entries that end with `.{what}` (`boot`, `start`, `stop`), as plugin ids.
    pub(crate) fn ids_of(&self, what: &str) -> Vec<String> {
        let suffix = format!(".{what}");
        self.entries()
            .iter()
            .filter_map(|e| e.strip_suffix(&suffix).map(str::to_owned))
            .collect()
    }

    pub(crate) fn position(&self, entry: &str) -> usize {
        let entries = self.entries();
        entries
            .iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("{entry} is not in the journal {entries:?}"))
    }

    pub(crate) fn contains(&self, entry: &str) -> bool {
        self.0.lock().iter().any(|e| e == entry)
    }
}

type BootFn = dyn Fn(&mut BootContext) -> Result<(), PluginError> + Send + Sync;
type HookFn = dyn Fn(&HostApi) -> Result<(), PluginError> + Send + Sync;
type CallFn = dyn Fn(&HostApi, &str, &[u8]) -> Result<Vec<u8>, CallError> + Send + Sync;
type EventFn = dyn Fn(&HostApi, &Event) + Send + Sync;
type HealthFn = dyn Fn() -> Option<HealthReport> + Send + Sync;

/// A builtin plugin made of closures. Unset hooks succeed; an unset `call` echoes its payload.
/// Every hook and call is written to the journal under the plugin's id.
#[derive(Clone, Default)]
pub(crate) struct Probe {
    journal: Journal,
    boot: Option<Arc<BootFn>>,
    start: Option<Arc<HookFn>>,
    stop: Option<Arc<HookFn>>,
    call: Option<Arc<CallFn>>,
    event: Option<Arc<EventFn>>,
    health: Option<Arc<HealthFn>>,
    keep: Option<ApiSlot>,
    quiet_calls: bool,
}

/// Where a [`Probe`] leaves its host API at boot, for a test to use from outside.
pub(crate) type ApiSlot = Arc<Mutex<Option<HostApi>>>;

/// Takes the host API a probe left in `slot`.
pub(crate) fn api_of(slot: &ApiSlot) -> HostApi {
    slot.lock().clone().expect("the plugin booted")
}

impl Probe {
    pub(crate) fn new(journal: &Journal) -> Self {
        Self {
            journal: journal.clone(),
            ..Self::default()
        }
    }

    pub(crate) fn on_boot(
        mut self,
        f: impl Fn(&mut BootContext) -> Result<(), PluginError> + Send + Sync + 'static,
    ) -> Self {
        self.boot = Some(Arc::new(f));
        self
    }

    pub(crate) fn on_start(
        mut self,
        f: impl Fn(&HostApi) -> Result<(), PluginError> + Send + Sync + 'static,
    ) -> Self {
        self.start = Some(Arc::new(f));
        self
    }

    pub(crate) fn on_stop(
        mut self,
        f: impl Fn(&HostApi) -> Result<(), PluginError> + Send + Sync + 'static,
    ) -> Self {
        self.stop = Some(Arc::new(f));
        self
    }

    pub(crate) fn on_call(
        mut self,
        f: impl Fn(&HostApi, &str, &[u8]) -> Result<Vec<u8>, CallError> + Send + Sync + 'static,
    ) -> Self {
        self.call = Some(Arc::new(f));
        self
    }

    pub(crate) fn on_event(mut self, f: impl Fn(&HostApi, &Event) + Send + Sync + 'static) -> Self {
        self.event = Some(Arc::new(f));
        self
    }

    pub(crate) fn on_health(
        mut self,
        f: impl Fn() -> Option<HealthReport> + Send + Sync + 'static,
    ) -> Self {
        self.health = Some(Arc::new(f));
        self
    }

    /// Journals hooks only, not calls (for load tests, whose calls would fill memory).
    pub(crate) fn quiet_calls(mut self) -> Self {
        self.quiet_calls = true;
        self
    }

    pub(crate) fn keep_api(mut self, slot: &ApiSlot) -> Self {
        self.keep = Some(slot.clone());
        self
    }

    /// The factory to register: each instance starts unbooted.
    pub(crate) fn factory(self) -> impl Fn() -> ProbePlugin + Send + Sync + 'static {
        move || ProbePlugin {
            probe: self.clone(),
            host: None,
        }
    }
}

/// One instance of a [`Probe`].
pub(crate) struct ProbePlugin {
    probe: Probe,
    host: Option<HostApi>,
}

impl ProbePlugin {
    fn host(&self) -> &HostApi {
        self.host.as_ref().expect("booted before use")
    }

    fn note(&self, what: &str) {
        self.probe
            .journal
            .push(format!("{}.{what}", self.host().id()));
    }
}

impl BuiltinPlugin for ProbePlugin {
    fn boot(&mut self, ctx: &mut BootContext) -> Result<(), PluginError> {
        self.host = Some(ctx.host().clone());
        if let Some(slot) = &self.probe.keep {
            *slot.lock() = Some(ctx.host().clone());
        }
        self.note("boot");
        match &self.probe.boot {
            Some(f) => f(ctx),
            None => Ok(()),
        }
    }

    fn start(&self, host: &HostApi) -> Result<(), PluginError> {
        self.note("start");
        match &self.probe.start {
            Some(f) => f(host),
            None => Ok(()),
        }
    }

    fn stop(&self, host: &HostApi) -> Result<(), PluginError> {
        self.note("stop");
        match &self.probe.stop {
            Some(f) => f(host),
            None => Ok(()),
        }
    }

    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        if !self.probe.quiet_calls {
            self.note(&format!("call:{method}"));
        }
        match &self.probe.call {
            Some(f) => f(self.host(), method, payload),
            None => Ok(payload.to_vec()),
        }
    }

    fn on_event(&self, event: &Event) {
        if let Some(f) = &self.probe.event {
            f(self.host(), event);
        }
    }

    fn health(&self) -> Option<HealthReport> {
        self.probe.health.as_ref().and_then(|f| f())
    }
}

/// A builtin manifest for `id` at version 1.0.0 with the YAML lines in `extra`.
pub(crate) fn manifest(id: &str, extra: &str) -> Manifest {
    let text = format!("id: {id}\nversion: 1.0.0\nruntime: builtin\nentry: {id}\n{extra}");
    Manifest::from_yaml_str(&text, "inline").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Writes `dir/<id>/plugin.yaml` with `text`.
pub(crate) fn write_plugin_dir(dir: &Path, id: &str, text: &str) {
    let d = dir.join(id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("plugin.yaml"), text).unwrap();
}

/// Waits until `cond` holds, or fails after five seconds.
pub(crate) async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Bounds `future` so that a deadlock fails the test instead of hanging it.
pub(crate) async fn within<T>(secs: u64, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .expect("did not finish in time")
}

/// A recorder of lifecycle transitions, as `id:from->to`.
#[derive(Clone, Default)]
pub(crate) struct Transitions(Arc<Mutex<Vec<StateChange>>>);

impl Transitions {
    pub(crate) fn listener(&self) -> impl Fn(&StateChange) + Send + Sync + 'static {
        let inner = self.0.clone();
        move |c: &StateChange| inner.lock().push(c.clone())
    }

    pub(crate) fn all(&self) -> Vec<StateChange> {
        self.0.lock().clone()
    }

    /// The states `id` went through, as `from->to`.
    pub(crate) fn of(&self, id: &str) -> Vec<String> {
        self.0
            .lock()
            .iter()
            .filter(|c| c.id.as_str() == id)
            .map(|c| format!("{}->{}", c.from, c.to))
            .collect()
    }
}
