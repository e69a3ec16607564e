//! Snapshots of plugin status for `list`, `info`, dashboards and applications.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{HostInner, Slot};
use crate::{Health, PluginState};

/// One row of `plugboard list`: everything an operator needs to know about a plugin at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStatus {
    /// The plugin's id (for a directory refused at discovery, its name).
    pub id: String,
    /// Its version, when known.
    pub version: Option<String>,
    /// Its runtime, when known.
    pub runtime: Option<String>,
    /// Its lifecycle state.
    pub state: PluginState,
    /// Its health, for plugins that are running.
    pub health: Option<Health>,
    /// What the last health report said.
    pub health_message: Option<String>,
    /// Why it is `disabled` or `failed`, and notes such as a shadowed copy.
    pub reason: Option<String>,
    /// The directory it was found in (or `application`, or `-` when missing).
    pub source: String,
    /// `bundled`, `external`, `application` or `missing`.
    pub origin: String,
    /// Whether it is a bare artifact described by default values.
    pub bare: bool,
    /// How long it took to load, boot and start, in milliseconds.
    pub start_ms: Option<f64>,
    /// Calls served.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Other copies of it that a higher version hid.
    pub shadowed: Vec<String>,
    /// Warnings from resolution (optional dependencies that were not used, unknown points).
    pub warnings: Vec<String>,
}

pub(crate) fn of_slot(host: &HostInner, slot: &Slot) -> PluginStatus {
    let table = host.table.load();
    let d = &slot.descriptor;
    let s = slot.status.lock().clone();
    let running = matches!(
        s.state,
        PluginState::Active | PluginState::Booted | PluginState::Loaded | PluginState::Stopping
    );
    let reported = slot.ctx.reported_health.lock().clone();
    let worst = [reported.as_ref(), s.host_health.as_ref()]
        .into_iter()
        .flatten()
        .max_by_key(|r| r.health as u8);
    let id = d.id().as_str();
    PluginStatus {
        id: id.to_owned(),
        version: Some(d.version().to_string()),
        runtime: Some(d.runtime().to_string()),
        state: s.state,
        health: running.then(|| worst.map_or(Health::Healthy, |r| r.health)),
        health_message: if running {
            worst.map(|r| r.message.clone())
        } else {
            None
        },
        reason: s.reason,
        source: d
            .dir
            .as_ref()
            .map_or_else(|| "application".to_owned(), |p| p.display().to_string()),
        origin: d.origin.label().to_owned(),
        bare: d.bare,
        start_ms: s.start_time.map(|t| t.as_secs_f64() * 1000.0),
        calls: slot.calls.load(Ordering::Relaxed),
        errors: slot.errors.load(Ordering::Relaxed),
        shadowed: table
            .shadowed
            .iter()
            .filter(|sh| sh.id.as_str() == id)
            .map(|sh| {
                format!(
                    "{} {} in {} is shadowed by {} {}",
                    sh.id,
                    sh.version,
                    sh.dir
                        .as_ref()
                        .map_or_else(|| sh.origin.label().to_owned(), |p| p.display().to_string()),
                    sh.by_origin.label(),
                    sh.by_version
                )
            })
            .collect(),
        warnings: table
            .resolution
            .warnings
            .iter()
            .filter(|(w, _)| w.as_str() == id)
            .map(|(_, m)| m.clone())
            .collect(),
    }
}

pub(crate) fn collect(host: &HostInner) -> Vec<PluginStatus> {
    let mut out: Vec<PluginStatus> = host.slots().iter().map(|s| of_slot(host, s)).collect();
    let table = host.table.load();
    for r in &table.rejected {
        out.push(never_started(
            r.name.clone(),
            None,
            r.reason.clone(),
            r.path.display().to_string(),
            r.origin.label(),
        ));
    }
    for m in &table.missing {
        out.push(never_started(
            m.id.to_string(),
            m.version.as_ref().map(ToString::to_string),
            "listed under `plugins:` in the host configuration but not installed; install it (plugboard install) or put it in a plugin directory".to_owned(),
            "-".to_owned(),
            "missing",
        ));
    }
    out
}

/// A row for something that never became a plugin of this host: refused at discovery, or
/// listed in the configuration but not installed.
fn never_started(
    id: String,
    version: Option<String>,
    reason: String,
    source: String,
    origin: &str,
) -> PluginStatus {
    PluginStatus {
        id,
        version,
        runtime: None,
        state: PluginState::Disabled,
        health: None,
        health_message: None,
        reason: Some(reason),
        source,
        origin: origin.to_owned(),
        bare: false,
        start_ms: None,
        calls: 0,
        errors: 0,
        shadowed: Vec::new(),
        warnings: Vec::new(),
    }
}
