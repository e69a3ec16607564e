//! Hot reload: adding, updating and removing plugins while the host runs.
//!
//! The unit of change is a plugin directory. [`Host::rescan`] reads the configured directories
//! again (discovery runs no plugin code), compares what it finds with the running set, and
//! applies the differences one at a time:
//!
//! - **Add**: resolve the new plugin against what runs, start it (if eager), and start the
//!   plugins that were disabled for lack of it.
//! - **Update**: start the new version beside the old one, in a new slot; switch the route to it
//!   only once it is `active` and not unhealthy; let the old version finish the calls it already
//!   has (drain, bounded by the hook timeout), then stop and unload it. If the new version fails
//!   to load, boot, start or pass its health check, the old one keeps serving (rollback). An
//!   update whose version would break a running dependent's `requires` is refused.
//! - **Remove**: stop the plugins that require it first (they become `disabled`, with the
//!   reason), drain, stop, unload.
//!
//! A directory whose manifest became invalid (a half-saved edit) is not a removal: the running
//! version stays and the problem is reported. Every outcome is a [`ReloadEvent`] that listeners
//! registered with [`Host::on_reload`] see; the lifecycle transitions of both versions are
//! published on `plugin.state` as usual, so dependents learn of the change there.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_manifest::{Manifest, PluginId};
use semver::Version;
use serde::Serialize;

use super::builder::{new_slot, point_specs};
use super::lifecycle::{self, transition};
use super::{Host, HostInner, Route, Slot, Table};
use crate::discovery::{discover, Descriptor, Origin, MANIFEST_FILE};
use crate::extension::{PointCell, PointEntry};
use crate::resolve::{resolve, Problem, Resolution};
use crate::{Health, PluginState};

/// A listener of hot-reload outcomes.
pub(crate) type ReloadListener = Arc<dyn Fn(&ReloadEvent) + Send + Sync>;
/// A listener of changes found on disk, before they are applied.
pub(crate) type DirListener = Arc<dyn Fn(&DirChange) + Send + Sync>;

/// A change found in a plugin directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum DirChange {
    /// A plugin id the host did not know appeared.
    PluginAdded {
        /// Its id.
        id: PluginId,
        /// Its version.
        version: Version,
        /// Its directory.
        dir: PathBuf,
    },
    /// A known plugin's manifest or artifact changed.
    PluginUpdated {
        /// Its id.
        id: PluginId,
        /// The version running now.
        from: Version,
        /// The version found on disk.
        to: Version,
        /// Its directory.
        dir: PathBuf,
    },
    /// A known plugin's directory is gone.
    PluginRemoved {
        /// Its id.
        id: PluginId,
        /// The version that was running.
        version: Version,
    },
}

/// What one change did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadEvent {
    /// A new plugin was added; `state` is where it settled.
    Added {
        /// Its id.
        id: PluginId,
        /// Its version.
        version: Version,
        /// Where it settled (`active`, or `resolved` for a lazy plugin, or why not).
        state: PluginState,
        /// The reason, when it did not become active.
        reason: Option<String>,
    },
    /// A plugin was replaced by another version (or a rebuild of the same one).
    Updated {
        /// Its id.
        id: PluginId,
        /// The version that served before.
        from: Version,
        /// The version that serves now.
        to: Version,
        /// From the start of the change to the new version serving.
        #[serde(serialize_with = "millis")]
        swap: Duration,
        /// How long the old version took to finish the calls it had.
        #[serde(serialize_with = "millis")]
        drain: Duration,
        /// With `reload: { handoff: true }`: how many bytes of state the old version handed to
        /// the new one; `None` when there was no hand-off.
        #[serde(skip_serializing_if = "Option::is_none")]
        handoff: Option<usize>,
    },
    /// A plugin was stopped and removed.
    Removed {
        /// Its id.
        id: PluginId,
        /// Its version.
        version: Version,
    },
    /// A plugin was stopped because something it requires went away.
    Disabled {
        /// Its id.
        id: PluginId,
        /// Its version.
        version: Version,
        /// Why.
        reason: String,
    },
    /// A plugin that was disabled for lack of a dependency could start again.
    Enabled {
        /// Its id.
        id: PluginId,
        /// Its version.
        version: Version,
        /// Where it settled.
        state: PluginState,
    },
    /// A change was refused or rolled back; the running version (if any) keeps serving.
    Failed {
        /// The plugin.
        id: PluginId,
        /// The version that was tried, when known.
        tried: Option<Version>,
        /// The version that keeps serving, if one does.
        kept: Option<Version>,
        /// What went wrong and what to do.
        reason: String,
    },
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl fmt::Display for ReloadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadEvent::Added {
                id,
                version,
                state,
                reason,
            } => {
                write!(f, "added {id} {version} ({state})")?;
                match reason {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            ReloadEvent::Updated {
                id,
                from,
                to,
                swap,
                drain,
                handoff,
            } => {
                write!(
                    f,
                    "updated {id} {from} -> {to} (serving after {:.1} ms, old version drained in {:.1} ms",
                    swap.as_secs_f64() * 1000.0,
                    drain.as_secs_f64() * 1000.0
                )?;
                if let Some(bytes) = handoff {
                    write!(f, ", {bytes} bytes of state handed over")?;
                }
                f.write_str(")")
            }
            ReloadEvent::Removed { id, version } => write!(f, "removed {id} {version}"),
            ReloadEvent::Disabled {
                id,
                version,
                reason,
            } => write!(f, "disabled {id} {version}: {reason}"),
            ReloadEvent::Enabled { id, version, state } => {
                write!(f, "re-enabled {id} {version} ({state})")
            }
            ReloadEvent::Failed {
                id,
                tried,
                kept,
                reason,
            } => {
                write!(f, "{id}")?;
                if let Some(t) = tried {
                    write!(f, " {t}")?;
                }
                write!(f, " was not applied: {reason}")?;
                if let Some(k) = kept {
                    write!(f, " ({id} {k} keeps serving)")?;
                }
                Ok(())
            }
        }
    }
}

