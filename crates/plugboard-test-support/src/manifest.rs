//! [`ManifestBuilder`]: `plugin.yaml` text and [`Manifest`] values for tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plugboard::manifest::{Manifest, ManifestErrors, RuntimeKind};
use serde_json::Value;

use crate::probe::PROBE_ENTRY;

/// Builds a plugin manifest for a test: its `plugin.yaml` text ([`yaml`](Self::yaml)) or the
/// parsed [`Manifest`] ([`build`](Self::build)).
///
/// A builtin manifest's `entry` defaults to [`PROBE_ENTRY`], so that every plugin a test
/// declares is a [`Probe`](crate::Probe) unless it says otherwise. Nothing is checked until
/// [`build`](Self::build) parses the text with the same parser the host uses; a test that wants a
/// broken manifest writes it with [`PluginTree::raw_file`](crate::PluginTree::raw_file) or adds
/// keys with [`extra_yaml`](Self::extra_yaml).
///
/// ```
/// use plugboard_test_support::ManifestBuilder;
///
/// let manifest = ManifestBuilder::builtin("reports", "1.2.0")
///     .requires("db", "^2")
///     .optional("metrics", ">=0.3")
///     .provides("text.transform", &["upper"], 10)
///     .storage()
///     .build();
/// assert_eq!(manifest.id.as_str(), "reports");
/// assert_eq!(manifest.entry, "probe");
/// assert!(manifest.permissions.storage);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestBuilder {
    id: String,
    version: String,
    runtime: RuntimeKind,
    entry: Option<String>,
    api: Option<String>,
    name: Option<String>,
    description: Option<String>,
    requires: BTreeMap<String, String>,
    optional: BTreeMap<String, String>,
    provides: Vec<Value>,
    extension_points: Vec<Value>,
    schema: Option<Value>,
    storage: bool,
    lazy: bool,
    subscribes: Vec<String>,
    extra: Vec<String>,
}

