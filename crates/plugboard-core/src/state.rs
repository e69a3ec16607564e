//! Lifecycle states, health, and the events that report transitions.

use std::fmt;
use std::time::SystemTime;

use plugboard_manifest::PluginId;
use semver::Version;
use serde::{Deserialize, Serialize};

/// Where a plugin is in its lifecycle.
///
/// The normal path is `discovered -> resolved -> loaded -> booted -> active -> stopping ->
/// stopped -> unloaded`. `disabled` means it was never started (by configuration, or because it
/// or a required dependency could not resolve or failed); `failed` means one of its own hooks
/// failed or timed out. Both carry a reason in [`PluginStatus::reason`](crate::PluginStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Its manifest was read.
    Discovered,
    /// Its dependencies and API version are satisfied; it may be loaded.
    Resolved,
    /// Its runtime created an instance (code is loaded, no hook has run).
    Loaded,
    /// `boot(config)` succeeded.
    Booted,
    /// `start` succeeded: it serves calls and events.
    Active,
    /// `stop` is running.
    Stopping,
    /// `stop` finished.
    Stopped,
    /// Its runtime released the instance.
    Unloaded,
    /// It will not be started; see the reason.
    Disabled,
    /// One of its hooks failed or timed out; see the reason.
    Failed,
}

impl PluginState {
    /// The lower-case name used in tables, JSON and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discovered => "discovered",
            Self::Resolved => "resolved",
            Self::Loaded => "loaded",
            Self::Booted => "booted",
            Self::Active => "active",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Unloaded => "unloaded",
            Self::Disabled => "disabled",
            Self::Failed => "failed",
        }
    }

    /// Whether the state machine allows going from `self` to `next`.
    ///
    /// Any live state may fall to `failed` or `disabled`; a stopped or unloaded plugin may be
    /// resolved again (restart, reload).
    pub fn can_become(self, next: PluginState) -> bool {
        use PluginState::*;
        matches!(
            (self, next),
            (Discovered, Resolved)
                | (Resolved, Loaded)
                | (Loaded, Booted)
                | (Booted, Active)
                | (Active, Stopping)
                | (Loaded | Booted, Stopping)
                | (Stopping, Stopped)
                | (Stopped, Unloaded)
                | (Loaded | Failed, Unloaded)
                | (Unloaded | Stopped | Disabled | Failed, Resolved)
                | (Discovered | Resolved, Disabled)
                // Stopped because something it requires was removed (hot reload).
                | (Unloaded | Stopped | Failed, Disabled)
                | (Loaded | Booted | Active | Stopping, Failed)
                | (Resolved, Failed)
        )
    }

    /// Whether the plugin has finished trying to start, one way or the other.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Active | Self::Failed | Self::Disabled)
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How well an active plugin is doing, reported beside its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Working normally.
    #[default]
    Healthy,
    /// Working, but something is wrong (slow, retrying, partly unavailable).
    Degraded,
    /// Not able to do its work.
    Unhealthy,
}

impl Health {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A health report: the level and a message saying why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The level.
    pub health: Health,
    /// Why, for an operator.
    pub message: String,
}

impl HealthReport {
    /// A report of `health` with `message`.
    pub fn new(health: Health, message: impl Into<String>) -> Self {
        Self {
            health,
            message: message.into(),
        }
    }
}

/// One lifecycle transition, as listeners and the `plugin.state` topic see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// The plugin.
    pub id: PluginId,
    /// Its version.
    pub version: Version,
    /// The state it left.
    pub from: PluginState,
    /// The state it entered.
    pub to: PluginState,
    /// Why, for `disabled` and `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When.
    #[serde(with = "unix_millis")]
    pub at: SystemTime,
}

mod unix_millis {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        s.serialize_u64(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let ms = u64::deserialize(d)?;
        Ok(UNIX_EPOCH + Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::PluginState::*;

    #[test]
    fn normal_path_is_allowed() {
        let path = [
            Discovered, Resolved, Loaded, Booted, Active, Stopping, Stopped, Unloaded,
        ];
        for w in path.windows(2) {
            assert!(w[0].can_become(w[1]), "{} -> {}", w[0], w[1]);
        }
    }

    #[test]
    fn skipping_states_is_refused() {
        assert!(!Discovered.can_become(Active));
        assert!(!Resolved.can_become(Active));
        assert!(!Active.can_become(Stopped));
        assert!(!Disabled.can_become(Active));
        assert!(!Unloaded.can_become(Active));
    }

    #[test]
    fn live_states_can_fail() {
        for s in [Loaded, Booted, Active, Stopping] {
            assert!(s.can_become(Failed), "{s}");
        }
        assert!(!Unloaded.can_become(Failed));
    }
}
