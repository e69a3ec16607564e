//! [`PluginTree`]: a temporary host layout with plugin directories and a `config.yaml`.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::fs;
use std::path::{Path, PathBuf};

use plugboard::{BUNDLED_INDEX, MANIFEST_FILE};
use serde_json::Value;
use tempfile::TempDir;

use crate::ManifestBuilder;

/// The file name of the host configuration a tree writes.
const CONFIG_FILE: &str = "config.yaml";

/// A host's files in a fresh temporary directory, removed when the tree is dropped:
///
/// ```text
/// <root>/
///   config.yaml          written by `write()`
///   bundled/
///     bundled.index      the bundled plugins listed with `bundled()`
///     <id>/plugin.yaml
///   external/
///     <id>/plugin.yaml
///   .plugboard/          the state directory (logs, storage), created by the host
///   journal              appended to by probes configured with `probe()`
/// ```
///
/// Plugin directories are written as they are added; a plugin's directory is named after its
/// id, or `<id>-<version>` when the id's name is taken in the same parent. `config.yaml` and
/// `bundled.index` are written (again) by [`write`](Self::write).
///
/// ```
/// use plugboard_test_support::{ManifestBuilder, PluginTree};
///
/// let tree = PluginTree::new()
///     .bundled(ManifestBuilder::builtin("base", "1.0.0"))
///     .external(ManifestBuilder::builtin("app", "0.2.0").requires("base", "^1"))
///     .plugin("base")
///     .plugin_config("app", serde_json::json!({"record": true}))
///     .hook_timeout("500ms");
/// let config = tree.write();
/// assert!(config.ends_with("config.yaml"));
/// assert!(tree.path().join("external/app/plugin.yaml").is_file());
/// let text = std::fs::read_to_string(&config).unwrap();
/// assert!(text.contains("timeout: 500ms"), "{text}");
/// ```
pub struct PluginTree {
    root: TempDir,
    index: Vec<String>,
    entries: Vec<String>,
    extra: Vec<String>,
    state_dir: Option<String>,
    used_dirs: BTreeSet<PathBuf>,
}

impl fmt::Debug for PluginTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginTree")
            .field("root", &self.root.path())
            .field("plugins", &self.used_dirs)
            .finish_non_exhaustive()
    }
}

impl Default for PluginTree {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginTree {
    /// An empty tree in a new temporary directory.
    ///
    /// # Panics
    /// When the temporary directory cannot be created.
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("plugboard-tree-")
            .tempdir()
            .expect("cannot create a temporary directory for a PluginTree");
        for dir in ["bundled", "external"] {
            fs::create_dir_all(root.path().join(dir)).expect("cannot create a plugin directory");
        }
        Self {
            root,
            index: Vec::new(),
            entries: Vec::new(),
            extra: Vec::new(),
            state_dir: None,
            used_dirs: BTreeSet::new(),
        }
    }

    /// Adds a plugin to the bundled directory and lists it in `bundled.index` (with its version).
    #[must_use]
    pub fn bundled(mut self, manifest: ManifestBuilder) -> Self {
        self.index
            .push(format!("{} {}", manifest.id(), manifest.version()));
        self.bundled_unlisted(manifest)
    }

    /// Adds a plugin to the bundled directory without listing it in `bundled.index`: a host
    /// refuses it.
    #[must_use]
    pub fn bundled_unlisted(mut self, manifest: ManifestBuilder) -> Self {
        let dir = self.bundled_dir();
        self.write_plugin(&dir, &manifest);
        self
    }

    /// Adds a raw line to `bundled.index` (`id`, or `id version` to pin a version).
    #[must_use]
    pub fn bundled_index_line(mut self, line: &str) -> Self {
        self.index.push(line.to_owned());
        self
    }

    /// Adds a plugin to the external directory.
    #[must_use]
    pub fn external(mut self, manifest: ManifestBuilder) -> Self {
        let dir = self.external_dir();
        self.write_plugin(&dir, &manifest);
        self
    }