/// The outcome of one rescan: every change found and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReloadReport {
    /// What was found on disk.
    pub changes: Vec<DirChange>,
    /// What each change did, in order (a change may have several effects, a removal disables
    /// dependents).
    pub events: Vec<ReloadEvent>,
}

/// Why a reload request could not be carried out at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The host has stopped (or never started); plugins are not reloaded.
    #[error("the host is not running; start it before reloading plugins")]
    NotRunning,
    /// No plugin has that id.
    #[error("no plugin {0:?} in this host; `plugboard list` shows the ids")]
    UnknownPlugin(String),
    /// The plugin has no directory to read a new version from (it is compiled into the
    /// application).
    #[error("plugin {0} is part of the application (it has no plugin directory), so it cannot be reloaded from disk")]
    NotReloadable(String),
}

/// A cheap identity of a plugin's files: the manifest's bytes and the entry's size and
/// modification time. A change means "load it again".
pub(crate) fn fingerprint(d: &Descriptor) -> u64 {
    let mut h = DefaultHasher::new();
    d.manifest.id.as_str().hash(&mut h);
    d.version().to_string().hash(&mut h);
    if let Some(dir) = &d.dir {
        if !d.bare {
            std::fs::read(dir.join(MANIFEST_FILE))
                .unwrap_or_default()
                .hash(&mut h);
        }
        if let Some(entry) = d.entry_path() {
            if let Ok(meta) = std::fs::metadata(&entry) {
                meta.len().hash(&mut h);
                meta.modified().ok().hash(&mut h);
            }
        }
    }
    h.finish()
}

impl Host {
    /// Adds a listener that sees the outcome of every hot-reload change.
    pub fn on_reload(&self, listener: impl Fn(&ReloadEvent) + Send + Sync + 'static) {
        self.inner.reload_listeners.write().push(Arc::new(listener));
    }

    /// Adds a listener that sees each change found in the plugin directories (`PluginAdded`,
    /// `PluginUpdated`, `PluginRemoved`) before the host applies it.
    pub fn on_dir_change(&self, listener: impl Fn(&DirChange) + Send + Sync + 'static) {
        self.inner.dir_listeners.write().push(Arc::new(listener));
    }

