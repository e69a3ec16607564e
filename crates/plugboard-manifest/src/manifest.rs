//! `plugin.yaml`: the types of a plugin manifest.

use std::collections::BTreeMap;
use std::fmt;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::location::LocationIndex;
use crate::parse::{parse, Document, Positions};
use crate::validate::{self, Report};
use crate::{Integrity, ManifestErrors, NativeSettings, PluginId, ProcessSettings, WasmSettings};

/// The version of the Plugboard plugin API that this build of the host implements.
///
/// A manifest's `api` requirement is matched against it: `api: "^1"` loads on any 1.x host.
pub const PLUGIN_API_VERSION: Version = Version::new(1, 0, 0);

/// How a plugin runs. Each kind is served by one runtime crate; the core knows only the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Rust code compiled into the host application, registered under the manifest's `entry`.
    Builtin,
    /// A WebAssembly component or Extism-ABI module, sandboxed on wasmtime.
    Wasm,
    /// A sidecar process over gRPC (go-plugin wire) or the stdio transport.
    Process,
    /// A shared library behind Plugboard's C ABI.
    Native,
}

impl RuntimeKind {
    /// All kinds, in the order they are documented.
    pub const ALL: [RuntimeKind; 4] = [Self::Builtin, Self::Wasm, Self::Process, Self::Native];

    /// The manifest spelling: `builtin`, `wasm`, `process`, `native`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Wasm => "wasm",
            Self::Process => "process",
            Self::Native => "native",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the host loads a plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Loaded and started when the host starts.
    #[default]
    Eager,
    /// Resolved when the host starts, loaded and started on first use of something it provides.
    Lazy,
}

/// One entry of `provides:`: an extension point this plugin implements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provide {
    /// The extension point's id, for example `text.transform`.
    pub point: String,
    /// The methods of the point that this plugin implements; empty means all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Order among implementations of the same point: higher runs first. Default 0.
    #[serde(default, skip_serializing_if = "is_default")]
    pub priority: i32,
}

/// How many implementations an extension point takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cardinality {
    /// Exactly one implementation is used: the one with the highest priority.
    One,
    /// Every implementation is called, in priority order.
    #[default]
    Many,
}

/// One entry of `extension_points:`: a point this plugin opens for other plugins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionPointDecl {
    /// The point's id. By convention it starts with the declaring plugin's id.
    pub id: String,
    /// The version of the point's interface. Default 1.0.0.
    #[serde(default = "default_point_version")]
    pub version: Version,
    /// The methods an implementation may offer; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// One implementation or many.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cardinality: Cardinality,
    /// The payload codec of the point's methods.
    #[serde(default, skip_serializing_if = "is_default")]
    pub codec: Codec,
}

fn default_point_version() -> Version {
    Version::new(1, 0, 0)
}

/// The encoding of call payloads on an extension point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// UTF-8 JSON. The default: readable, and every language has it.
    #[default]
    Json,
    /// MessagePack, where payload size and encoding speed matter.
    Msgpack,
    /// Opaque bytes, passed through unchanged.
    Raw,
}

/// What a plugin asks to be allowed. Nothing is allowed unless asked for here and granted by the
/// host configuration; runtimes that can enforce a permission do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// File-system paths, relative to the plugin's directory unless absolute.
    #[serde(default, skip_serializing_if = "is_default")]
    pub fs: FsPermissions,
    /// Network destinations as `host:port` (`*` allowed for the host part).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net: Vec<String>,
    /// Environment variables the plugin may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Whether the plugin uses the host's key-value storage.
    #[serde(default, skip_serializing_if = "is_default")]
    pub storage: bool,
}

/// File-system paths a plugin may read or write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsPermissions {
    /// Paths it may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    /// Paths it may read and write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
}

/// The `config:` section: how the plugin's configuration is validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSection {
    /// A JSON Schema (draft 2020-12). `default` values in it fill in what the host config omits.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::strict::json"
    )]
    pub schema: Option<serde_json::Value>,
}