    /// Writes `contents` to `path` (relative to the root; parents are created): a broken
    /// `plugin.yaml`, a bare artifact such as `external/foo.wasm`, a pipeline input.
    ///
    /// # Panics
    /// When the file cannot be written.
    #[must_use]
    pub fn raw_file(self, path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Self {
        let path = self.root.path().join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("cannot create a directory in a PluginTree");
        }
        fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self
    }

    /// Lists plugin `id` under `plugins:` in `config.yaml`, with no settings.
    #[must_use]
    pub fn plugin(self, id: &str) -> Self {
        self.plugin_entry(&Value::from(id).to_string())
    }

    /// Adds one item to `plugins:` as YAML, for example `"{id: a, enabled: false}"` or a block
    /// (`"id: a\nversion: ^2"`); later lines of a block are indented for you.
    #[must_use]
    pub fn plugin_entry(mut self, yaml: &str) -> Self {
        let item = yaml.trim_end().replace('\n', "\n    ");
        self.entries.push(format!("  - {item}"));
        self
    }

    /// Lists plugin `id` under `plugins:` with `config` as its configuration values.
    #[must_use]
    pub fn plugin_config(self, id: &str, config: Value) -> Self {
        let entry = serde_json::json!({ "id": id, "config": config });
        self.plugin_entry(&entry.to_string())
    }

    /// Lists probe `id` with `config` (a mapping of [`Probe`](crate::Probe) settings), adding
    /// `journal` so that its hooks are recorded in this tree's [`journal`](Self::journal).
    ///
    /// # Panics
    /// When `config` is not a mapping.
    #[must_use]
    pub fn probe(self, id: &str, config: Value) -> Self {
        let Value::Object(mut map) = config else {
            panic!("PluginTree::probe takes a mapping of probe settings, not {config}");
        };
        map.insert(
            "journal".to_owned(),
            Value::from(self.journal_path().to_string_lossy().into_owned()),
        );
        self.plugin_config(id, Value::Object(map))
    }

    /// Appends raw YAML at the top level of `config.yaml` (`logging:`, `hooks:`, `pipeline:`,
    /// `registry:`). Each top-level key may appear once: [`hook_timeout`](Self::hook_timeout)
    /// and [`log_level`](Self::log_level) add theirs through this too, and
    /// [`state_dir_at`](Self::state_dir_at) writes `state_dir:`.
    #[must_use]
    pub fn config_extra(mut self, yaml: &str) -> Self {
        self.extra.push(yaml.trim_end().to_owned());
        self
    }

    /// Sets `state_dir:` to `dir`, relative to the root (or absolute); [`state_dir`](Self::state_dir)
    /// follows it.
    #[must_use]
    pub fn state_dir_at(mut self, dir: &str) -> Self {
        self.state_dir = Some(dir.to_owned());
        self
    }

    /// Sets `hooks: { timeout: ... }` (for example `"500ms"`).
    #[must_use]
    pub fn hook_timeout(self, timeout: &str) -> Self {
        self.config_extra(&format!("hooks:\n  timeout: {timeout}"))
    }

    /// Sets `logging: { level: ... }` (for example `"DEBUG"`, which also logs every lifecycle
    /// transition to the plugins' log files).
    #[must_use]
    pub fn log_level(self, level: &str) -> Self {
        self.config_extra(&format!("logging:\n  level: {level}"))
    }

    /// The text `write` puts in `config.yaml`.
    pub fn config_yaml(&self) -> String {
        let mut out = String::from(
            "# Written by plugboard-test-support.\n\
             directories:\n  bundled: bundled\n  external:\n    - external\n",
        );
        if self.entries.is_empty() {
            out.push_str("plugins: []\n");
        } else {
            out.push_str("plugins:\n");
            for entry in &self.entries {
                out.push_str(entry);
                out.push('\n');
            }
        }
        if let Some(dir) = &self.state_dir {
            let _ = writeln!(out, "state_dir: {}", Value::from(dir.as_str()));
        }
        for extra in &self.extra {
            out.push_str(extra);
            out.push('\n');
        }
        out
    }