    /// Reads the plugin directories again and applies what changed: new plugins are added,
    /// changed ones updated (the new version starts beside the old and takes over once
    /// active), vanished ones removed. Runs nothing when nothing changed.
    ///
    /// The directory monitor calls this after the files settle; an application may call it
    /// itself (on a signal, an admin request).
    ///
    /// # Errors
    /// [`ReloadError::NotRunning`] when the host has not started or has stopped.
    pub async fn rescan(&self) -> Result<ReloadReport, ReloadError> {
        let host = &self.inner;
        let _changes = host.changes.lock().await;
        running(host)?;
        let config = &host.config;
        let found = discover(
            config.directories.bundled.as_deref(),
            &config.directories.external,
        );
        let table = host.table.load_full();
        let mut found_ids: BTreeMap<PluginId, Descriptor> = found
            .plugins
            .into_iter()
            .map(|d| (d.id().clone(), d))
            .collect();
        for d in &host.basis.in_code {
            match found_ids.get(d.id()) {
                Some(f) if f.version() >= d.version() => {}
                _ => {
                    found_ids.insert(d.id().clone(), d.clone());
                }
            }
        }

        let mut report = ReloadReport::default();
        // Removed first (so that a plugin moved to another directory under a new id does not
        // clash), then updated, then added.
        for (id, route) in &table.routes {
            if found_ids.contains_key(id) {
                continue;
            }
            let slot = route.current();
            // A directory that is still there but no longer parses is a broken edit, not a
            // removal: keep what runs and say why.
            let broken = slot.descriptor.dir.as_ref().and_then(|dir| {
                found
                    .rejected
                    .iter()
                    .find(|r| &r.path == dir || (slot.descriptor.bare && r.path.starts_with(dir)))
            });
            if let Some(r) = broken {
                if table.fingerprints.get(id) != Some(&u64::MAX) {
                    report.events.push(ReloadEvent::Failed {
                        id: id.clone(),
                        tried: None,
                        kept: Some(slot.descriptor.version().clone()),
                        reason: format!("{}: {}", r.path.display(), r.reason),
                    });
                    // Remember that this breakage was reported, so the next scan is quiet.
                    let mut next = (*host.table.load_full()).clone();
                    next.fingerprints.insert(id.clone(), u64::MAX);
                    host.set_table(Arc::new(next));
                }
                continue;
            }
            report.changes.push(DirChange::PluginRemoved {
                id: id.clone(),
                version: slot.descriptor.version().clone(),
            });
        }
        for (id, d) in &found_ids {
            match table.routes.get(id) {
                Some(route) => {
                    let current = route.current();
                    if current.descriptor.origin == Origin::Application
                        && d.origin == Origin::Application
                    {
                        continue;
                    }
                    if table.fingerprints.get(id) == Some(&fingerprint(d)) {
                        continue;
                    }
                    report.changes.push(DirChange::PluginUpdated {
                        id: id.clone(),
                        from: current.descriptor.version().clone(),
                        to: d.version().clone(),
                        dir: d.dir.clone().unwrap_or_default(),
                    });
                }
                None => report.changes.push(DirChange::PluginAdded {
                    id: id.clone(),
                    version: d.version().clone(),
                    dir: d.dir.clone().unwrap_or_default(),
                }),
            }
        }

        let dir_listeners = host.dir_listeners.read().clone();
        for change in &report.changes {
            for l in &dir_listeners {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(change))).is_err() {
                    tracing::error!("a directory-change listener panicked; it was skipped");
                }
            }
        }
        for change in report.changes.clone() {
            let events = match change {
                DirChange::PluginRemoved { id, .. } => remove(host, &id).await,
                DirChange::PluginUpdated { id, .. } => {
                    let d = found_ids.remove(&id).expect("an updated plugin was found");
                    update(host, d).await
                }
                DirChange::PluginAdded { id, .. } => {
                    let d = found_ids.remove(&id).expect("an added plugin was found");
                    add(host, d).await
                }
            };
            report.events.extend(events);
        }
        // Rejections and shadowing as discovery sees them now.
        let mut next = (*host.table.load_full()).clone();
        next.rejected = found.rejected;
        next.shadowed = found.shadowed;
        host.set_table(Arc::new(next));

        notify(host, &report.events);
        Ok(report)
    }

    /// Loads plugin `id` again from its directory, as a new instance beside the running one,
    /// and switches to it once active (even if nothing changed on disk): a restart without
    /// downtime. On failure the running instance keeps serving.
    ///
    /// # Errors
    /// When the host is not running, the id is unknown, or the plugin has no directory.
    pub async fn reload_plugin(&self, id: &str) -> Result<Vec<ReloadEvent>, ReloadError> {
        let host = &self.inner;
        let _changes = host.changes.lock().await;
        running(host)?;
        let slot = host
            .slot(id)
            .ok_or_else(|| ReloadError::UnknownPlugin(id.to_owned()))?;
        let d = &slot.descriptor;
        let Some(dir) = d.dir.clone() else {
            return Err(ReloadError::NotReloadable(id.to_owned()));
        };
        let fresh = if d.bare {
            Manifest::for_bare_artifact(&d.manifest.entry).map_err(|e| e.to_string())
        } else {
            crate::discovery::load_manifest(&dir.join(MANIFEST_FILE))
        };
        let events = match fresh {
            Ok(manifest) => {
                update(
                    host,
                    Descriptor {
                        manifest,
                        dir: Some(dir),
                        origin: d.origin.clone(),
                        bare: d.bare,
                    },
                )
                .await
            }
            Err(reason) => vec![ReloadEvent::Failed {
                id: d.id().clone(),
                tried: None,
                kept: Some(d.version().clone()),
                reason,
            }],
        };
        notify(host, &events);
        Ok(events)
    }
}

