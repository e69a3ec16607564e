//! The host: building it, its plugins' slots, and the calls it routes.

mod builder;
mod cache;
mod lifecycle;
mod monitor;
mod reload;
mod status;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use plugboard_manifest::{Activation, HostConfig, Permissions, PluginEntry, PluginId, RuntimeKind};
use semver::Version;
use tokio::sync::watch;

pub use self::builder::HostBuilder;
pub use self::monitor::{Monitor, WatchKind, WatchOptions};
pub use self::reload::{DirChange, ReloadError, ReloadEvent, ReloadReport};
pub use self::status::PluginStatus;
use crate::discovery::{Rejected, Shadowed};
use crate::events::{EventBus, Subscription};
use crate::extension::{ExtensionPoint, PointCell};
use crate::host_api::{ConfigValidator, PluginContext, StorageBackend};
use crate::resolve::{Constraints, Resolution};
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
            .field("plugins", &self.inner.table.load().routes.len())
            .finish_non_exhaustive()
    }
}

/// Everything the host shares with its plugins' [`HostApi`]s.
pub(crate) struct HostInner {
    pub(crate) config: HostConfig,
    pub(crate) runtimes: HashMap<RuntimeKind, Arc<dyn Runtime>>,
    /// Every plugin the host knows and how they fit together. Replaced as a whole when plugins
    /// are added, updated or removed while the host runs; readers take a snapshot.
    pub(crate) table: ArcSwap<Table>,
    /// Moves on every change of `table` (see `cache.rs`).
    pub(crate) epoch: AtomicU64,
    /// This host's id, unique in the process.
    pub(crate) id: u64,
    /// What building the host knew and a reload needs again: the application's extension
    /// points and plugins, the plugin API version, the configuration's constraints.
    pub(crate) basis: Basis,
    /// Serializes changes to the plugin set (hot reload): one add, update or removal at a time.
    pub(crate) changes: tokio::sync::Mutex<()>,
    /// The generation counter: every slot gets a new number, so that what an old generation
    /// registered (services, subscriptions) is never confused with its successor's.
    pub(crate) generations: AtomicU64,
    pub(crate) reload_listeners: RwLock<Vec<reload::ReloadListener>>,
    pub(crate) dir_listeners: RwLock<Vec<reload::DirListener>>,
    /// Plugins an operator disabled while the host runs ([`Host::disable_plugin`]).
    pub(crate) operator_disabled: Mutex<std::collections::BTreeSet<PluginId>>,
    pub(crate) slot_settings: builder::SlotSettings,
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

/// The plugin set at one moment: the routes by id, the start order, the resolution, the
/// extension points. Immutable; a change builds a new table and swaps it in.
#[derive(Clone)]
pub(crate) struct Table {
    pub(crate) routes: HashMap<PluginId, Arc<Route>, BuildHasherDefault<IdHasher>>,
    /// The current slot of each route, for the call path: one lookup, no second indirection.
    /// A slot found here may have been replaced since (it is then `retired`); the caller goes
    /// through the route instead.
    pub(crate) current: HashMap<PluginId, Arc<Slot>, BuildHasherDefault<IdHasher>>,
    /// Ids in start order (dependencies first), then the disabled ones.
    pub(crate) order: Vec<PluginId>,
    pub(crate) resolution: Arc<Resolution>,
    pub(crate) shadowed: Vec<Shadowed>,
    pub(crate) rejected: Vec<Rejected>,
    pub(crate) missing: Vec<PluginEntry>,
    pub(crate) points: HashMap<String, Arc<PointCell>>,
    /// What each plugin's files looked like when it was loaded, to tell a change on disk.
    pub(crate) fingerprints: HashMap<PluginId, u64>,
}

impl Table {
    /// Reads every route's current slot into `current` and into the extension points'
    /// entries. Called whenever a route changes.
    pub(crate) fn refresh_slots(&mut self) {
        self.current = self
            .routes
            .iter()
            .map(|(id, r)| (id.clone(), r.current()))
            .collect();
        for cell in self.points.values() {
            let entry = cell.entry.load();
            let fresh = crate::extension::PointEntry::new(
                entry.point.clone(),
                entry
                    .impls
                    .iter()
                    .map(|i| (i.plugin.clone(), i.priority, i.methods.clone()))
                    .collect(),
                self,
            );
            cell.replace(fresh);
        }
    }
}

/// What the host was built with that a change to the plugin set must apply again.
pub(crate) struct Basis {
    pub(crate) points: Vec<ExtensionPoint>,
    pub(crate) in_code: Vec<Descriptor>,
    pub(crate) api_version: Version,
    /// Disabled ids and version requirements from `config.yaml`.
    pub(crate) constraints: Constraints,
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

/// Where calls for one plugin id go: the current [`Slot`] of that id.
///
/// A route lives as long as anything refers to it (the table, a [`PluginHandle`], an extension
/// point), and outlives the slots it points at: an update swaps in the new version's slot, and
/// a call already running on the old one finishes there (drain) while new calls go to the new.
pub(crate) struct Route {
    pub(crate) slot: ArcSwap<Slot>,
}

impl Route {
    pub(crate) fn new(slot: Arc<Slot>) -> Self {
        Self {
            slot: ArcSwap::new(slot),
        }
    }