    /// Writes `config.yaml` and `bundled/bundled.index`, and returns the path of
    /// `config.yaml`. May be called again after more is added.
    ///
    /// # Panics
    /// When a file cannot be written.
    pub fn write(&self) -> PathBuf {
        let mut index = String::from("# Written by plugboard-test-support.\n");
        for line in &self.index {
            index.push_str(line);
            index.push('\n');
        }
        let index_path = self.bundled_dir().join(BUNDLED_INDEX);
        fs::write(&index_path, index)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", index_path.display()));
        let config = self.config_path();
        fs::write(&config, self.config_yaml())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        config
    }

    /// The tree's root directory.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Where `config.yaml` is (once written).
    pub fn config_path(&self) -> PathBuf {
        self.path().join(CONFIG_FILE)
    }

    /// The bundled plugin directory.
    pub fn bundled_dir(&self) -> PathBuf {
        self.path().join("bundled")
    }

    /// The external plugin directory.
    pub fn external_dir(&self) -> PathBuf {
        self.path().join("external")
    }

    /// The host's state directory: the one set with [`state_dir_at`](Self::state_dir_at), or
    /// the default `.plugboard/` beside `config.yaml`.
    pub fn state_dir(&self) -> PathBuf {
        self.path()
            .join(self.state_dir.as_deref().unwrap_or(".plugboard"))
    }

    /// Plugin `id`'s log file: `<state_dir>/logs/<id>.log`.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.state_dir().join("logs").join(format!("{id}.log"))
    }

    /// Plugin `id`'s log as written so far; empty when it has written nothing.
    pub fn read_log(&self, id: &str) -> String {
        fs::read_to_string(self.log_path(id)).unwrap_or_default()
    }

    /// The file that probes added with [`probe`](Self::probe) append their hooks to.
    pub fn journal_path(&self) -> PathBuf {
        self.path().join("journal")
    }

    /// What the probes have journaled so far, in order.
    pub fn journal(&self) -> Journal {
        let text = fs::read_to_string(self.journal_path()).unwrap_or_default();
        Journal {
            entries: text
                .lines()
                .filter_map(|line| line.split_once(' '))
                .map(|(plugin, event)| JournalEntry {
                    plugin: plugin.to_owned(),
                    event: event.to_owned(),
                })
                .collect(),
        }
    }

    fn write_plugin(&mut self, parent: &Path, manifest: &ManifestBuilder) {
        let mut dir = parent.join(manifest.id());
        if !self.used_dirs.insert(dir.clone()) {
            dir = parent.join(format!("{}-{}", manifest.id(), manifest.version()));
            self.used_dirs.insert(dir.clone());
        }
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(MANIFEST_FILE);
        fs::write(&path, manifest.yaml())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// One line of a [`Journal`]: a probe and the hook it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The probe's plugin id.
    pub plugin: String,
    /// The hook: `boot`, `start` or `stop`.
    pub event: String,
}

/// The hooks probes ran, in the order they ran them (see [`PluginTree::probe`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    entries: Vec<JournalEntry>,
}

impl Journal {
    /// Every entry, in order.
    pub fn entries(&self) -> &[JournalEntry] {
        &self.entries
    }

    /// Where `plugin`'s first `event` is, if it happened.
    pub fn position(&self, plugin: &str, event: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.plugin == plugin && e.event == event)
    }

    /// The hooks `plugin` ran, in order.
    pub fn events_of(&self, plugin: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.plugin == plugin)
            .map(|e| e.event.as_str())
            .collect()
    }

    /// Checks that the `(plugin, event)` pairs happened, each before the next.
    ///
    /// # Panics
    /// When one is missing or out of order, with the whole journal in the message.
    pub fn assert_order(&self, order: &[(&str, &str)]) {
        let mut last: Option<(usize, &str, &str)> = None;
        for &(plugin, event) in order {
            let at = self
                .position(plugin, event)
                .unwrap_or_else(|| panic!("{plugin} never ran {event}; the journal:\n{self}"));
            if let Some((before, p, e)) = last {
                assert!(
                    before < at,
                    "{p} {e} should come before {plugin} {event}; the journal:\n{self}"
                );
            }
            last = Some((at, plugin, event));
        }
    }
}

impl fmt::Display for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "  {} {}", e.plugin, e.event)?;
        }
        Ok(())
    }
}