impl Host {
    /// Loads plugin `id` again from its current descriptor (a fresh instance beside the running
    /// one, switched to once active): a restart without downtime. A plugin that `failed` gets
    /// another chance. On failure the running instance keeps serving.
    ///
    /// # Errors
    /// When the host is not running or the id is unknown.
    pub async fn restart_plugin(&self, id: &str) -> Result<Vec<ReloadEvent>, ReloadError> {
        let host = &self.inner;
        let _changes = host.changes.lock().await;
        running(host)?;
        let slot = host
            .slot(id)
            .ok_or_else(|| ReloadError::UnknownPlugin(id.to_owned()))?;
        let events = update(host, (*slot.descriptor).clone()).await;
        notify(host, &events);
        Ok(events)
    }

    /// Stops plugin `id` and the plugins that require it (dependents first) and keeps them
    /// `disabled` until [`enable_plugin`](Self::enable_plugin), also across rescans. The
    /// operator's switch, as a dashboard offers it.
    ///
    /// # Errors
    /// When the host is not running or the id is unknown.
    pub async fn disable_plugin(&self, id: &str) -> Result<Vec<ReloadEvent>, ReloadError> {
        let host = &self.inner;
        let _changes = host.changes.lock().await;
        running(host)?;
        let table = host.table.load_full();
        let Some((pid, _)) = table.routes.get_key_value(id) else {
            return Err(ReloadError::UnknownPlugin(id.to_owned()));
        };
        let pid = pid.clone();
        host.operator_disabled.lock().insert(pid.clone());
        let set_with = all_descriptors(&table);
        let resolution = resolve_set(host, &set_with);
        let events =
            stop_unresolved(host, &table, &resolution, Stopping::Disabled(pid.clone())).await;
        host.set_table(Arc::new(next_table(
            host,
            &table,
            table.routes.clone(),
            resolution,
            &set_with,
        )));
        notify(host, &events);
        Ok(events)
    }

    /// Undoes [`disable_plugin`](Self::disable_plugin): plugin `id` and the plugins it held
    /// back start again (if eager).
    ///
    /// # Errors
    /// When the host is not running or the id is unknown.
    pub async fn enable_plugin(&self, id: &str) -> Result<Vec<ReloadEvent>, ReloadError> {
        let host = &self.inner;
        let _changes = host.changes.lock().await;
        running(host)?;
        let table = host.table.load_full();
        if !table.routes.contains_key(id) {
            return Err(ReloadError::UnknownPlugin(id.to_owned()));
        }
        host.operator_disabled.lock().retain(|d| d.as_str() != id);
        let set = all_descriptors(&table);
        let resolution = resolve_set(host, &set);
        host.set_table(Arc::new(next_table(
            host,
            &table,
            table.routes.clone(),
            resolution.clone(),
            &set,
        )));
        let events = enable_resolved(host, &resolution, None).await;
        notify(host, &events);
        Ok(events)
    }
}

fn running(host: &HostInner) -> Result<(), ReloadError> {
    if !host.started.load(Ordering::Acquire) || host.stopped.load(Ordering::Acquire) {
        return Err(ReloadError::NotRunning);
    }
    Ok(())
}

fn notify(host: &HostInner, events: &[ReloadEvent]) {
    let listeners = host.reload_listeners.read().clone();
    for e in events {
        tracing::info!(target: "plugboard::reload", "{e}");
        for l in &listeners {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(e))).is_err() {
                tracing::error!("a reload listener panicked; it was skipped");
            }
        }
    }
}

/// Why plugins are being stopped.
enum Stopping {
    /// An operator disabled this plugin.
    Disabled(PluginId),
    /// This plugin's directory went away: it stops too, last, and is not `disabled`.
    Removed(Arc<Slot>),
}