    /// The current slot.
    pub(crate) fn current(&self) -> Arc<Slot> {
        self.slot.load_full()
    }

    /// Calls the plugin this route leads to: its current version, or, when that version was
    /// replaced between the lookup and the call, its successor. The reply borrows nothing of
    /// the route or the slot, so a caller can hold the table only for the lookup.
    ///
    /// A builtin plugin's reply is handed back as it is, ready, not wrapped in a future: the
    /// wrapping cost more than the plugin's work.
    pub(crate) fn call<'a>(
        &self,
        host: &Arc<HostInner>,
        method: &'a str,
        payload: &'a [u8],
    ) -> Reply<'a> {
        let mut previous: *const Slot = std::ptr::null();
        loop {
            let slot = self.slot.load();
            match slot.enter() {
                Gate::Open => return Slot::call_entered(&slot, method, payload),
                // Replaced since the lookup: the route already leads to the successor.
                Gate::Retired if !std::ptr::eq(previous, &**slot) => {
                    previous = &**slot;
                    continue;
                }
                _ => {
                    let slot = arc_swap::Guard::into_inner(slot);
                    return Reply::pending(Slot::call_inactive(
                        host.clone(),
                        slot,
                        method,
                        payload,
                    ));
                }
            }
        }
    }
}

/// What a caller finds at a slot's door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Active: the call was counted in and must be counted out.
    Open,
    /// Replaced by a newer version; go to the route's current slot.
    Retired,
    /// Not active (starting, stopped, failed, or lazy and not started).
    Closed,
}

/// One version of one plugin in the host: its descriptor, its host API, its instance and its
/// state. An update creates a new slot beside the old one (a new generation) and switches the
/// route to it once it is active.
pub(crate) struct Slot {
    pub(crate) generation: u64,
    pub(crate) descriptor: Arc<Descriptor>,
    pub(crate) ctx: Arc<PluginContext>,
    pub(crate) api: HostApi,
    pub(crate) status: Mutex<SlotStatus>,
    pub(crate) instance: RwLock<Option<Arc<dyn PluginInstance>>>,
    /// The same instance, for the call path: read without a lock or a reference count, which
    /// cost more than the call itself for a builtin plugin. Set once at load and never cleared
    /// (calls are gated by `active`), so the instance lives as long as this slot: until the
    /// host drops it, or, after a hot reload, until the last call that entered it has finished.
    pub(crate) loaded: OnceLock<Arc<dyn PluginInstance>>,
    /// Mirrors `status.state == Active` for the call path, which must not take a lock.
    pub(crate) active: AtomicBool,
    /// Set once a newer version's slot took this one's place in the route. Calls that entered
    /// before finish here; calls that arrive after go to the successor.
    pub(crate) retired: AtomicBool,
    /// Set while a hot reload with state hand-off quiesces this version: calls that arrive
    /// wait for it to clear, then follow the route (to this version again after a rollback,
    /// or to its successor). `active` is false meanwhile, so the fast path stays one check.
    pub(crate) paused: watch::Sender<bool>,
    /// The settled outcome of starting, for plugins waiting on this one.
    pub(crate) settled: watch::Sender<Option<PluginState>>,
    pub(crate) start_requested: AtomicBool,
    /// Ids this plugin waits for when starting (resolved dependencies).
    pub(crate) waits_for: Vec<PluginId>,
    /// Calls that entered (counted in at the gate).
    pub(crate) calls: AtomicU64,
    /// Calls that finished; `calls - finished` are in flight, which draining waits for.
    pub(crate) finished: AtomicU64,
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

