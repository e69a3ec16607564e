//! `config.yaml`: the host configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use semver::VersionReq;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::location::LocationIndex;
use crate::parse::{did_you_mean, parse, Document, Positions};
use crate::validate::{self, Report};
use crate::values::quoted;
use crate::{Duration, ManifestErrors, Permissions, PluginId};

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
    /// More places plugins are downloaded from, by name; a `plugins:` entry picks one with
    /// `source:`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::strict::map"
    )]
    pub sources: BTreeMap<String, SourceConfig>,
    /// The host's and the plugins' log level.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Plugins that must be present, by name or as a map with settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginEntry>,
    /// Where plugins are discovered.
    #[serde(default)]
    pub directories: Directories,
    /// Logs, storage and caches. Default: `.plugboard/` beside the config file.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy_option_path"
    )]
    pub state_dir: Option<PathBuf>,
    /// Lifecycle hook settings.
    #[serde(default)]
    pub hooks: HookSettings,
    /// The reference application's data pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Pipeline>,
    /// The web dashboard that `plugboard run` serves when this section is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiConfig>,
}

impl HostConfig {
    /// Parses and validates a host configuration. `file` names the source in error messages.
    ///
    /// # Errors
    /// A syntax or type error (serde stops at the first), or else every semantic problem; each
    /// with its line, column and field.
    ///
    /// ```
    /// use plugboard_manifest::HostConfig;
    ///
    /// let config = HostConfig::from_yaml_str("plugins:\n  - sample-plugin\n", "config.yaml")?;
    /// assert!(config.plugin("sample-plugin").is_some());
    /// # Ok::<(), plugboard_manifest::ManifestErrors>(())
    /// ```
    pub fn from_yaml_str(text: &str, file: &str) -> Result<HostConfig, ManifestErrors> {
        let (config, index) = parse::<HostConfig>(text, file, Document::HostConfig)?;
        let mut report = Report::new(file, index);
        validate::config::check(&config, &mut report);
        report.finish().map(|()| config)
    }

    /// Runs the semantic checks on a configuration built in code; problems carry no position.
    ///
    /// # Errors
    /// Every problem found.
    pub fn validate(&self, file: &str) -> Result<(), ManifestErrors> {
        let mut report = Report::new(file, Positions::Indexed(LocationIndex::empty()));
        validate::config::check(self, &mut report);
        report.finish()
    }

    /// Writes the configuration as YAML that [`HostConfig::from_yaml_str`] reads back, leaving
    /// out what has its default value. Paths that are not valid UTF-8 are written lossily.
    pub fn to_yaml_string(&self) -> String {
        // Every field serializes to plain YAML (paths lossily): nothing here can fail.
        serde_norway::to_string(self).unwrap_or_default()
    }

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

    /// Every configured source by name: `registry:` (named [`REGISTRY_SOURCE`]) when it has a
    /// URL, then `sources:`.
    pub fn all_sources(&self) -> BTreeMap<String, SourceConfig> {
        let mut all = self.sources.clone();
        if !self.registry.url.is_empty() {
            all.insert(REGISTRY_SOURCE.to_owned(), self.registry.as_source());
        }
        all
    }

    /// The name of the source a plugin is installed from when its entry names none:
    /// `registry` when it has a URL, else the only entry of `sources:`; `None` when that is
    /// ambiguous or nothing is configured.
    pub fn default_source(&self) -> Option<&str> {
        if !self.registry.url.is_empty() {
            return Some(REGISTRY_SOURCE);
        }
        match self.sources.len() {
            1 => self.sources.keys().next().map(String::as_str),
            _ => None,
        }
    }
}

/// The name under which `registry:` is a source (in `plugins[].source` and the lockfile).
pub const REGISTRY_SOURCE: &str = "registry";

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
    /// Public keys (minisign format, the `RW...` line of a `.pub` file) whose signatures on
    /// packages from this registry are accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<String>,
    /// Accept packages without a signature (or signed by a key not in `trusted_keys`) from this
    /// registry. A signature that does not match its package is refused regardless.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unsigned: bool,
    /// Credentials for an OCI registry, read from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// Install only from `plugboard.lock` and the local package cache; never use the network.
    /// It applies to every source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
}

impl RegistryConfig {
    /// The registry as a source (everything but `offline`).
    pub fn as_source(&self) -> SourceConfig {
        SourceConfig {
            url: self.url.clone(),
            name: self.name.clone(),
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            trusted_keys: self.trusted_keys.clone(),
            allow_unsigned: self.allow_unsigned,
            auth: self.auth.clone(),
        }
    }
}

/// One entry of `sources:`: the keys of `registry:` but `offline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A URL template, as `registry.url`.
    pub url: String,
    /// The `{name}` placeholder.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The `{repository}` placeholder.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
    /// The `{tag}` placeholder; `latest` by default.
    #[serde(default = "default_tag")]
    pub tag: String,
    /// Public keys whose signatures on packages from this source are accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<String>,
    /// Accept unsigned packages from this source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unsigned: bool,
    /// Credentials for an OCI registry, read from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
}