/// Stops, dependents first, every running plugin that `resolution` disables (and the removed
/// plugin), and puts each in `disabled` with its reason.
async fn stop_unresolved(
    host: &Arc<HostInner>,
    table: &Table,
    resolution: &Resolution,
    why: Stopping,
) -> Vec<ReloadEvent> {
    let losing: Vec<Arc<Slot>> = resolution
        .disabled
        .keys()
        .filter_map(|other| table.routes.get(other))
        .map(|r| r.current())
        .filter(|s| s.state() != PluginState::Disabled)
        .collect();
    let mut stopping = losing.clone();
    let cause = match &why {
        Stopping::Disabled(id) => id.clone(),
        Stopping::Removed(slot) => {
            stopping.push(slot.clone());
            slot.descriptor.id().clone()
        }
    };
    for s in &stopping {
        s.active.store(false, Ordering::SeqCst);
    }
    drain_all(host, &stopping).await;
    lifecycle::stop_slots(host, stopping).await;
    let mut events = Vec::new();
    for s in &losing {
        let id = s.descriptor.id();
        let reason = if matches!(&why, Stopping::Disabled(d) if d == id) {
            "disabled by the operator; enable it again to start it".to_owned()
        } else if let Stopping::Removed(_) = why {
            format!("requires {cause}, which was removed")
        } else {
            resolution
                .reason(id.as_str())
                .unwrap_or_else(|| format!("requires {cause}, which is disabled"))
        };
        if s.state().can_become(PluginState::Disabled) {
            transition(host, s, PluginState::Disabled, Some(reason.clone()));
        }
        events.push(ReloadEvent::Disabled {
            id: id.clone(),
            version: s.descriptor.version().clone(),
            reason,
        });
    }
    events
}

/// The descriptors of the current set.
fn all_descriptors(table: &Table) -> BTreeMap<PluginId, Descriptor> {
    table
        .routes
        .iter()
        .map(|(k, r)| (k.clone(), (*r.current().descriptor).clone()))
        .collect()
}

/// The descriptors of the current set, with `change` applied (`Some` to put, `None` to drop).
fn descriptors_with(
    table: &Table,
    id: &PluginId,
    change: Option<&Descriptor>,
) -> BTreeMap<PluginId, Descriptor> {
    let mut out = all_descriptors(table);
    match change {
        Some(d) => {
            out.insert(id.clone(), d.clone());
        }
        None => {
            out.remove(id);
        }
    }
    out
}

/// Resolves `set` under the host's constraints, re-checking each plugin with its runtime.
fn resolve_set(host: &HostInner, set: &BTreeMap<PluginId, Descriptor>) -> Resolution {
    let mut constraints = host.basis.constraints.clone();
    constraints
        .disabled
        .extend(host.operator_disabled.lock().iter().cloned());
    for d in set.values() {
        let problem = match host.runtimes.get(&d.runtime()) {
            None => Some(
                crate::Error::MissingRuntime {
                    plugin: d.id().clone(),
                    kind: d.runtime(),
                }
                .to_string(),
            ),
            Some(rt) => rt.check(d).err().map(|e| e.to_string()),
        };
        if let Some(p) = problem {
            constraints.unavailable.insert(d.id().clone(), p);
        }
    }
    let manifests: Vec<&Manifest> = set.values().map(|d| &d.manifest).collect();
    resolve(&manifests, &host.basis.api_version, &constraints)
}

/// A new table: `routes` (some replaced or removed), with order, resolution, points and
/// fingerprints to match `set`.
fn next_table(
    host: &HostInner,
    base: &Table,
    routes: HashMap<PluginId, Arc<Route>, std::hash::BuildHasherDefault<super::IdHasher>>,
    mut resolution: Resolution,
    set: &BTreeMap<PluginId, Descriptor>,
) -> Table {
    let mut warnings = std::mem::take(&mut resolution.warnings);
    let specs = point_specs(&host.basis.points, set, &mut warnings);
    resolution.warnings = warnings;
    let mut order = resolution.order.clone();
    order.extend(resolution.disabled.keys().cloned());
    let mut table = Table {
        current: HashMap::default(),
        routes,
        order,
        resolution: Arc::new(resolution),
        shadowed: base.shadowed.clone(),
        rejected: base.rejected.clone(),
        missing: base
            .missing
            .iter()
            .filter(|m| !set.contains_key(&m.id))
            .cloned()
            .collect(),
        points: HashMap::new(),
        fingerprints: set
            .iter()
            .map(|(id, d)| {
                let keep = base.fingerprints.get(id).copied();
                let same = base
                    .routes
                    .get(id)
                    .is_some_and(|r| r.current().descriptor.version() == d.version());
                (
                    id.clone(),
                    keep.filter(|_| same && d.dir.is_none())
                        .unwrap_or_else(|| fingerprint(d)),
                )
            })
            .collect(),
    };
    // Point cells stay the same objects (handles hold them); their entries are replaced.
    let mut points = HashMap::new();
    for (pid, (point, impls)) in specs {
        let entry = PointEntry::new(point, impls, &table);
        let cell = match base.points.get(&pid) {
            Some(cell) => {
                cell.replace(entry);
                cell.clone()
            }
            None => Arc::new(PointCell::new(entry)),
        };
        points.insert(pid, cell);
    }
    table.points = points;
    table.refresh_slots();
    table
}

