//! Starting and stopping plugins: the lifecycle state machine in motion.
//!
//! Each plugin starts in a task of its own once everything it waits for has settled, so
//! independent plugins start concurrently and a chain of a thousand dependencies never nests a
//! thousand futures. Stopping runs the same graph backwards.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::future::{join_all, BoxFuture};
use plugboard_manifest::{LogLevel, PluginId};
use tokio::sync::watch;
use tokio::time::timeout;

use super::{HostInner, Slot};
use crate::events::{Event, STATE_TOPIC};
use crate::{Error, Health, HealthReport, PluginState, StateChange};

pub(crate) async fn start_all(host: &Arc<HostInner>) -> Result<(), Error> {
    if host.started.swap(true, Ordering::AcqRel) {
        return Err(Error::HostState("already started; a host starts once"));
    }
    *host.runtime_handle.lock() = tokio::runtime::Handle::try_current().ok();
    let eager: Vec<Arc<Slot>> = host.slots().into_iter().filter(|s| !s.is_lazy()).collect();
    join_all(eager.iter().map(|s| ensure_started(host, s))).await;
    Ok(())
}

/// Starts `slot` unless someone already did, and waits until it has settled.
pub(crate) async fn ensure_started(host: &Arc<HostInner>, slot: &Arc<Slot>) -> PluginState {
    // Once the host has stopped, nothing starts: a lazy plugin started now would never be
    // stopped.
    if host.stopped.load(Ordering::Acquire) && !slot.start_requested.load(Ordering::Acquire) {
        return slot.state();
    }
    if slot.settled.borrow().is_none() && !slot.start_requested.swap(true, Ordering::AcqRel) {
        tokio::spawn(run_start(host.clone(), slot.clone()));
    }
    let mut rx = slot.settled.subscribe();
    let settled = rx.wait_for(Option::is_some).await.map(|v| *v);
    match settled {
        Ok(Some(state)) => state,
        _ => slot.state(),
    }
}

/// Boxed, because starting a plugin starts its dependencies: the future type would otherwise
/// contain itself.
fn run_start(host: Arc<HostInner>, slot: Arc<Slot>) -> BoxFuture<'static, ()> {
    Box::pin(async move { start_one(&host, &slot).await })
}

async fn start_one(host: &Arc<HostInner>, slot: &Arc<Slot>) {
    let began = Instant::now();
    let m = &slot.descriptor.manifest;
    // A lazy plugin that this one only uses optionally stays lazy: it starts on the first call
    // that reaches it, not because a plugin that may never call it started.
    let deps: Vec<Arc<Slot>> = slot
        .waits_for
        .iter()
        .filter_map(|id| host.slot(id.as_str()))
        .filter(|d| {
            m.requires.contains_key(d.descriptor.id())
                || !d.is_lazy()
                || d.start_requested.load(Ordering::Acquire)
        })
        .collect();
    let states = join_all(deps.iter().map(|d| ensure_started(host, d))).await;
    for (dep, state) in deps.iter().zip(states) {
        if state == PluginState::Active {
            continue;
        }
        let dep_id = dep.descriptor.id();
        let why = dep.status.lock().reason.clone().unwrap_or_default();
        if m.requires.contains_key(dep_id) {
            let reason = format!("requires {dep_id}, which is {state}: {why}");
            transition(host, slot, PluginState::Disabled, Some(reason));
            settle(slot, PluginState::Disabled);
            return;
        }
        slot.api.log(
            LogLevel::Warning,
            &format!("optional dependency {dep_id} is {state}; going on without it ({why})"),
        );
    }

    let t = host.hook_timeout;
    let Some(runtime) = host.runtimes.get(&m.runtime).cloned() else {
        return fail(
            host,
            slot,
            format!("no {} runtime is registered", m.runtime),
        )
        .await;
    };
    let instance = match timeout(t, runtime.load(slot.descriptor.clone(), slot.api.clone())).await {
        Err(_) => return fail(host, slot, format!("loading timed out after {t:?}")).await,
        Ok(Err(e)) => return fail(host, slot, format!("cannot load: {e}")).await,
        Ok(Ok(i)) => i,
    };
    *slot.instance.write() = Some(instance.clone());
    let _ = slot.loaded.set(instance.clone());
    transition(host, slot, PluginState::Loaded, None);

    let schema = m.config.schema.as_ref();
    let provided = slot.ctx.config.read().clone();
    let provided = (!provided.is_null()).then_some(&*provided);
    let config = match host.validator.effective_config(schema, provided) {
        Ok(c) => c,
        Err(e) => return fail(host, slot, format!("invalid configuration:\n{e}")).await,
    };
    *slot.ctx.config.write() = Arc::new(config.clone());

    match timeout(t, instance.boot(config)).await {
        Err(_) => return fail(host, slot, format!("boot timed out after {t:?}")).await,
        Ok(Err(e)) => return fail(host, slot, format!("boot failed: {e}")).await,
        Ok(Ok(Some(adjusted))) => match host.validator.effective_config(schema, Some(&adjusted)) {
            Ok(c) => *slot.ctx.config.write() = Arc::new(c),
            Err(e) => {
                return fail(
                    host,
                    slot,
                    format!("boot set an invalid configuration:\n{e}"),
                )
                .await
            }
        },
        Ok(Ok(None)) => {}
    }
    // A hot reload with hand-off: state the runtime did not deliver during `boot` is given now,
    // before `start`.
    let handoff = slot.ctx.handoff.lock().take();
    if let Some(state) = handoff {
        match timeout(t, instance.import_state(state)).await {
            Err(_) => {
                return fail(
                    host,
                    slot,
                    format!("importing its state timed out after {t:?}"),
                )
                .await
            }
            Ok(Err(e)) => return fail(host, slot, e.to_string()).await,
            Ok(Ok(())) => {}
        }
    }
    transition(host, slot, PluginState::Booted, None);

    match timeout(t, instance.start()).await {
        Err(_) => return fail(host, slot, format!("start timed out after {t:?}")).await,
        Ok(Err(e)) => return fail(host, slot, format!("start failed: {e}")).await,
        Ok(Ok(())) => {}
    }

    if !m.subscribes.is_empty() {
        let mut sub = host
            .events
            .subscribe_many(m.subscribes.clone(), Some((m.id.clone(), slot.generation)));
        let inst = instance.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = sub.recv().await {
                inst.on_event(&event).await;
            }
        });
        *slot.event_task.lock() = Some(task);
    }

    {
        let mut s = slot.status.lock();
        s.started_at = Some(SystemTime::now());
        s.start_time = Some(began.elapsed());
    }
    slot.active.store(true, Ordering::Release);
    transition(host, slot, PluginState::Active, None);
    settle(slot, PluginState::Active);
}