/// `auth:` of a source: credentials for an OCI registry. The secrets themselves stay out of
/// the file: each is named by the environment variable that holds it. Without `auth:`, the
/// registry's entry in Docker's `config.json` is used, if there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The user name, for basic auth (and the registry's token exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Or the environment variable that holds the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_env: Option<String>,
    /// The environment variable that holds the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Or the environment variable that holds a bearer token (a GHCR or Harbor token), sent as
    /// is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
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
            trusted_keys: Vec::new(),
            allow_unsigned: false,
            auth: None,
            offline: false,
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
        crate::values::deserialize_parsed(d, "a log level", |text| {
            LogLevel::parse(text).ok_or_else(|| {
                let spellings = ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE"];
                let advice = match did_you_mean(text, spellings) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "use CRITICAL, ERROR, WARNING, INFO, DEBUG or TRACE".to_owned(),
                };
                format!("unknown log level {}; {advice}", quoted(text))
            })
        })
    }
}

/// One entry of `plugins:`: a bare id, or a map with settings.
#[derive(Debug, Clone, PartialEq)]
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
    /// The source `plugboard install` takes it from: `registry` or a name in `sources:`.
    /// Default: [`HostConfig::default_source`].
    pub source: Option<String>,
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
            source: None,
        }
    }
}

/// A bare id is written as a plain string; anything more as a mapping with only the keys
/// that differ from the defaults.
impl Serialize for PluginEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.version.is_none()
            && self.enabled
            && self.config.is_none()
            && self.grant.is_none()
            && self.source.is_none()
        {
            return self.id.serialize(s);
        }
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        if let Some(version) = &self.version {
            map.serialize_entry("version", version)?;
        }
        if !self.enabled {
            map.serialize_entry("enabled", &false)?;
        }
        if let Some(config) = &self.config {
            map.serialize_entry("config", config)?;
        }
        if let Some(grant) = &self.grant {
            map.serialize_entry("grant", grant)?;
        }
        if let Some(source) = &self.source {
            map.serialize_entry("source", source)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PluginEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum or a detour through a YAML value: both would
        // lose the position and the path of an error inside the mapping form.
        d.deserialize_any(EntryVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum EntryField {
    Id,
    Version,
    Enabled,
    Config,
    Grant,
    Source,
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = PluginEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a plugin id, or a mapping with `id` and optionally `version`, `enabled`, `config`, `grant` and `source`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PluginEntry, E> {
        PluginId::new(v).map(PluginEntry::new).map_err(E::custom)
    }

    // An id made of digits only reads as a YAML number.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PluginEntry, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PluginEntry, A::Error> {
        let mut id = None;
        let mut version = None;
        let mut enabled = None;
        let mut config = None;
        let mut grant = None;
        let mut source = None;
        fn once<T, E: de::Error>(
            slot: &mut Option<T>,
            value: T,
            name: &'static str,
        ) -> Result<(), E> {
            if slot.replace(value).is_some() {
                return Err(E::duplicate_field(name));
            }
            Ok(())
        }
        while let Some(field) = map.next_key::<EntryField>()? {
            match field {
                EntryField::Id => once(&mut id, map.next_value::<PluginId>()?, "id")?,
                EntryField::Version => once(
                    &mut version,
                    map.next_value::<Option<VersionReq>>()?,
                    "version",
                )?,
                EntryField::Enabled => once(&mut enabled, map.next_value::<bool>()?, "enabled")?,
                EntryField::Config => once(
                    &mut config,
                    map.next_value::<Option<crate::strict::Json>>()?
                        .map(|json| json.0),
                    "config",
                )?,
                EntryField::Grant => once(
                    &mut grant,
                    map.next_value::<Option<Permissions>>()?,
                    "grant",
                )?,
                EntryField::Source => {
                    once(&mut source, map.next_value::<String>()?, "source")?;
                }
            }
        }
        Ok(PluginEntry {
            id: id.ok_or_else(|| de::Error::missing_field("id"))?,
            version: version.flatten(),
            enabled: enabled.unwrap_or(true),
            config: config.flatten(),
            grant: grant.flatten(),
            source,
        })
    }
}

/// `directories:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directories {
    /// The application's own plugins; only those listed in its index file are accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy_option_path"
    )]
    pub bundled: Option<PathBuf>,
    /// Users' plugins.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "lossy_paths"
    )]
    pub external: Vec<PathBuf>,
}

/// `ui:`: the web dashboard of a running host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// The address to listen on, `ip:port`. Default `127.0.0.1:7070`.
    #[serde(default = "default_ui_listen")]
    pub listen: String,
    /// Whether `listen` may be an address other machines reach. Off by default: the dashboard
    /// can stop and restart plugins, and serves plain HTTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_remote: bool,
}

/// The dashboard's default address: loopback only.
pub const DEFAULT_UI_LISTEN: &str = "127.0.0.1:7070";

fn default_ui_listen() -> String {
    DEFAULT_UI_LISTEN.to_owned()
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            listen: default_ui_listen(),
            allow_remote: false,
        }
    }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginId>,
    /// Or call the implementation of this extension point (the highest-priority one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
        crate::values::deserialize_parsed(d, "`stdin`, `stdout` or a file path", |text| {
            Ok(match text {
                "stdin" | "stdout" | "-" => Endpoint::Stdio,
                _ => Endpoint::File(PathBuf::from(text)),
            })
        })
    }
}

fn lossy_option_path<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

fn lossy_paths<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
}

#[cfg(test)]
pub(crate) mod tests;