    /// Counts a call in if the slot is active.
    ///
    /// The count comes first and the flags are read after it, and a reload sets `retired`
    /// before it reads the count (both sequentially consistent): so either the caller sees
    /// `retired` and goes to the successor, or the reload sees the call in flight and waits
    /// for it. No call is lost between the two.
    #[inline]
    pub(crate) fn enter(&self) -> Gate {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.active.load(Ordering::SeqCst) && !self.retired.load(Ordering::SeqCst) {
            return Gate::Open;
        }
        self.calls.fetch_sub(1, Ordering::SeqCst);
        if self.retired.load(Ordering::SeqCst) {
            Gate::Retired
        } else {
            Gate::Closed
        }
    }

    /// Counts a call out.
    #[inline]
    fn leave(&self, failed: bool) {
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// Whether a hand-off has paused this version (see [`Slot::paused`]).
    pub(crate) fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Calls that entered and have not finished.
    pub(crate) fn in_flight(&self) -> u64 {
        let finished = self.finished.load(Ordering::SeqCst);
        self.calls.load(Ordering::SeqCst).saturating_sub(finished)
    }

    /// Runs a call that [`enter`](Self::enter) let in. A pending reply keeps the slot (and so
    /// its instance) alive until it finishes or is dropped.
    #[allow(unsafe_code)]
    pub(crate) fn call_entered<'a>(
        slot: &Arc<Slot>,
        method: &'a str,
        payload: &'a [u8],
    ) -> Reply<'a> {
        let Some(instance) = slot.loaded.get() else {
            // Unreachable in practice (a slot is active only once loaded); refuse, not panic.
            slot.leave(true);
            return Reply::ready(Err(slot.not_active()));
        };
        // SAFETY: the instance lives in a heap allocation owned (through its `OnceLock`, which
        // is never cleared) by the slot, which the caller holds for the whole of this function.
        // A ready reply keeps no borrow; a pending one is wrapped in `InFlight`, which keeps an
        // `Arc` of the slot and drops the future before it (field order). So the borrow never
        // outlives the instance.
        let instance: &'a Arc<dyn PluginInstance> =
            unsafe { &*std::ptr::from_ref::<Arc<dyn PluginInstance>>(instance) };
        match instance.call(method, payload) {
            Reply::Ready(result) => {
                slot.leave(matches!(result, Some(Err(_))));
                Reply::Ready(result)
            }
            Reply::Pending(future) => Reply::Pending(Box::pin(InFlight {
                future,
                slot: slot.clone(),
                done: false,
            })),
        }
    }

    /// The cold path: a lazy plugin's first calls, and calls that will be refused.
    async fn call_inactive(
        host: Arc<HostInner>,
        slot: Arc<Slot>,
        method: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        // A hand-off in progress: wait until it settles, then go where the route leads now
        // (back to this version if the new one failed, else to the new one). The pause is
        // bounded by the reload's hook timeouts.
        if slot.is_paused() {
            let mut resumed = slot.paused.subscribe();
            let _ = resumed.wait_for(|paused| !*paused).await;
            return match host.route(slot.descriptor.id().as_str()) {
                Some(route) => route.call(&host, method, payload).await,
                None => Err(slot.not_active()),
            };
        }
        // A lazy plugin is started by its first call; calls that arrive while it is still
        // starting wait for that start rather than fail.
        if slot.is_lazy()
            && !slot.retired.load(Ordering::Acquire)
            && matches!(
                slot.state(),
                PluginState::Resolved | PluginState::Loaded | PluginState::Booted
            )
        {
            lifecycle::ensure_started(&host, &slot).await;
        }
        match slot.enter() {
            Gate::Open => {
                let instance = slot.loaded.get().cloned();
                match instance {
                    Some(instance) => {
                        let result = instance.call(method, payload).await;
                        slot.leave(result.is_err());
                        result
                    }
                    None => {
                        slot.leave(true);
                        Err(slot.not_active())
                    }
                }
            }
            _ => Err(slot.not_active()),
        }
    }
}