/// Re-reads the routes' current slots into the table (after routes were switched).
fn refresh(host: &HostInner) {
    let mut next = (*host.table.load_full()).clone();
    next.refresh_slots();
    host.set_table(Arc::new(next));
}

fn fresh_slot(host: &Arc<HostInner>, d: Descriptor, resolution: &Resolution) -> Arc<Slot> {
    let id = d.id().clone();
    let state = match resolution.reason(id.as_str()) {
        Some(r) => (PluginState::Disabled, Some(r)),
        None => (PluginState::Resolved, None),
    };
    new_slot(
        &Arc::downgrade(host),
        &host.config,
        &host.slot_settings,
        Arc::new(d),
        state,
        resolution.waits_for.get(&id).cloned().unwrap_or_default(),
        host.generations.fetch_add(1, Ordering::Relaxed),
    )
}

/// Starts `slot` if it is eager, and returns where it settled.
async fn start_if_eager(host: &Arc<HostInner>, slot: &Arc<Slot>) -> PluginState {
    if slot.state() == PluginState::Disabled || slot.is_lazy() {
        return slot.state();
    }
    lifecycle::ensure_started(host, slot).await
}

/// Plugins that are disabled now but resolve in `resolution`: give each a fresh slot and start
/// it. Returns their events.
async fn enable_resolved(
    host: &Arc<HostInner>,
    resolution: &Resolution,
    skip: Option<&PluginId>,
) -> Vec<ReloadEvent> {
    let table = host.table.load_full();
    let mut revived = Vec::new();
    for id in &resolution.order {
        if Some(id) == skip {
            continue;
        }
        let Some(route) = table.routes.get(id) else {
            continue;
        };
        let old = route.current();
        if old.state() != PluginState::Disabled || resolution.disabled.contains_key(id) {
            continue;
        }
        let slot = fresh_slot(host, (*old.descriptor).clone(), resolution);
        route.slot.store(slot.clone());
        revived.push(slot);
    }
    if !revived.is_empty() {
        refresh(host);
    }
    let mut events = Vec::new();
    for slot in revived {
        let state = start_if_eager(host, &slot).await;
        events.push(ReloadEvent::Enabled {
            id: slot.descriptor.id().clone(),
            version: slot.descriptor.version().clone(),
            state,
        });
    }
    events
}

async fn add(host: &Arc<HostInner>, d: Descriptor) -> Vec<ReloadEvent> {
    let id = d.id().clone();
    let version = d.version().clone();
    let table = host.table.load_full();
    let set = descriptors_with(&table, &id, Some(&d));
    let resolution = resolve_set(host, &set);
    let slot = fresh_slot(host, d, &resolution);
    let mut routes = table.routes.clone();
    routes.insert(id.clone(), Arc::new(Route::new(slot.clone())));
    host.set_table(Arc::new(next_table(
        host,
        &table,
        routes,
        resolution.clone(),
        &set,
    )));
    let state = start_if_eager(host, &slot).await;
    let mut events = vec![ReloadEvent::Added {
        id: id.clone(),
        version,
        state,
        reason: slot.status.lock().reason.clone(),
    }];
    events.extend(enable_resolved(host, &resolution, Some(&id)).await);
    events
}