/// A parsed and validated `plugin.yaml`.
///
/// Every key is documented in `docs/manifest.md`. Unknown keys are an error, with a
/// "did you mean" hint for near misses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique id within a host.
    pub id: PluginId,
    /// Human-readable name; defaults to the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The plugin's own version.
    pub version: Version,
    /// One line about what it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Plugboard plugin API version it needs, matched against [`PLUGIN_API_VERSION`].
    #[serde(default = "default_api")]
    pub api: VersionReq,
    /// How it runs.
    pub runtime: RuntimeKind,
    /// builtin: the registered name; otherwise a path relative to the plugin directory. May be
    /// left out when `platforms` lists an entry for every platform the plugin runs on.
    #[serde(default)]
    pub entry: String,
    /// The digest the entry must match before it is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
    /// Entries per platform, keyed `<os>-<arch>` as Rust names them (`linux-x86_64`,
    /// `macos-aarch64`): one package for several platforms. A host uses its own platform's
    /// entry, else `entry`; see [`Manifest::for_platform`].
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::strict::map"
    )]
    pub platforms: BTreeMap<String, PlatformEntry>,
    /// Plugins that must be present and started first.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::strict::map"
    )]
    pub requires: BTreeMap<PluginId, VersionReq>,
    /// Plugins used when present, never a reason to fail.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::strict::map"
    )]
    pub optional: BTreeMap<PluginId, VersionReq>,
    /// Extension points it implements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provides: Vec<Provide>,
    /// Extension points it opens for others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_points: Vec<ExtensionPointDecl>,
    /// Event topics it receives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribes: Vec<String>,
    /// What it asks to be allowed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub permissions: Permissions,
    /// How its configuration is validated.
    #[serde(default, skip_serializing_if = "is_default")]
    pub config: ConfigSection,
    /// Eager or lazy loading.
    #[serde(default, skip_serializing_if = "is_default")]
    pub activation: Activation,
    /// Settings for `runtime: wasm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmSettings>,
    /// Settings for `runtime: process`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessSettings>,
    /// Settings for `runtime: native`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeSettings>,
    /// A panel the plugin contributes to the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiPanel>,
    /// How a new version of this plugin takes over from the running one on a hot reload.
    #[serde(default, skip_serializing_if = "is_default")]
    pub reload: ReloadSettings,
}

/// `reload:`: how a new version takes over from the running one when the host hot-reloads
/// the plugin.
///
/// By default the new version starts beside the old one and calls switch over once it is
/// active: nothing the old version holds in memory survives. A plugin that keeps state in
/// memory (counters, caches, sessions) sets `handoff: true`: the host then pauses calls to the
/// old version, lets it finish the calls it has, asks it to export its state, and gives that
/// state to the new version when it boots. Calls wait (they do not fail) for the length of the
/// switch; if the new version fails, the old one resumes with its state untouched.
///
/// ```
/// use plugboard_manifest::Manifest;
///
/// let text = "id: counter\nversion: 1.0.0\nruntime: builtin\nentry: counter\nreload: { handoff: true }\n";
/// let m = Manifest::from_yaml_str(text, "plugin.yaml").unwrap();
/// assert!(m.reload.handoff);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadSettings {
    /// Hand the old version's state to the new one (export on the way out, import on boot).
    #[serde(default)]
    pub handoff: bool,
}

/// `ui:`: a panel the plugin contributes to the web dashboard. The dashboard fetches `entry`
/// only when the operator opens the panel, and runs it in a sandboxed frame that can call only
/// this plugin's methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiPanel {
    /// The panel's script, relative to the plugin directory, like `ui/index.js`.
    pub entry: String,
    /// The panel's title; defaults to the plugin's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// An SVG or PNG icon, relative to the plugin directory, like `ui/icon.svg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

fn default_api() -> VersionReq {
    VersionReq::STAR
}

/// One platform's entry in `platforms:`: a path (`lib/linux-x86_64/libfoo.so`), or a mapping
/// with `entry` and `integrity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEntry {
    /// The artifact for this platform, relative to the plugin directory.
    pub entry: String,
    /// The digest it must match before it is loaded.
    pub integrity: Option<Integrity>,
}

impl Serialize for PlatformEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.integrity {
            None => self.entry.serialize(s),
            Some(integrity) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("entry", &self.entry)?;
                map.serialize_entry("integrity", integrity)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PlatformEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, Visitor};

        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Entry,
            Integrity,
        }

        struct EntryVisitor;

        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = PlatformEntry;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path, or a mapping with `entry` and optionally `integrity`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PlatformEntry, E> {
                Ok(PlatformEntry {
                    entry: v.to_owned(),
                    integrity: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PlatformEntry, A::Error> {
                let mut entry = None;
                let mut integrity = None;
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Entry => {
                            if entry.replace(map.next_value::<String>()?).is_some() {
                                return Err(de::Error::duplicate_field("entry"));
                            }
                        }
                        Field::Integrity => {
                            if integrity.replace(map.next_value::<Integrity>()?).is_some() {
                                return Err(de::Error::duplicate_field("integrity"));
                            }
                        }
                    }
                }
                Ok(PlatformEntry {
                    entry: entry.ok_or_else(|| de::Error::missing_field("entry"))?,
                    integrity,
                })
            }
        }

        d.deserialize_any(EntryVisitor)
    }
}