/// A runtime reports that an active instance failed on its own (a process plugin that crashed
/// too often to be restarted): the plugin becomes `failed` with `reason`, its services and
/// subscriptions are withdrawn, and every plugin that requires it is told in its log (all
/// listeners also see the transition on [`STATE_TOPIC`]). Does nothing unless the plugin is
/// active, so a report that races with `stop` or with another report counts once.
pub(crate) async fn instance_failed(host: &Arc<HostInner>, slot: &Arc<Slot>, reason: String) {
    if !slot.active.swap(false, Ordering::AcqRel) {
        return;
    }
    let id = slot.descriptor.id().clone();
    // Dependents are told first: listeners of the transition may look for it in their logs.
    for dependent in host.dependents_of(id.as_str()) {
        if let Some(d) = host.slot(dependent.as_str()) {
            let level = if d.descriptor.manifest.requires.contains_key(&id) {
                LogLevel::Error
            } else {
                LogLevel::Warning
            };
            d.api.log(
                level,
                &format!("plugin {id}, which this plugin depends on, failed: {reason}"),
            );
        }
    }
    fail(host, slot, reason).await;
}

pub(crate) fn settle(slot: &Slot, state: PluginState) {
    slot.settled.send_replace(Some(state));
}

/// Puts `slot` in `failed` with `reason`, releases what it held, and settles it so that its
/// dependents give up.
pub(crate) async fn fail(host: &Arc<HostInner>, slot: &Arc<Slot>, reason: String) {
    slot.active.store(false, Ordering::Release);
    transition(host, slot, PluginState::Failed, Some(reason));
    release(host, slot);
    let instance = slot.instance.write().take();
    if let Some(i) = instance {
        // Best effort: a plugin whose hook hangs may hang here too.
        let _ = timeout(host.hook_timeout, i.unload()).await;
    }
    settle(slot, PluginState::Failed);
}

/// Withdraws a plugin's services and subscriptions (this generation's only: a successor's stay).
fn release(host: &HostInner, slot: &Slot) {
    let id = slot.descriptor.id();
    host.services.withdraw(id, slot.generation);
    host.events.unsubscribe_owner(id, slot.generation);
    if let Some(task) = slot.event_task.lock().take() {
        task.abort();
    }
}

