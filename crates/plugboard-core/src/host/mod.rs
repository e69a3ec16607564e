//! The host: building it, its plugins' slots, and the calls it routes.

mod builder;
mod lifecycle;
mod status;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use plugboard_manifest::{Activation, HostConfig, Permissions, PluginEntry, PluginId, RuntimeKind};
use tokio::sync::watch;

pub use self::builder::HostBuilder;
pub use self::status::PluginStatus;
use crate::discovery::{Rejected, Shadowed};
use crate::events::{EventBus, Subscription};
use crate::extension::PointEntry;
use crate::host_api::{ConfigValidator, PluginContext, StorageBackend};
use crate::resolve::Resolution;
use crate::services::ServiceRegistry;
use crate::{
    CallError, Descriptor, Error, HostApi, PluginInstance, PluginState, Reply, Runtime, StateChange,
};

/// A listener of lifecycle transitions.
pub type StateListener = Arc<dyn Fn(&StateChange) + Send + Sync>;

/// A plugin host.
///
/// Build one with [`Host::builder`], then [`start`](Host::start) it; [`stop`](Host::stop)
/// stops every plugin in reverse dependency order. Cheap to clone: clones share one host.
///
/// ```no_run
/// # async fn demo() -> Result<(), plugboard_core::Error> {
/// use plugboard_core::Host;
///
/// let host = Host::builder().config_file("config.yaml")?.build()?;
/// host.start().await?;
/// let out = host.call("text-tools", "upper", br#""hello""#).await?;
/// assert_eq!(out, br#""HELLO""#);
/// host.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<HostInner>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("plugins", &self.inner.slots.len())
            .finish_non_exhaustive()
    }
}

/// Everything the host shares with its plugins' [`HostApi`]s.
pub(crate) struct HostInner {
    pub(crate) config: HostConfig,
    pub(crate) runtimes: HashMap<RuntimeKind, Arc<dyn Runtime>>,
    /// Every plugin the host knows, by id. Fixed at build time.
    pub(crate) slots: HashMap<PluginId, Arc<Slot>, BuildHasherDefault<IdHasher>>,
    /// Ids in start order (dependencies first), then the disabled ones.
    pub(crate) order: Vec<PluginId>,
    pub(crate) resolution: Resolution,
    pub(crate) shadowed: Vec<Shadowed>,
    pub(crate) rejected: Vec<Rejected>,
    pub(crate) missing: Vec<PluginEntry>,
    pub(crate) points: HashMap<String, Arc<PointEntry>>,
    pub(crate) services: ServiceRegistry,
    pub(crate) events: EventBus,
    pub(crate) listeners: RwLock<Vec<StateListener>>,
    pub(crate) storage: StorageBackend,
    pub(crate) validator: ConfigValidator,
    pub(crate) hook_timeout: Duration,
    pub(crate) runtime_handle: Mutex<Option<tokio::runtime::Handle>>,
    pub(crate) started: AtomicBool,
    pub(crate) stopped: AtomicBool,
}

/// The hash of the slot map, which [`Host::call`] consults on every call. Plugin ids are short
/// and chosen by the operator, never by a caller, so SipHash's defence against crafted collisions
/// buys nothing here, and it cost a fifth of a builtin call. A word-at-a-time multiply-rotate
/// hash (FxHash's) instead.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes(w.try_into().expect("eight bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            // Shifted in, not copied into a buffer: a copy of a variable length is a call to
            // memcpy and a stalled load of the word it just wrote.
            let last = rest
                .iter()
                .rev()
                .fold(0u64, |word, byte| (word << 8) | u64::from(*byte));
            self.add(last);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One plugin's place in the host.