/// This host's platform, `<os>-<arch>` as Rust names them (`linux-x86_64`): the key a
/// manifest's `platforms:` is looked up with.
pub fn current_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// A plugin has no entry for a platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{id} {version} has no entry for this platform, {platform}; it is built for {}. Install a \
     build for {platform}, or ask its publisher for one",
    available.join(", ")
)]
pub struct NoPlatformEntry {
    /// The plugin.
    pub id: PluginId,
    /// Its version.
    pub version: Version,
    /// The platform asked for.
    pub platform: String,
    /// The platforms the manifest lists.
    pub available: Vec<String>,
}

impl Manifest {
    /// The manifest as a host on `platform` (`<os>-<arch>`, see [`current_platform`]) runs it:
    /// `entry` and `integrity` from `platforms.<platform>` when listed, else the manifest's own
    /// `entry` (a portable build), unchanged when there are no `platforms`.
    ///
    /// # Errors
    /// `platforms` does not list `platform` and there is no portable `entry`; the error lists
    /// the platforms there are.
    ///
    /// ```
    /// use plugboard_manifest::Manifest;
    ///
    /// let text = "id: hash\nversion: 1.0.0\nruntime: native\nplatforms:\n  \
    ///             linux-x86_64: lib/linux-x86_64/libhash.so\n  \
    ///             macos-aarch64: lib/macos-aarch64/libhash.dylib\n";
    /// let m = Manifest::from_yaml_str(text, "plugin.yaml")?;
    /// assert_eq!(m.for_platform("macos-aarch64")?.entry, "lib/macos-aarch64/libhash.dylib");
    /// let err = m.for_platform("windows-x86_64").unwrap_err();
    /// assert_eq!(err.available, ["linux-x86_64", "macos-aarch64"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_platform(&self, platform: &str) -> Result<Manifest, NoPlatformEntry> {
        if self.platforms.is_empty() || self.runtime == RuntimeKind::Builtin {
            return Ok(self.clone());
        }
        let mut m = self.clone();
        match self.platforms.get(platform) {
            Some(p) => {
                m.entry = p.entry.clone();
                m.integrity = p.integrity.clone();
                Ok(m)
            }
            None if !self.entry.is_empty() => Ok(m),
            None => Err(NoPlatformEntry {
                id: self.id.clone(),
                version: self.version.clone(),
                platform: platform.to_owned(),
                available: self.platforms.keys().cloned().collect(),
            }),
        }
    }

    /// The display name: `name`, or the id when there is none.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.id.as_str())
    }

    /// Every dependency, required and optional, with its requirement and whether it is optional.
    pub fn dependencies(&self) -> impl Iterator<Item = (&PluginId, &VersionReq, bool)> {
        self.requires
            .iter()
            .map(|(id, req)| (id, req, false))
            .chain(self.optional.iter().map(|(id, req)| (id, req, true)))
    }
}

impl Manifest {
    /// Parses and validates a manifest. `file` names the source in error messages.
    ///
    /// Whether `api` matches [`PLUGIN_API_VERSION`] is not checked here: the host reports it
    /// when it resolves plugins, beside the other reasons a plugin cannot load.
    ///
    /// # Errors
    /// A syntax or type error (serde stops at the first), or else every semantic problem; each
    /// with its line, column and field. Documents over [`MAX_DOCUMENT_BYTES`](crate::MAX_DOCUMENT_BYTES) are
    /// refused.
    ///
    /// ```
    /// use plugboard_manifest::Manifest;
    ///
    /// let text = "id: demo\nversion: 1.0.0\nruntime: wasm\nentry: demo.wasm\nrequries: {}\n";
    /// let errors = Manifest::from_yaml_str(text, "plugin.yaml").unwrap_err();
    /// assert_eq!(
    ///     errors.to_string(),
    ///     "plugin.yaml:5:1: requries: unknown key `requries` (hint: did you mean `requires`?)"
    /// );
    /// ```
    pub fn from_yaml_str(text: &str, file: &str) -> Result<Manifest, ManifestErrors> {
        let (manifest, index) = parse::<Manifest>(text, file, Document::Manifest)?;
        let mut report = Report::new(file, index);
        validate::manifest::check(&manifest, &mut report);
        report.finish().map(|()| manifest)
    }

    /// Runs the semantic checks on a manifest built in code; problems carry no position.
    ///
    /// # Errors
    /// Every problem found.
    pub fn validate(&self, file: &str) -> Result<(), ManifestErrors> {
        let mut report = Report::new(file, Positions::Indexed(LocationIndex::empty()));
        validate::manifest::check(self, &mut report);
        report.finish()
    }

    /// Writes the manifest as YAML that [`Manifest::from_yaml_str`] reads back to an equal
    /// value, leaving out what has its default value.
    pub fn to_yaml_string(&self) -> String {
        // Every field is a string, a number, a boolean or a JSON value with string keys, all of
        // which YAML can hold: serialization cannot fail.
        serde_norway::to_string(self).unwrap_or_default()
    }
}

/// Whether `value` is its type's default, to leave it out of serialized YAML.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
pub(crate) mod tests;