async fn update(host: &Arc<HostInner>, d: Descriptor) -> Vec<ReloadEvent> {
    let began = Instant::now();
    let id = d.id().clone();
    let to = d.version().clone();
    let table = host.table.load_full();
    let Some(route) = table.routes.get(&id).cloned() else {
        return add(host, d).await;
    };
    let old = route.current();
    let from = old.descriptor.version().clone();
    let failed = |reason: String| {
        vec![ReloadEvent::Failed {
            id: id.clone(),
            tried: Some(to.clone()),
            kept: (old.state() == PluginState::Active).then(|| from.clone()),
            reason,
        }]
    };

    let set = descriptors_with(&table, &id, Some(&d));
    let resolution = resolve_set(host, &set);
    if let Some(problems) = resolution.disabled.get(&id) {
        let reason = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        // A plugin that could not run before and cannot now: record the new files quietly.
        if old.state() != PluginState::Active {
            let mut next = (*table).clone();
            next.fingerprints.insert(id.clone(), fingerprint(&d));
            host.set_table(Arc::new(next));
        }
        return failed(format!("the new version cannot start: {reason}"));
    }
    // A new version that breaks a running dependent's `requires` is refused.
    let broken: Vec<String> = resolution
        .disabled
        .iter()
        .filter(|(other, _)| *other != &id)
        .filter(|(other, _)| {
            table
                .routes
                .get(*other)
                .is_some_and(|r| r.current().state() == PluginState::Active)
        })
        .map(|(other, problems)| {
            let why = problems
                .iter()
                .find(
                    |p| matches!(p, Problem::WrongVersion { dependency, .. } if dependency == &id),
                )
                .map_or_else(|| problems[0].to_string(), ToString::to_string);
            format!("{other} {why}")
        })
        .collect();
    if !broken.is_empty() {
        let mut next = (*table).clone();
        next.fingerprints.insert(id.clone(), fingerprint(&d));
        host.set_table(Arc::new(next));
        return failed(format!(
            "version {to} would break running plugins: {}; update them first or keep a compatible version",
            broken.join("; ")
        ));
    }

    let new = fresh_slot(host, d, &resolution);
    // A refused version is remembered by its files, so a rescan does not try it again until
    // they change.
    let refuse = |what: String| {
        let mut next = (*table).clone();
        next.fingerprints
            .insert(id.clone(), fingerprint(&new.descriptor));
        host.set_table(Arc::new(next));
        failed(what)
    };
    let was_active = old.state() == PluginState::Active;
    let lazy_idle = old.is_lazy() && !old.start_requested.load(Ordering::Acquire);
    // A lazy plugin that is not running starts on its first call, as before the update.
    let deferred = new.is_lazy() && !was_active;

    // State hand-off: calls to the old version wait from here until the switch (or resume on
    // it if the new version fails); it finishes the calls it has and exports its state, which
    // the new version receives when it boots.
    let mut pause = None;
    let mut handoff = None;
    if was_active && !deferred && old.descriptor.manifest.reload.handoff {
        if new.descriptor.manifest.reload.handoff {
            let paused = Pause::begin(&old);
            match hand_off(host, &old, &from).await {
                Ok(state) => {
                    handoff = Some(state.as_ref().map_or(0, Vec::len));
                    *new.ctx.handoff.lock() = state;
                }
                Err(reason) => {
                    drop(paused);
                    return refuse(reason);
                }
            }
            pause = Some(paused);
        } else {
            old.api.log(
                plugboard_manifest::LogLevel::Warning,
                &format!(
                    "version {to} does not set `reload: {{ handoff: true }}`, so the state of {from} is not handed over"
                ),
            );
        }
    }

    if (was_active || !lazy_idle) && !deferred {
        let state = lifecycle::ensure_started(host, &new).await;
        if state != PluginState::Active {
            let reason = new
                .status
                .lock()
                .reason
                .clone()
                .unwrap_or_else(|| format!("it ended {state}"));
            return refuse(format!("the new version did not start: {reason}"));
        }
        if let Some(reason) = unhealthy(host, &new).await {
            lifecycle::stop_one(host, &new).await;
            return refuse(format!("the new version is unhealthy: {reason}"));
        }
    }

    // Switch: new calls go to the new version from here on. The route first, then the table
    // (whose fast path falls back to the route for a retired slot), then the old slot retires.
    route.slot.store(new.clone());
    host.set_table(Arc::new(next_table(
        host,
        &table,
        table.routes.clone(),
        resolution.clone(),
        &set,
    )));
    old.retired.store(true, Ordering::SeqCst);
    if let Some(paused) = pause {
        paused.switched();
    }
    let swap = began.elapsed();

    // Drain: the old version finishes the calls it has, within the hook timeout.
    let drain_began = Instant::now();
    let deadline = drain_began + host.hook_timeout;
    while old.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let left = old.in_flight();
    if left > 0 {
        old.api.log(
            plugboard_manifest::LogLevel::Warning,
            &format!(
                "{left} call(s) were still running on version {from} after {:?}; stopping it anyway",
                host.hook_timeout
            ),
        );
    }
    let drain = drain_began.elapsed();
    lifecycle::stop_one(host, &old).await;
    new.api.log(
        plugboard_manifest::LogLevel::Info,
        &format!("hot reload: {id} {from} -> {to}"),
    );
    let mut events = vec![ReloadEvent::Updated {
        id: id.clone(),
        from,
        to,
        swap,
        drain,
        handoff,
    }];
    events.extend(enable_resolved(host, &resolution, Some(&id)).await);
    events
}