/// Records a transition, logs it, tells listeners and publishes it on `plugin.state`.
pub(crate) fn transition(host: &HostInner, slot: &Slot, to: PluginState, reason: Option<String>) {
    let change = {
        let mut s = slot.status.lock();
        let from = s.state;
        debug_assert!(
            from.can_become(to),
            "{from} -> {to} is not a lifecycle transition"
        );
        s.state = to;
        s.reason = reason.clone();
        StateChange {
            id: slot.descriptor.id().clone(),
            version: slot.descriptor.version().clone(),
            from,
            to,
            reason,
            at: SystemTime::now(),
        }
    };
    let level = match to {
        PluginState::Failed => LogLevel::Error,
        PluginState::Disabled => LogLevel::Warning,
        _ => LogLevel::Debug,
    };
    if slot.ctx.log.enabled(level) {
        let msg = match &change.reason {
            Some(r) => format!("state {} -> {}: {r}", change.from, change.to),
            None => format!("state {} -> {}", change.from, change.to),
        };
        slot.ctx.log.record(level, &msg, &[]);
    }
    let listeners = host.listeners.read().clone();
    for l in listeners {
        if catch_unwind(AssertUnwindSafe(|| l(&change))).is_err() {
            tracing::error!(plugin = %change.id, "a state listener panicked; it was skipped");
        }
    }
    if let Ok(payload) = serde_json::to_vec(&change) {
        host.events.publish(Event::new(STATE_TOPIC, payload));
    }
}

pub(crate) async fn stop_all(host: &Arc<HostInner>) {
    if host.stopped.swap(true, Ordering::AcqRel) {
        return;
    }
    // No reload may change the plugin set while it stops.
    let _changes = host.changes.lock().await;
    stop_slots(host, host.slots()).await;
}

/// Stops `slots` concurrently, each after the plugins among them that wait for it.
pub(crate) async fn stop_slots(host: &Arc<HostInner>, slots: Vec<Arc<Slot>>) {
    let done: HashMap<PluginId, watch::Sender<bool>> = slots
        .iter()
        .map(|s| (s.descriptor.id().clone(), watch::channel(false).0))
        .collect();
    let mut dependents: HashMap<PluginId, Vec<PluginId>> = HashMap::new();
    for s in &slots {
        for w in &s.waits_for {
            dependents
                .entry(w.clone())
                .or_default()
                .push(s.descriptor.id().clone());
        }
    }
    let done = Arc::new(done);
    let dependents = Arc::new(dependents);
    let tasks = slots.into_iter().map(|slot| {
        let (host, done, dependents) = (host.clone(), done.clone(), dependents.clone());
        async move {
            // Dependents stop first.
            for d in dependents.get(slot.descriptor.id()).into_iter().flatten() {
                if let Some(tx) = done.get(d) {
                    let _ = tx.subscribe().wait_for(|v| *v).await;
                }
            }
            stop_one(&host, &slot).await;
            done[slot.descriptor.id()].send_replace(true);
        }
    });
    join_all(tasks).await;
}

pub(crate) async fn stop_one(host: &Arc<HostInner>, slot: &Arc<Slot>) {
    // A plugin still starting finishes first, so it is never stopped half-started.
    if slot.start_requested.load(Ordering::Acquire) {
        let mut rx = slot.settled.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }
    let state = slot.state();
    if !matches!(
        state,
        PluginState::Active | PluginState::Booted | PluginState::Loaded
    ) {
        return;
    }
    let Some(instance) = slot.instance.read().clone() else {
        return;
    };
    slot.active.store(false, Ordering::Release);
    transition(host, slot, PluginState::Stopping, None);
    let t = host.hook_timeout;
    let outcome = match timeout(t, instance.stop()).await {
        Err(_) => Err(format!("stop timed out after {t:?}")),
        Ok(Err(e)) => Err(format!("stop failed: {e}")),
        Ok(Ok(())) => Ok(()),
    };
    release(host, slot);
    match outcome {
        Ok(()) => transition(host, slot, PluginState::Stopped, None),
        Err(reason) => transition(host, slot, PluginState::Failed, Some(reason)),
    }
    let _ = timeout(t, instance.unload()).await;
    slot.instance.write().take();
    let reason = slot.status.lock().reason.clone();
    transition(host, slot, PluginState::Unloaded, reason);
}

pub(crate) async fn check_health(host: &Arc<HostInner>) {
    let t = host.hook_timeout;
    let active: Vec<Arc<Slot>> = host
        .slots()
        .into_iter()
        .filter(|s| s.state() == PluginState::Active)
        .collect();
    join_all(active.iter().map(|slot| async move {
        let Some(instance) = slot.instance.read().clone() else {
            return;
        };
        let report = match timeout(t, instance.health()).await {
            Ok(r) => r,
            Err(_) => Some(HealthReport::new(
                Health::Unhealthy,
                format!("the health check did not answer within {t:?}"),
            )),
        };
        slot.status.lock().host_health = report;
    }))
    .await;
}