pub(crate) struct Slot {
    pub(crate) descriptor: Arc<Descriptor>,
    pub(crate) ctx: Arc<PluginContext>,
    pub(crate) api: HostApi,
    pub(crate) status: Mutex<SlotStatus>,
    pub(crate) instance: RwLock<Option<Arc<dyn PluginInstance>>>,
    /// The same instance, for the call path: read without a lock or a reference count, which
    /// cost more than the call itself for a builtin plugin. Set once at load and never cleared
    /// (calls are gated by `active`), so the instance lives until the host is dropped even after
    /// `unload`; a host that reloads plugins needs a swappable cell here instead.
    pub(crate) loaded: OnceLock<Arc<dyn PluginInstance>>,
    /// Mirrors `status.state == Active` for the call path, which must not take a lock.
    pub(crate) active: AtomicBool,
    /// The settled outcome of starting, for plugins waiting on this one.
    pub(crate) settled: watch::Sender<Option<PluginState>>,
    pub(crate) start_requested: AtomicBool,
    /// Ids this plugin waits for when starting (resolved dependencies).
    pub(crate) waits_for: Vec<PluginId>,
    /// Ids that wait for this plugin, so stop them first.
    pub(crate) dependents: Vec<PluginId>,
    pub(crate) calls: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) event_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug, Clone)]
pub(crate) struct SlotStatus {
    pub(crate) state: PluginState,
    pub(crate) reason: Option<String>,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) start_time: Option<Duration>,
    pub(crate) host_health: Option<crate::HealthReport>,
}

impl Slot {
    pub(crate) fn state(&self) -> PluginState {
        self.status.lock().state
    }

    pub(crate) fn is_lazy(&self) -> bool {
        self.descriptor.manifest.activation == Activation::Lazy
    }

    fn not_active(&self) -> CallError {
        let s = self.status.lock();
        CallError::NotActive {
            plugin: self.descriptor.id().to_string(),
            state: s.state,
            reason: s.reason.clone(),
        }
    }

    /// Calls the active instance. Counts calls and errors.
    ///
    /// An active plugin's reply is handed back as it is, not wrapped in a future of this
    /// function's own: for a builtin plugin the reply is ready, and the wrapping (a future of a
    /// few hundred bytes, moved at each level) cost more than the plugin's work.
    pub(crate) fn call<'a>(
        self: &'a Arc<Self>,
        host: &'a Arc<HostInner>,
        method: &'a str,
        payload: &'a [u8],
    ) -> Reply<'a> {
        if self.active.load(Ordering::Acquire) {
            if let Some(instance) = self.loaded.get() {
                return self.counted(instance.call(method, payload));
            }
        }
        Reply::pending(self.call_inactive(host, method, payload))
    }

    /// The cold path: a lazy plugin's first calls, and calls that will be refused.
    async fn call_inactive(
        self: &Arc<Self>,
        host: &Arc<HostInner>,
        method: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        // A lazy plugin is started by its first call; calls that arrive while it is still
        // starting wait for that start rather than fail.
        if self.is_lazy()
            && matches!(
                self.state(),
                PluginState::Resolved | PluginState::Loaded | PluginState::Booted
            )
        {
            lifecycle::ensure_started(host, self).await;
        }
        match self.loaded.get() {
            Some(instance) if self.active.load(Ordering::Acquire) => {
                self.counted(instance.call(method, payload)).await
            }
            _ => Err(self.not_active()),
        }
    }

    fn counted<'a>(&'a self, reply: Reply<'a>) -> Reply<'a> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match reply {
            Reply::Pending(future) => Reply::pending(async move {
                let result = future.await;
                if result.is_err() {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                }
                result
            }),
            ready => {
                if matches!(ready, Reply::Ready(Some(Err(_)))) {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                }
                ready
            }
        }
    }
}

impl HostInner {
    /// See [`HostApi::report_failure`](crate::HostApi::report_failure).
    pub(crate) fn report_failure(self: &Arc<Self>, id: &PluginId, reason: String) {
        let Some(slot) = self.slots.get(id).cloned() else {
            return;
        };
        let handle = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime_handle.lock().clone());
        let Some(handle) = handle else {
            return;
        };
        let host = self.clone();
        handle.spawn(async move { lifecycle::instance_failed(&host, &slot, reason).await });
    }

    pub(crate) fn slot(&self, id: &str) -> Result<&Arc<Slot>, CallError> {
        self.slots
            .get(id)
            .ok_or_else(|| CallError::UnknownPlugin(id.to_owned()))
    }

    pub(crate) fn call<'a>(
        self: &'a Arc<Self>,
        id: &'a str,
        method: &'a str,
        payload: &'a [u8],
    ) -> Reply<'a> {
        // `slots.get`, not `slot`: its `Result` is as large as a `CallError`, on every call.
        match self.slots.get(id) {
            Some(slot) => slot.call(self, method, payload),
            None => Reply::ready(Err(CallError::UnknownPlugin(id.to_owned()))),
        }
    }
}

