//! `config.yaml`: the host configuration.

use std::fmt;
use std::path::{Path, PathBuf};

use semver::VersionReq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Duration, Permissions, PluginId};

/// A parsed and validated `config.yaml`.
///
/// It accepts the shape of the original design notes unchanged (`registry`, `logging`,
/// `plugins` as a list of names) and extends it with directories, a state directory,
/// per-plugin entries and a pipeline. Relative paths are relative to the file's directory; call
/// [`HostConfig::resolve_paths`] once the file's location is known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Where plugins are downloaded from.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The host's and the plugins' log level.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Plugins that must be present, by name or as a map with settings.
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
    /// Where plugins are discovered.
    #[serde(default)]
    pub directories: Directories,
    /// Logs, storage and caches. Default: `.plugboard/` beside the config file.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Lifecycle hook settings.
    #[serde(default)]
    pub hooks: HookSettings,
    /// The reference application's data pipeline.
    #[serde(default)]
    pub pipeline: Option<Pipeline>,
}

impl HostConfig {
    /// Makes every relative path absolute against `base` (the config file's directory) and
    /// fills in the defaults that depend on it (`state_dir`).
    pub fn resolve_paths(&mut self, base: &Path) {
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(b) = &mut self.directories.bundled {
            abs(b);
        }
        for e in &mut self.directories.external {
            abs(e);
        }
        match &mut self.state_dir {
            Some(s) => abs(s),
            None => self.state_dir = Some(base.join(".plugboard")),
        }
        if let Some(p) = &mut self.pipeline {
            for end in [&mut p.input, &mut p.output] {
                if let Endpoint::File(f) = end {
                    abs(f);
                }
            }
        }
    }

    /// The entry for plugin `id`, if `plugins:` lists it.
    pub fn plugin(&self, id: &str) -> Option<&PluginEntry> {
        self.plugins.iter().find(|p| p.id.as_str() == id)
    }
}

/// `registry:`: a URL template and the values of its placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// A URL template with `{name}`, `{repository}`, `{tag}` (and more) placeholders.
    #[serde(default)]
    pub url: String,
    /// The `{name}` placeholder.
    #[serde(default)]
    pub name: String,
    /// The `{repository}` placeholder.
    #[serde(default)]
    pub repository: String,
    /// The `{tag}` placeholder; `latest` by default.
    #[serde(default = "default_tag")]
    pub tag: String,
}

fn default_tag() -> String {
    "latest".into()
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            name: String::new(),
            repository: String::new(),
            tag: default_tag(),
        }
    }
}

/// `logging:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// The least severe level written.
    #[serde(default)]
    pub level: LogLevel,
}

/// A log level, in the spelling of the original design (`CRITICAL`, `ERROR`, `WARNING`, `INFO`,
/// `DEBUG`) or the usual lower-case names (`error`, `warn`, `info`, `debug`, `trace`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Everything, including per-call tracing.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal operation. The default.
    #[default]
    Info,
    /// Something unexpected that did not stop the work.
    Warning,
    /// A failure.
    Error,
    /// A failure that stops the host or a plugin.
    Critical,
}

impl LogLevel {
    /// Parses any accepted spelling, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warning" | "warn" => Self::Warning,
            "error" => Self::Error,
            "critical" | "fatal" => Self::Critical,
            _ => return None,
        })
    }

    /// The upper-case name used in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
            Self::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        LogLevel::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown log level {text:?}; use CRITICAL, ERROR, WARNING, INFO, DEBUG or TRACE"
            ))
        })
    }
}

/// One entry of `plugins:`: a bare id, or a map with settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginEntry {
    /// The plugin's id.
    pub id: PluginId,
    /// A version requirement for the plugin that is present (and for installs).
    pub version: Option<VersionReq>,
    /// `false` keeps the plugin `disabled` by configuration.
    pub enabled: bool,
    /// Configuration values, validated against the plugin's schema.
    pub config: Option<serde_json::Value>,
    /// Permissions the operator grants; a plugin gets what it asks for and is granted.
    pub grant: Option<Permissions>,
}

impl PluginEntry {
    /// An entry with only an id: required, enabled, no settings.
    pub fn new(id: PluginId) -> Self {
        Self {
            id,
            version: None,
            enabled: true,
            config: None,
            grant: None,
        }
    }
}

impl<'de> Deserialize<'de> for PluginEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            id: PluginId,
            #[serde(default)]
            version: Option<VersionReq>,
            #[serde(default = "yes")]
            enabled: bool,
            #[serde(default)]
            config: Option<serde_json::Value>,
            #[serde(default)]
            grant: Option<Permissions>,
        }
        fn yes() -> bool {
            true
        }
        // Untagged enums hide the inner error; try the two shapes explicitly so that a bad
        // key in the map form is reported as such.
        let value = serde_norway::Value::deserialize(d)?;
        if value.is_string() {
            let id: PluginId =
                serde_norway::from_value(value).map_err(serde::de::Error::custom)?;
            return Ok(PluginEntry::new(id));
        }
        let full: Full = serde_norway::from_value(value).map_err(serde::de::Error::custom)?;
        Ok(PluginEntry {
            id: full.id,
            version: full.version,
            enabled: full.enabled,
            config: full.config,
            grant: full.grant,
        })
    }
}

/// `directories:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directories {
    /// The application's own plugins; only those listed in its index file are accepted.
    #[serde(default)]
    pub bundled: Option<PathBuf>,
    /// Users' plugins.
    #[serde(default)]
    pub external: Vec<PathBuf>,
}

/// `hooks:`: limits on lifecycle hooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSettings {
    /// How long `boot`, `start` or `stop` may take before the plugin is `failed`. Default 10s.
    #[serde(default = "default_hook_timeout")]
    pub timeout: Duration,
}

fn default_hook_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(10))
}

impl Default for HookSettings {
    fn default() -> Self {
        Self {
            timeout: default_hook_timeout(),
        }
    }
}

/// `pipeline:`: the reference workflow. The core defines the flow, plugins define the steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Where records come from: `stdin` or a file, one JSON value per line.
    #[serde(default = "stdin")]
    pub input: Endpoint,
    /// The steps, applied in order to every record.
    pub steps: Vec<PipelineStep>,
    /// Where results go: `stdout` or a file.
    #[serde(default = "stdout")]
    pub output: Endpoint,
}

fn stdin() -> Endpoint {
    Endpoint::Stdio
}

fn stdout() -> Endpoint {
    Endpoint::Stdio
}

/// One step: a method of a plugin, or of the implementations of an extension point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineStep {
    /// Call this plugin.
    #[serde(default)]
    pub plugin: Option<PluginId>,
    /// Or call the implementation of this extension point (the highest-priority one).
    #[serde(default)]
    pub point: Option<String>,
    /// The method to call.
    pub method: String,
}

/// A pipeline's input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Standard input or output.
    Stdio,
    /// A file.
    File(PathBuf),
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Endpoint::Stdio => s.serialize_str("-"),
            Endpoint::File(p) => s.collect_str(&p.display()),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "stdin" | "stdout" | "-" => Endpoint::Stdio,
            _ => Endpoint::File(PathBuf::from(text)),
        })
    }
}