impl ManifestBuilder {
    /// A builtin plugin `id` at `version` (a semver version such as `1.0.0`), whose entry is
    /// [`PROBE_ENTRY`].
    pub fn builtin(id: &str, version: &str) -> Self {
        Self {
            id: id.to_owned(),
            version: version.to_owned(),
            runtime: RuntimeKind::Builtin,
            entry: None,
            api: None,
            name: None,
            description: None,
            requires: BTreeMap::new(),
            optional: BTreeMap::new(),
            provides: Vec::new(),
            extension_points: Vec::new(),
            schema: None,
            storage: false,
            lazy: false,
            subscribes: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The plugin's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The plugin's version, as given.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Sets `entry`: the registered name of a builtin plugin, or the artifact's path in the
    /// plugin directory for the other runtimes.
    #[must_use]
    pub fn entry(mut self, entry: &str) -> Self {
        self.entry = Some(entry.to_owned());
        self
    }

    /// Sets `runtime`. Without an [`entry`](Self::entry), a non-builtin plugin's entry is
    /// `plugin.wasm`, `plugin` (process) or `libplugin.so` (native).
    #[must_use]
    pub fn runtime(mut self, kind: RuntimeKind) -> Self {
        self.runtime = kind;
        self
    }

    /// Sets `api`, the plugin API version requirement (for example `">=2"`).
    #[must_use]
    pub fn api(mut self, requirement: &str) -> Self {
        self.api = Some(requirement.to_owned());
        self
    }

    /// Sets the display `name`.
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Sets `description`.
    #[must_use]
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    /// Adds `id` at `requirement` (for example `"^1"`) to `requires`.
    #[must_use]
    pub fn requires(mut self, id: &str, requirement: &str) -> Self {
        self.requires.insert(id.to_owned(), requirement.to_owned());
        self
    }

    /// Adds `id` at `requirement` to `optional`.
    #[must_use]
    pub fn optional(mut self, id: &str, requirement: &str) -> Self {
        self.optional.insert(id.to_owned(), requirement.to_owned());
        self
    }

    /// Adds an entry to `provides`: extension point `point`, its `methods` (empty for all of
    /// them) and the `priority` among its implementations.
    #[must_use]
    pub fn provides(mut self, point: &str, methods: &[&str], priority: i32) -> Self {
        self.provides.push(serde_json::json!({
            "point": point,
            "methods": methods,
            "priority": priority,
        }));
        self
    }

    /// Adds an entry to `extension_points`: a point this plugin declares, with its `methods`
    /// (empty for any).
    #[must_use]
    pub fn extension_point(mut self, id: &str, methods: &[&str]) -> Self {
        self.extension_points
            .push(serde_json::json!({ "id": id, "methods": methods }));
        self
    }

    /// Sets `config.schema`, the JSON Schema of the plugin's configuration.
    #[must_use]
    pub fn schema(mut self, schema: Value) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Asks for the host's key-value storage (`permissions: { storage: true }`).
    #[must_use]
    pub fn storage(mut self) -> Self {
        self.storage = true;
        self
    }

    /// Makes the plugin lazy (`activation: lazy`): started on its first call.
    #[must_use]
    pub fn lazy(mut self) -> Self {
        self.lazy = true;
        self
    }

    /// Adds `topic` (or a pattern such as `plugin.*`) to `subscribes`.
    #[must_use]
    pub fn subscribes(mut self, topic: &str) -> Self {
        self.subscribes.push(topic.to_owned());
        self
    }

    /// Appends raw YAML at the top level of the manifest, for keys this builder has no method
    /// for, or deliberate mistakes (`"requries: {}"`).
    #[must_use]
    pub fn extra_yaml(mut self, yaml: &str) -> Self {
        self.extra.push(yaml.trim_end().to_owned());
        self
    }

    /// The `plugin.yaml` text. Values are written as JSON, which YAML reads unchanged, so ids,
    /// versions and schemas need no YAML quoting rules.
    pub fn yaml(&self) -> String {
        let q = |text: &str| Value::from(text).to_string();
        let mut out = String::new();
        let _ = writeln!(out, "id: {}", q(&self.id));
        let _ = writeln!(out, "version: {}", q(&self.version));
        if let Some(name) = &self.name {
            let _ = writeln!(out, "name: {}", q(name));
        }
        if let Some(description) = &self.description {
            let _ = writeln!(out, "description: {}", q(description));
        }
        if let Some(api) = &self.api {
            let _ = writeln!(out, "api: {}", q(api));
        }
        let _ = writeln!(out, "runtime: {}", self.runtime);
        let entry = self.entry.clone().unwrap_or_else(|| {
            match self.runtime {
                RuntimeKind::Builtin => PROBE_ENTRY,
                RuntimeKind::Wasm => "plugin.wasm",
                RuntimeKind::Process => "plugin",
                RuntimeKind::Native => "libplugin.so",
            }
            .to_owned()
        });
        let _ = writeln!(out, "entry: {}", q(&entry));
        if !self.requires.is_empty() {
            let _ = writeln!(out, "requires: {}", json(&self.requires));
        }
        if !self.optional.is_empty() {
            let _ = writeln!(out, "optional: {}", json(&self.optional));
        }
        if !self.provides.is_empty() {
            let _ = writeln!(out, "provides: {}", json(&self.provides));
        }
        if !self.extension_points.is_empty() {
            let _ = writeln!(out, "extension_points: {}", json(&self.extension_points));
        }
        if !self.subscribes.is_empty() {
            let _ = writeln!(out, "subscribes: {}", json(&self.subscribes));
        }
        if self.storage {
            out.push_str("permissions:\n  storage: true\n");
        }
        if let Some(schema) = &self.schema {
            let _ = writeln!(out, "config:\n  schema: {schema}");
        }
        if self.lazy {
            out.push_str("activation: lazy\n");
        }
        for extra in &self.extra {
            out.push_str(extra);
            out.push('\n');
        }
        out
    }

    /// Parses [`yaml`](Self::yaml) with the host's own parser.
    ///
    /// # Errors
    /// Every problem the manifest parser finds, as it would report them for a `plugin.yaml`.
    pub fn try_build(&self) -> Result<Manifest, ManifestErrors> {
        Manifest::from_yaml_str(&self.yaml(), &format!("{}/plugin.yaml", self.id))
    }

    /// Parses [`yaml`](Self::yaml) into a [`Manifest`].
    ///
    /// # Panics
    /// When the manifest is invalid, with every problem and the text in the message; use
    /// [`try_build`](Self::try_build) to test invalid manifests.
    pub fn build(&self) -> Manifest {
        self.try_build().unwrap_or_else(|errors| {
            panic!(
                "ManifestBuilder produced an invalid manifest:\n{errors}\n--- text ---\n{}",
                self.yaml()
            )
        })
    }
}

/// `value` as one line of JSON, which YAML reads as a flow value.
fn json<T: serde::Serialize>(value: &T) -> String {
    // Maps with string keys, strings and JSON values always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_setting_reaches_the_parsed_manifest() {
        let m = ManifestBuilder::builtin("full", "2.1.0")
            .name("Full plugin")
            .description("has \"quotes\": and colons")
            .api("^1")
            .entry("custom")
            .requires("a", "^1")
            .optional("b", ">=0.3")
            .provides("text.transform", &["upper"], 7)
            .extension_point("full.hooks", &["run"])
            .schema(json!({"type": "object", "properties": {"n": {"type": "integer"}}}))
            .storage()
            .lazy()
            .subscribes("plugin.state")
            .build();
        assert_eq!(m.id.as_str(), "full");
        assert_eq!(m.version.to_string(), "2.1.0");
        assert_eq!(m.display_name(), "Full plugin");
        assert_eq!(m.description.as_deref(), Some("has \"quotes\": and colons"));
        assert_eq!(m.api.to_string(), "^1");
        assert_eq!(m.entry, "custom");
        assert_eq!(m.requires["a"].to_string(), "^1");
        assert_eq!(m.optional["b"].to_string(), ">=0.3");
        assert_eq!(m.provides[0].point, "text.transform");
        assert_eq!(m.provides[0].methods, ["upper"]);
        assert_eq!(m.provides[0].priority, 7);
        assert_eq!(m.extension_points[0].id, "full.hooks");
        assert!(m.config.schema.is_some());
        assert!(m.permissions.storage);
        assert_eq!(m.activation, plugboard::manifest::Activation::Lazy);
        assert_eq!(m.subscribes, ["plugin.state"]);
    }

    #[test]
    fn defaults_are_a_builtin_probe_with_any_api() {
        let m = ManifestBuilder::builtin("p", "0.1.0").build();
        assert_eq!(m.runtime, RuntimeKind::Builtin);
        assert_eq!(m.entry, PROBE_ENTRY);
        let wasm = ManifestBuilder::builtin("w", "1.0.0")
            .runtime(RuntimeKind::Wasm)
            .build();
        assert_eq!(wasm.entry, "plugin.wasm");
    }

    #[test]
    fn mistakes_are_reported_by_try_build() {
        let errors = ManifestBuilder::builtin("p", "1.0.0")
            .extra_yaml("requries: {}")
            .try_build()
            .unwrap_err();
        assert!(errors.to_string().contains("requries"), "{errors}");
    }
}