/// Drives `future` to completion from synchronous code: at once when it is ready (builtin and
/// native calls), otherwise on the host's tokio runtime.
pub(crate) fn block_on<F: Future>(host: &HostInner, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
        return out;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        Ok(_) => futures::executor::block_on(future),
        Err(_) => match host.runtime_handle.lock().clone() {
            Some(handle) => handle.block_on(future),
            None => futures::executor::block_on(future),
        },
    }
}

impl Host {
    /// Starts building a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::new()
    }

    /// The effective host configuration (paths made absolute).
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The state directory: logs, storage and caches.
    pub fn state_dir(&self) -> PathBuf {
        self.inner
            .config
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".plugboard"))
    }

    /// The directory of per-plugin log files.
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir().join("logs")
    }

    /// Ids of every plugin the host knows, in start order (dependencies first), disabled ones
    /// last.
    pub fn plugin_ids(&self) -> &[PluginId] {
        &self.inner.order
    }

    /// The descriptor of plugin `id`.
    pub fn descriptor(&self, id: &str) -> Option<&Descriptor> {
        self.inner.slots.get(id).map(|s| &*s.descriptor)
    }

    /// The result of dependency resolution.
    pub fn resolution(&self) -> &Resolution {
        &self.inner.resolution
    }

    /// The plugins hidden by a higher version of the same id.
    pub fn shadowed(&self) -> &[Shadowed] {
        &self.inner.shadowed
    }

    /// The current state of plugin `id`.
    pub fn state(&self, id: &str) -> Option<PluginState> {
        self.inner.slots.get(id).map(|s| s.state())
    }

    /// Calls `method` on plugin `id` with `payload`; the bytes pass unchanged both ways. A lazy
    /// plugin is started on its first call.
    ///
    /// Await the reply; on a hot path, a builtin or native plugin's reply can be taken at once
    /// with [`Reply::now`].
    ///
    /// # Errors
    /// When the plugin is unknown or not active, or the call fails.
    pub fn call<'a>(&'a self, id: &'a str, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        self.inner.call(id, method, payload)
    }

    /// A handle on plugin `id` that skips the lookup on every call.
    ///
    /// # Errors
    /// When no plugin has that id.
    pub fn plugin(&self, id: &str) -> Result<PluginHandle, CallError> {
        Ok(PluginHandle {
            host: self.inner.clone(),
            slot: self.inner.slot(id)?.clone(),
        })
    }

    /// Subscribes the application to events on `pattern` (`topic`, `prefix.*` or `*`).
    pub fn subscribe(&self, pattern: &str) -> Subscription {
        self.inner.events.subscribe(pattern, None)
    }

    /// Publishes an event from the application.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.inner.events.publish(crate::Event::new(topic, payload));
    }

    /// Adds a listener that sees every lifecycle transition, synchronously, as it happens.
    pub fn on_state_change(&self, listener: impl Fn(&StateChange) + Send + Sync + 'static) {
        self.inner.listeners.write().push(Arc::new(listener));
    }

    /// The status of every plugin, in start order, including those refused at discovery,
    /// shadowed, or listed in the configuration but missing.
    pub fn statuses(&self) -> Vec<PluginStatus> {
        status::collect(&self.inner)
    }

    /// The status of plugin `id`.
    pub fn status(&self, id: &str) -> Option<PluginStatus> {
        self.inner
            .slots
            .get(id)
            .map(|s| status::of_slot(&self.inner, s))
    }

    /// The plugin's log as written so far (the current file).
    ///
    /// # Errors
    /// When the plugin is unknown, or the file cannot be read.
    pub fn read_log(&self, id: &str) -> Result<String, Error> {
        if !self.inner.slots.contains_key(id) {
            return Err(Error::UnknownPlugin(id.to_owned()));
        }
        let dir = self.log_dir();
        crate::host_api::read_log(&dir, id).map_err(|source| Error::Io {
            path: dir.join(format!("{id}.log")),
            source,
        })
    }

    /// Ids of the services plugin `id` has registered.
    pub fn services_of(&self, id: &PluginId) -> Vec<String> {
        self.inner.services.ids_of(id)
    }

    /// The id and dependents map: who waits for whom.
    pub fn dependents(&self, id: &str) -> Vec<PluginId> {
        self.inner
            .slots
            .get(id)
            .map(|s| s.dependents.clone())
            .unwrap_or_default()
    }

    /// Plugin `id`'s effective configuration: the running plugin's (as its `boot` left it), or,
    /// before it boots, the configured values validated against its schema with defaults
    /// applied. Runs no plugin code.
    ///
    /// # Errors
    /// When the plugin is unknown, or its configuration is invalid (each problem with its JSON
    /// pointer).
    pub fn effective_config(&self, id: &str) -> Result<serde_json::Value, Error> {
        let slot = self
            .inner
            .slots
            .get(id)
            .ok_or_else(|| Error::UnknownPlugin(id.to_owned()))?;
        let current = slot.ctx.config.read().clone();
        if matches!(
            slot.state(),
            PluginState::Booted | PluginState::Active | PluginState::Stopping
        ) {
            return Ok((*current).clone());
        }
        let provided = (!current.is_null()).then_some(&*current);
        Ok(self
            .inner
            .validator
            .effective_config(slot.descriptor.manifest.config.schema.as_ref(), provided)?)
    }

    /// The permissions plugin `id` has: what its manifest asks for, narrowed by the host
    /// configuration's `grant` for it when there is one.
    pub fn effective_permissions(&self, id: &str) -> Option<Permissions> {
        let d = self.descriptor(id)?;
        let grant = self.inner.config.plugin(id).and_then(|e| e.grant.as_ref());
        Some(crate::host_api::effective_permissions(
            &d.manifest.permissions,
            grant,
        ))
    }

    /// How many events were dropped because a subscriber's queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.inner.events.dropped()
    }

    /// Asks every active plugin how it is doing (each answer bounded by the hook timeout) and
    /// records the answers; a plugin that does not answer in time is `unhealthy`.
    pub async fn check_health(&self) {
        lifecycle::check_health(&self.inner).await;
    }

    /// Starts every eager plugin that resolved, dependencies first, independent ones
    /// concurrently. A plugin whose hook fails or times out is `failed`, its dependents
    /// `disabled`; the others go on. Returns once every eager plugin has settled.
    ///
    /// # Errors
    /// Only when the host was already started.
    pub async fn start(&self) -> Result<(), Error> {
        lifecycle::start_all(&self.inner).await
    }

    /// Stops every started plugin, dependents before their dependencies, and unloads them.
    /// Safe to call more than once.
    pub async fn stop(&self) {
        lifecycle::stop_all(&self.inner).await;
    }

    /// Starts plugin `id` (and what it depends on) if it is not running yet, and returns its
    /// state once settled.
    ///
    /// # Errors
    /// When no plugin has that id.
    pub async fn start_plugin(&self, id: &str) -> Result<PluginState, Error> {
        let slot = self
            .inner
            .slots
            .get(id)
            .ok_or_else(|| Error::UnknownPlugin(id.to_owned()))?
            .clone();
        self.inner
            .runtime_handle
            .lock()
            .get_or_insert_with(tokio::runtime::Handle::current);
        Ok(lifecycle::ensure_started(&self.inner, &slot).await)
    }
}

/// A handle on one plugin, for calling it repeatedly without a lookup.
#[derive(Clone)]
pub struct PluginHandle {
    host: Arc<HostInner>,
    slot: Arc<Slot>,
}

impl fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PluginHandle")
            .field(self.slot.descriptor.id())
            .finish()
    }
}

impl PluginHandle {
    /// The plugin's id.
    pub fn id(&self) -> &PluginId {
        self.slot.descriptor.id()
    }

    /// Calls `method` with `payload`. Await the reply; on a hot path, a builtin or native
    /// plugin's reply can be taken at once with [`Reply::now`].
    ///
    /// # Errors
    /// When the plugin is not active, or the call fails.
    pub fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        self.slot.call(&self.host, method, payload)
    }
}