/// A pending call on a slot: counts the call out when it finishes or is dropped.
struct InFlight<'a> {
    // Declared before `slot`: it borrows the instance that `slot` keeps alive.
    future: BoxFuture<'a, Result<Vec<u8>, CallError>>,
    slot: Arc<Slot>,
    done: bool,
}

impl Future for InFlight<'_> {
    type Output = Result<Vec<u8>, CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(self.future.as_mut().poll(cx));
        self.done = true;
        self.slot.leave(result.is_err());
        Poll::Ready(result)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Cancelled by the caller: no longer in flight.
            self.slot.leave(false);
        }
    }
}

impl HostInner {
    /// See [`HostApi::report_failure`](crate::HostApi::report_failure). Only the slot whose
    /// context is `ctx` is failed: after a hot reload, a report from the old version's instance
    /// leaves the new version alone.
    pub(crate) fn report_failure(self: &Arc<Self>, ctx: &Arc<PluginContext>, reason: String) {
        let Some(slot) = self.slot(ctx.descriptor.id().as_str()) else {
            return;
        };
        if !Arc::ptr_eq(&slot.ctx, ctx) {
            return;
        }
        let handle = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime_handle.lock().clone());
        let Some(handle) = handle else {
            return;
        };
        let host = self.clone();
        handle.spawn(async move { lifecycle::instance_failed(&host, &slot, reason).await });
    }

    /// The current slot of plugin `id`.
    pub(crate) fn slot(&self, id: &str) -> Option<Arc<Slot>> {
        self.table.load().routes.get(id).map(|r| r.current())
    }

    /// The route of plugin `id`.
    pub(crate) fn route(&self, id: &str) -> Option<Arc<Route>> {
        self.table.load().routes.get(id).cloned()
    }

    /// The current slot of every plugin, in start order.
    pub(crate) fn slots(&self) -> Vec<Arc<Slot>> {
        let table = self.table.load();
        table
            .order
            .iter()
            .filter_map(|id| table.routes.get(id))
            .map(|r| r.current())
            .collect()
    }

    /// Ids of the plugins whose current version waits for `id` (its dependents).
    pub(crate) fn dependents_of(&self, id: &str) -> Vec<PluginId> {
        let table = self.table.load();
        table
            .order
            .iter()
            .filter_map(|other| table.routes.get(other))
            .map(|r| r.current())
            .filter(|s| s.waits_for.iter().any(|w| w.as_str() == id))
            .map(|s| s.descriptor.id().clone())
            .collect()
    }

    pub(crate) fn call<'a>(
        self: &Arc<Self>,
        id: &'a str,
        method: &'a str,
        payload: &'a [u8],
    ) -> Reply<'a> {
        self.with_table(|table| match table.current.get(id) {
            Some(slot) if slot.enter() == Gate::Open => Slot::call_entered(slot, method, payload),
            Some(_) => match table.routes.get(id) {
                Some(route) => route.call(self, method, payload),
                None => Reply::ready(Err(CallError::UnknownPlugin(id.to_owned()))),
            },
            None => Reply::ready(Err(CallError::UnknownPlugin(id.to_owned()))),
        })
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
    /// last. A snapshot: hot reload may add and remove plugins.
    pub fn plugin_ids(&self) -> Vec<PluginId> {
        self.inner.table.load().order.clone()
    }

    /// The descriptor of plugin `id`'s current version.
    pub fn descriptor(&self, id: &str) -> Option<Arc<Descriptor>> {
        self.inner.slot(id).map(|s| s.descriptor.clone())
    }

    /// The result of the latest dependency resolution.
    pub fn resolution(&self) -> Arc<Resolution> {
        self.inner.table.load().resolution.clone()
    }

    /// The plugins hidden by a higher version of the same id.
    pub fn shadowed(&self) -> Vec<Shadowed> {
        self.inner.table.load().shadowed.clone()
    }

    /// The current state of plugin `id`.
    pub fn state(&self, id: &str) -> Option<PluginState> {
        self.inner.slot(id).map(|s| s.state())
    }

    /// Calls `method` on plugin `id` with `payload`; the bytes pass unchanged both ways. A lazy
    /// plugin is started on its first call.
    ///
    /// Await the reply; on a hot path, a builtin or native plugin's reply can be taken at once
    /// with [`Reply::now`].
    ///
    /// # Errors
    /// When the plugin is unknown or not active, or the call fails.
    pub fn call<'a>(&self, id: &'a str, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        self.inner.call(id, method, payload)
    }

    /// A handle on plugin `id` that skips the lookup on every call. It follows the plugin
    /// across hot reloads: calls go to whichever version is current.
    ///
    /// # Errors
    /// When no plugin has that id.
    pub fn plugin(&self, id: &str) -> Result<PluginHandle, CallError> {
        let route = self
            .inner
            .route(id)
            .ok_or_else(|| CallError::UnknownPlugin(id.to_owned()))?;
        Ok(PluginHandle {
            host: self.inner.clone(),
            slot: route.current(),
            route,
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
            .slot(id)
            .map(|s| status::of_slot(&self.inner, &s))
    }

    /// The plugin's log as written so far (the current file).
    ///
    /// # Errors
    /// When the plugin is unknown, or the file cannot be read.
    pub fn read_log(&self, id: &str) -> Result<String, Error> {
        if self.inner.route(id).is_none() {
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

    /// The plugins that wait for plugin `id` (its dependents), in start order.
    pub fn dependents(&self, id: &str) -> Vec<PluginId> {
        self.inner.dependents_of(id)
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
            .slot(id)
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
            .slot(id)
            .ok_or_else(|| Error::UnknownPlugin(id.to_owned()))?;
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
    route: Arc<Route>,
    /// The version current when the handle was taken: called directly while it is active.
    /// Once it is replaced, calls go through the route to its successor (a little slower; take
    /// a new handle to get the direct path back). Holding it keeps that version's instance in
    /// memory until the handle is dropped.
    slot: Arc<Slot>,
}

impl fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PluginHandle")
            .field(self.route.slot.load().descriptor.id())
            .finish()
    }
}

impl PluginHandle {
    /// The plugin's id.
    pub fn id(&self) -> PluginId {
        self.route.slot.load().descriptor.id().clone()
    }

    /// The version that answers calls now.
    pub fn version(&self) -> Version {
        self.route.slot.load().descriptor.version().clone()
    }

    /// Calls `method` with `payload`. Await the reply; on a hot path, a builtin or native
    /// plugin's reply can be taken at once with [`Reply::now`].
    ///
    /// # Errors
    /// When the plugin is not active, or the call fails.
    pub fn call<'a>(&self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        if self.slot.enter() == Gate::Open {
            return Slot::call_entered(&self.slot, method, payload);
        }
        self.route.call(&self.host, method, payload)
    }
}
