//! A plugin's `process:` section, with defaults applied.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plugboard_core::manifest::{ProcessProtocol, RestartWhen};
use plugboard_core::Descriptor;

use crate::error::ProcessError;

/// The magic cookie used when the manifest names none; `plugboard-pdk` and `sdk/python` expect
/// it by default.
pub const DEFAULT_COOKIE_KEY: &str = "PLUGBOARD_PLUGIN";
/// See [`DEFAULT_COOKIE_KEY`].
pub const DEFAULT_COOKIE_VALUE: &str = "d3b2c1a0-plugboard";

/// Runs in the child between `fork` and `exec` (the OS sandbox). It must be async-signal-safe.
pub type PreExec = Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// When and how often a crashed plugin is started again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Restart {
    pub(crate) when: RestartWhen,
    pub(crate) max: u32,
    pub(crate) window: Duration,
}

/// What the runtime needs to run one plugin.
pub(crate) struct Settings {
    pub(crate) protocol: ProcessProtocol,
    pub(crate) entry: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) handshake: Option<plugboard_core::manifest::Handshake>,
    pub(crate) auto_mtls: bool,
    pub(crate) restart: Restart,
    pub(crate) start_timeout: Duration,
    pub(crate) call_timeout: Duration,
    /// How long a process has to exit after a polite request, then after SIGTERM.
    pub(crate) stop_grace: Duration,
    pub(crate) pre_exec: Option<PreExec>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("entry", &self.entry)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub(crate) fn of(d: &Descriptor) -> Result<Settings, ProcessError> {
        let plugin = d.id().to_string();
        let entry = d.entry_path().ok_or_else(|| ProcessError::Manifest {
            plugin: plugin.clone(),
            message: "it has no plugin directory, so its `entry:` cannot be found".to_owned(),
        })?;
        let p = d.manifest.process.clone().unwrap_or_default();
        let r = p.restart.clone();
        let restart = Restart {
            when: r.as_ref().map_or(RestartWhen::OnFailure, |r| r.policy),
            max: r.as_ref().and_then(|r| r.max).unwrap_or(5),
            window: r
                .as_ref()
                .and_then(|r| r.window)
                .map_or(Duration::from_secs(60), |w| w.0),
        };
        Ok(Settings {
            protocol: p.protocol,
            entry,
            args: p.args,
            env: p.env,
            handshake: p.handshake,
            auto_mtls: p.auto_mtls,
            restart,
            start_timeout: p.start_timeout.map_or(Duration::from_secs(20), |t| t.0),
            call_timeout: p.call_timeout.map_or(Duration::from_secs(30), |t| t.0),
            stop_grace: Duration::from_secs(2),
            pre_exec: None,
        })
    }

    /// The magic cookie: the manifest's, or Plugboard's default.
    pub(crate) fn cookie(&self) -> (String, String) {
        match &self.handshake {
            Some(h) => (h.cookie_key.clone(), h.cookie_value.clone()),
            None => (
                DEFAULT_COOKIE_KEY.to_owned(),
                DEFAULT_COOKIE_VALUE.to_owned(),
            ),
        }
    }

    /// The application protocol versions offered.
    pub(crate) fn versions(&self) -> Vec<u32> {
        self.handshake
            .as_ref()
            .map_or_else(|| vec![1], |h| h.versions.clone())
    }
}