/// A running version paused for a state hand-off. Dropping it resumes that version (the
/// rollback); [`Pause::switched`] instead lets the waiting calls go on to its successor.
struct Pause {
    slot: Arc<Slot>,
}

impl Pause {
    /// Pauses `slot`: from here new calls wait (see [`Slot::paused`]) and the ones in flight
    /// can be drained. The flag is set before `active` is cleared, so a caller that finds the
    /// slot inactive also finds it paused; `active` is cleared before the drain reads the call
    /// count (both sequentially consistent, as in [`Slot::enter`]), so every call either waits
    /// or is counted in flight.
    fn begin(slot: &Arc<Slot>) -> Self {
        slot.paused.send_replace(true);
        slot.active.store(false, Ordering::SeqCst);
        Self { slot: slot.clone() }
    }

    /// The successor serves now: the waiting calls follow the route to it.
    fn switched(self) {
        self.slot.paused.send_replace(false);
        std::mem::forget(self);
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        if self.slot.state() == PluginState::Active {
            self.slot.active.store(true, Ordering::SeqCst);
        }
        self.slot.paused.send_replace(false);
    }
}

/// Quiesces a paused version (waits for the calls it has, within the hook timeout) and asks
/// it for its state. `Err` says why the hand-off cannot happen; the version keeps serving.
async fn hand_off(host: &HostInner, old: &Slot, from: &Version) -> Result<Option<Vec<u8>>, String> {
    let t = host.hook_timeout;
    let deadline = Instant::now() + t;
    while old.in_flight() > 0 {
        if Instant::now() >= deadline {
            return Err(format!(
                "version {from} still had {} call(s) in flight after {t:?}, so its state could not be exported consistently; it keeps serving (raise `hook_timeout` or shorten its calls)",
                old.in_flight()
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let Some(instance) = old.loaded.get().cloned() else {
        return Err(format!(
            "version {from} is not loaded, so it has no state to hand over"
        ));
    };
    match tokio::time::timeout(t, instance.export_state()).await {
        Err(_) => Err(format!(
            "version {from} did not export its state within {t:?}; it keeps serving"
        )),
        Ok(Err(e)) => Err(format!("version {from}: {e}; it keeps serving")),
        Ok(Ok(state)) => Ok(state),
    }
}

/// Asks a freshly started plugin for its health once; `Some(reason)` if it says unhealthy or
/// does not answer within the hook timeout.
async fn unhealthy(host: &HostInner, slot: &Slot) -> Option<String> {
    let instance = slot.instance.read().clone()?;
    match tokio::time::timeout(host.hook_timeout, instance.health()).await {
        Err(_) => Some(format!(
            "the health check did not answer within {:?}",
            host.hook_timeout
        )),
        Ok(Some(r)) if r.health == Health::Unhealthy => Some(r.message),
        Ok(_) => None,
    }
}

async fn remove(host: &Arc<HostInner>, id: &PluginId) -> Vec<ReloadEvent> {
    let table = host.table.load_full();
    let Some(route) = table.routes.get(id).cloned() else {
        return Vec::new();
    };
    let slot = route.current();
    let version = slot.descriptor.version().clone();
    let set = descriptors_with(&table, id, None);
    let resolution = resolve_set(host, &set);

    // Everything running that can no longer resolve stops first, dependents before what they
    // depend on, and is disabled with the reason; then the plugin itself.
    let mut events = stop_unresolved(host, &table, &resolution, Stopping::Removed(slot)).await;

    let mut routes = table.routes.clone();
    routes.remove(id);
    host.set_table(Arc::new(next_table(host, &table, routes, resolution, &set)));
    events.insert(
        0,
        ReloadEvent::Removed {
            id: id.clone(),
            version,
        },
    );
    events
}

/// Waits (within the hook timeout) until none of `slots` has a call in flight.
async fn drain_all(host: &HostInner, slots: &[Arc<Slot>]) {
    let deadline = Instant::now() + host.hook_timeout;
    while slots.iter().any(|s| s.in_flight() > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
