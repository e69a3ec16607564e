//! The core's error types. Each says what went wrong, for which plugin, and what to do.

use std::path::PathBuf;

use plugboard_manifest::{ManifestErrors, PluginId, RuntimeKind};

/// An error from building, starting or driving a [`Host`](crate::Host).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plugin directory or configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A manifest or configuration file is invalid.
    #[error("{0}")]
    Manifest(#[from] ManifestErrors),
    /// No plugin with this id is known to the host.
    #[error("no plugin {0:?} is installed; `plugboard list` shows the plugins this host knows")]
    UnknownPlugin(String),
    /// No extension point with this id is declared.
    #[error("no extension point {0:?} is declared by the application or any plugin")]
    UnknownPoint(String),
    /// The host was asked to start twice, or to act before it was started.
    #[error("the host is {0}")]
    HostState(&'static str),
    /// A plugin needs a runtime the application did not enable.
    #[error("plugin {plugin} needs the {kind} runtime, which this application does not include; enable the plugboard crate's `{kind}` feature")]
    MissingRuntime {
        /// The plugin.
        plugin: PluginId,
        /// The runtime it needs.
        kind: RuntimeKind,
    },
    /// The host configuration is inconsistent.
    #[error("invalid host setup: {0}")]
    Setup(String),
    /// A call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A plugin's configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::host_api::ConfigError),
    /// A storage operation failed.
    #[error(transparent)]
    Storage(#[from] crate::host_api::StorageError),
}

/// Why a call to a plugin, an extension point or a service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No plugin with this id is known.
    #[error("no plugin {0:?} is installed")]
    UnknownPlugin(String),
    /// The plugin exists but is not active.
    #[error("plugin {plugin} is {state}{}; it cannot take calls", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    NotActive {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: crate::PluginState,
        /// Why, when it is disabled or failed.
        reason: Option<String>,
    },
    /// The plugin does not have this method.
    #[error("plugin {plugin} has no method {method:?}{}", if known.is_empty() { String::new() } else { format!("; it has: {}", known.join(", ")) })]
    UnknownMethod {
        /// The plugin.
        plugin: String,
        /// The method asked for.
        method: String,
        /// The methods it has, when known.
        known: Vec<String>,
    },
    /// The caller is not allowed to make this call.
    #[error("{0}")]
    Denied(String),
    /// The payload could not be decoded or encoded.
    #[error("bad payload for {method}: {message}")]
    Codec {
        /// The method.
        method: String,
        /// What was wrong.
        message: String,
    },
    /// The plugin returned an error.
    #[error("plugin {plugin}: {message}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// Its message.
        message: String,
    },
    /// The call did not finish within its deadline.
    #[error("plugin {plugin}: call {method:?} timed out after {millis} ms")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The method.
        method: String,
        /// The deadline.
        millis: u64,
    },
    /// The plugin's code crashed (trap, panic, process exit) during the call.
    #[error("plugin {plugin} crashed during {method:?}: {message}")]
    Crashed {
        /// The plugin.
        plugin: String,
        /// The method.
        method: String,
        /// What the runtime saw.
        message: String,
    },
}

impl CallError {
    /// A plugin-reported failure with `message`.
    pub fn plugin(plugin: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Plugin {
            plugin: plugin.into(),
            message: message.into(),
        }
    }
}

/// A failure reported by a plugin's lifecycle hook (`boot`, `start`, `stop`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    message: String,
}

impl PluginError {
    /// An error with a message for the operator.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// Why a runtime could not load a plugin.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RuntimeError {
    /// An error with a message that names what is missing and what to do.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and its cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}
