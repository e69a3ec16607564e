//! Building a [`Host`]: configuration, runtimes, builtin plugins, extension points.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use plugboard_manifest::{HostConfig, Manifest, PluginId, RuntimeKind, PLUGIN_API_VERSION};
use semver::Version;
use tokio::sync::watch;

use super::{Basis, Host, HostInner, Route, Slot, SlotStatus, Table};
use crate::builtin::{BuiltinFactory, BuiltinPlugin, BuiltinRegistry, BuiltinRuntime};
use crate::discovery::{discover, Descriptor, Shadowed};
use crate::events::EventBus;
use crate::extension::{ExtensionPoint, PointCell, PointEntry};
use crate::host_api::{ConfigValidator, PluginContext, PluginLog, Rotation, StorageBackend};
use crate::resolve::{resolve, Constraints};
use crate::services::ServiceRegistry;
use crate::{Error, HostApi, PluginState, Runtime};

/// Builds a [`Host`]. Nothing runs plugin code until [`Host::start`].
///
/// ```
/// use plugboard_core::{Host, BuiltinPlugin, CallError};
/// use plugboard_manifest::Manifest;
///
/// struct Echo;
/// impl BuiltinPlugin for Echo {
///     fn call(&self, _method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
///         Ok(payload.to_vec())
///     }
/// }
///
/// let manifest = Manifest::from_yaml_str(
///     "id: echo\nversion: 1.0.0\nruntime: builtin\nentry: echo\n", "echo").unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// let host = Host::builder()
///     .state_dir(dir.path())
///     .plugin(manifest, || Echo)
///     .build()
///     .unwrap();
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// host.start().await.unwrap();
/// assert_eq!(host.call("echo", "any", b"hi").await.unwrap(), b"hi");
/// host.stop().await;
/// # });
/// ```
pub struct HostBuilder {
    config: HostConfig,
    config_dir: Option<PathBuf>,
    runtimes: Vec<Arc<dyn Runtime>>,
    builtins: BuiltinRegistry,
    in_code: Vec<Manifest>,
    points: Vec<ExtensionPoint>,
    api_version: Version,
    rotation: Rotation,
}

impl fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostBuilder")
            .field("config_dir", &self.config_dir)
            .field("builtins", &self.builtins)
            .finish_non_exhaustive()
    }
}

impl Default for HostBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HostBuilder {
    /// A builder with the default configuration: no plugin directories, state in `.plugboard/`
    /// under the current directory.
    pub fn new() -> Self {
        Self {
            config: HostConfig::default(),
            config_dir: None,
            runtimes: Vec::new(),
            builtins: BuiltinRegistry::default(),
            in_code: Vec::new(),
            points: Vec::new(),
            api_version: PLUGIN_API_VERSION,
            rotation: Rotation::default(),
        }
    }

    /// Reads `config.yaml` from `path`. Relative paths in it are relative to its directory.
    ///
    /// # Errors
    /// When the file cannot be read, or is invalid (every problem, with line and column).
    pub fn config_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.config = HostConfig::from_yaml_str(&text, &path.display().to_string())?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        self.config_dir = Some(std::path::absolute(&dir).unwrap_or(dir));
        Ok(self)
    }

    /// Uses `config`; relative paths in it are relative to `base`.
    pub fn config(mut self, config: HostConfig, base: impl Into<PathBuf>) -> Self {
        self.config = config;
        self.config_dir = Some(base.into());
        self
    }

    /// Overrides the state directory (logs, storage, caches).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.state_dir = Some(dir.into());
        self
    }

    /// Overrides the hook timeout.
    pub fn hook_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.hooks.timeout = plugboard_manifest::Duration(timeout);
        self
    }

    /// Sets the log rotation of per-plugin log files.
    pub fn log_rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// Adds a runtime (WebAssembly, process, native, or one of your own). The builtin runtime
    /// is always present.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtimes.push(runtime);
        self
    }

    /// Registers a builtin plugin under `entry`, the name a `plugin.yaml` with `runtime:
    /// builtin` refers to.
    pub fn builtin<P: BuiltinPlugin>(
        mut self,
        entry: &str,
        factory: impl Fn() -> P + Send + Sync + 'static,
    ) -> Self {
        let factory: BuiltinFactory = Arc::new(move || Box::new(factory()));
        self.builtins.register(entry, factory);
        self
    }

    /// Adds a builtin plugin with its manifest given in code, for applications that compile
    /// their plugins in and ship no plugin directory. `manifest.entry` names the factory.
    pub fn plugin<P: BuiltinPlugin>(
        self,
        manifest: Manifest,
        factory: impl Fn() -> P + Send + Sync + 'static,
    ) -> Self {
        let entry = manifest.entry.clone();
        let mut this = self.builtin(&entry, factory);
        this.in_code.push(manifest);
        this
    }

    /// Declares an extension point of the application.
    pub fn extension_point(mut self, point: ExtensionPoint) -> Self {
        self.points.push(point);
        self
    }

    /// Pretends to implement another plugin API version (for tests of `api:` checks).
    pub fn api_version(mut self, version: Version) -> Self {
        self.api_version = version;
        self
    }

    /// Discovers and resolves plugins, and returns the host. Runs no plugin code.
    ///
    /// # Errors
    /// When two runtimes claim the same kind.
    pub fn build(self) -> Result<Host, Error> {
        let mut config = self.config;
        let base = self
            .config_dir
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
        config.resolve_paths(&base);
        let state_dir = config
            .state_dir
            .clone()
            .expect("resolve_paths sets state_dir");

        let mut runtimes: HashMap<RuntimeKind, Arc<dyn Runtime>> = HashMap::new();
        runtimes.insert(
            RuntimeKind::Builtin,
            Arc::new(BuiltinRuntime::new(self.builtins)),
        );
        for rt in self.runtimes {
            if rt.kind() == RuntimeKind::Builtin || runtimes.contains_key(&rt.kind()) {
                return Err(Error::Setup(format!(
                    "two runtimes were registered for `{}`",
                    rt.kind()
                )));
            }
            runtimes.insert(rt.kind(), rt);
        }

        let found = discover(
            config.directories.bundled.as_deref(),
            &config.directories.external,
        );
        for r in &found.rejected {
            tracing::warn!(plugin = %r.name, path = %r.path.display(), "plugin refused: {}", r.reason);
        }
        let mut shadowed = found.shadowed;
        let mut by_id: BTreeMap<PluginId, Descriptor> = found
            .plugins
            .into_iter()
            .map(|d| (d.id().clone(), d))
            .collect();
        for m in self.in_code {
            let d = Descriptor::in_code(m);
            match by_id.remove(d.id()) {
                Some(prev) if prev.version() > d.version() => {
                    shadowed.push(shadow(&d, &prev));
                    by_id.insert(prev.id().clone(), prev);
                }
                Some(prev) => {
                    shadowed.push(shadow(&prev, &d));
                    by_id.insert(d.id().clone(), d);
                }
                None => {
                    by_id.insert(d.id().clone(), d);
                }
            }
        }

        let missing = config
            .plugins
            .iter()
            .filter(|e| !by_id.contains_key(&e.id))
            .cloned()
            .collect();

        let mut constraints = Constraints::default();
        for e in &config.plugins {
            if !e.enabled {
                constraints.disabled.insert(e.id.clone());
            }
            if let Some(v) = &e.version {
                constraints.versions.insert(e.id.clone(), v.clone());
            }
        }
        for d in by_id.values() {
            let problem = match runtimes.get(&d.runtime()) {
                None => Some(
                    Error::MissingRuntime {
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

        let manifests: Vec<&Manifest> = by_id.values().map(|d| &d.manifest).collect();
        let mut resolution = resolve(&manifests, &self.api_version, &constraints);
        let mut warnings = std::mem::take(&mut resolution.warnings);
        let point_specs = point_specs(&self.points, &by_id, &mut warnings);
        resolution.warnings = warnings;

        // What a reload must know again: config constraints without the runtime checks of
        // this moment (those are redone for each change).
        constraints.unavailable.clear();
        let in_code = by_id
            .values()
            .filter(|d| d.origin == crate::Origin::Application)
            .cloned()
            .collect();
        let basis = Basis {
            points: self.points,
            in_code,
            api_version: self.api_version,
            constraints,
        };

        let mut order: Vec<PluginId> = resolution.order.clone();
        order.extend(resolution.disabled.keys().cloned());
        let settings = SlotSettings {
            log_dir: state_dir.join("logs"),
            rotation: self.rotation,
        };
        let storage = StorageBackend::new(state_dir.join("storage.redb"));
        let hook_timeout = config.hooks.timeout.0;

        let fingerprints = by_id
            .iter()
            .map(|(id, d)| (id.clone(), super::reload::fingerprint(d)))
            .collect();
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<HostInner>| {
            let generations = AtomicU64::new(0);
            let routes = by_id
                .into_values()
                .map(|d| {
                    let id = d.id().clone();
                    let (state, reason) = match resolution.reason(id.as_str()) {
                        Some(r) => (PluginState::Disabled, Some(r)),
                        None => (PluginState::Resolved, None),
                    };
                    let slot = new_slot(
                        weak,
                        &config,
                        &settings,
                        Arc::new(d),
                        (state, reason),
                        resolution.waits_for.get(&id).cloned().unwrap_or_default(),
                        generations.fetch_add(1, Ordering::Relaxed),
                    );
                    (id, Arc::new(Route::new(slot)))
                })
                .collect();
            let mut table = Table {
                current: HashMap::default(),
                routes,
                order,
                resolution: Arc::new(resolution),
                shadowed,
                rejected: found.rejected,
                missing,
                points: HashMap::new(),
                fingerprints,
            };
            table.points = point_specs
                .into_iter()
                .map(|(id, (point, impls))| {
                    let entry = PointEntry::new(point, impls, &table);
                    (id, Arc::new(PointCell::new(entry)))
                })
                .collect();
            table.refresh_slots();
            HostInner {
                config,
                runtimes,
                table: ArcSwap::from_pointee(table),
                epoch: AtomicU64::new(0),
                id: super::cache::next_host_id(),
                basis,
                changes: tokio::sync::Mutex::new(()),
                generations,
                reload_listeners: RwLock::new(Vec::new()),
                dir_listeners: RwLock::new(Vec::new()),
                operator_disabled: Mutex::new(Default::default()),
                slot_settings: settings,
                services: ServiceRegistry::default(),
                events: EventBus::default(),
                listeners: RwLock::new(Vec::new()),
                storage,
                validator: ConfigValidator::default(),
                hook_timeout,
                runtime_handle: Mutex::new(None),
                started: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            }
        });
        Ok(Host { inner })
    }
}

/// Where a slot's log goes and how it rotates; the same for every slot of a host.
#[derive(Debug, Clone)]
pub(crate) struct SlotSettings {
    pub(crate) log_dir: PathBuf,
    pub(crate) rotation: Rotation,
}

/// A new slot for `descriptor` in state `state` (resolved or disabled, with the reason).
pub(crate) fn new_slot(
    host: &std::sync::Weak<HostInner>,
    config: &HostConfig,
    settings: &SlotSettings,
    descriptor: Arc<Descriptor>,
    (state, reason): (PluginState, Option<String>),
    waits_for: Vec<PluginId>,
    generation: u64,
) -> Arc<Slot> {
    let id = descriptor.id().clone();
    let entry = config.plugin(id.as_str());
    let permissions = crate::host_api::effective_permissions(
        &descriptor.manifest.permissions,
        entry.and_then(|e| e.grant.as_ref()),
    );
    let ctx = Arc::new(PluginContext {
        log: PluginLog::new(
            settings.log_dir.clone(),
            &id,
            descriptor.version(),
            config.logging.level,
            settings.rotation,
        ),
        config: RwLock::new(Arc::new(
            entry
                .and_then(|e| e.config.clone())
                .unwrap_or(serde_json::Value::Null),
        )),
        reported_health: Mutex::new(None),
        handoff: Mutex::new(None),
        permissions,
        descriptor: descriptor.clone(),
        generation,
    });
    Arc::new(Slot {
        generation,
        api: HostApi::new(ctx.clone(), host.clone()),
        ctx,
        descriptor,
        status: Mutex::new(SlotStatus {
            state,
            reason,
            started_at: None,
            start_time: None,
            host_health: None,
        }),
        instance: RwLock::new(None),
        loaded: std::sync::OnceLock::new(),
        active: AtomicBool::new(false),
        retired: AtomicBool::new(false),
        paused: watch::channel(false).0,
        settled: watch::channel((state == PluginState::Disabled).then_some(state)).0,
        start_requested: AtomicBool::new(false),
        waits_for,
        calls: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        event_task: Mutex::new(None),
    })
}

fn shadow(loser: &Descriptor, winner: &Descriptor) -> Shadowed {
    Shadowed {
        id: loser.id().clone(),
        version: loser.version().clone(),
        origin: loser.origin.clone(),
        dir: loser.dir.clone(),
        by_version: winner.version().clone(),
        by_origin: winner.origin.clone(),
    }
}

/// The implementations of one point: plugin, priority, methods.
pub(crate) type Impls = Vec<(PluginId, i32, Vec<String>)>;

/// Collects the extension points declared by the application and by plugins, and the plugins
/// that implement each, highest priority first.
pub(crate) fn point_specs(
    declared: &[ExtensionPoint],
    plugins: &BTreeMap<PluginId, Descriptor>,
    warnings: &mut Vec<(PluginId, String)>,
) -> BTreeMap<String, (ExtensionPoint, Impls)> {
    let mut points: BTreeMap<String, ExtensionPoint> = BTreeMap::new();
    for p in declared {
        points.insert(p.id.clone(), p.clone());
    }
    for d in plugins.values() {
        for decl in &d.manifest.extension_points {
            if let Some(existing) = points.get(&decl.id) {
                warnings.push((
                    d.id().clone(),
                    format!(
                        "extension point {} is already declared by {}; this declaration is ignored",
                        decl.id,
                        existing
                            .declared_by
                            .as_ref()
                            .map_or("the application".to_owned(), |p| p.to_string())
                    ),
                ));
                continue;
            }
            points.insert(
                decl.id.clone(),
                ExtensionPoint::from_decl(decl, d.id().clone()),
            );
        }
    }
    let mut impls: BTreeMap<String, Vec<(PluginId, i32, Vec<String>)>> = BTreeMap::new();
    for d in plugins.values() {
        for p in &d.manifest.provides {
            let Some(point) = points.get(&p.point) else {
                warnings.push((
                    d.id().clone(),
                    format!(
                        "provides extension point {:?}, which nobody declares; it will not be called",
                        p.point
                    ),
                ));
                continue;
            };
            let unknown: BTreeSet<&String> = p
                .methods
                .iter()
                .filter(|m| !point.methods.is_empty() && !point.methods.contains(m))
                .collect();
            if !unknown.is_empty() {
                warnings.push((
                    d.id().clone(),
                    format!(
                        "provides methods {unknown:?} that extension point {} does not have (it has {:?})",
                        p.point, point.methods
                    ),
                ));
            }
            impls.entry(p.point.clone()).or_default().push((
                d.id().clone(),
                p.priority,
                p.methods.clone(),
            ));
        }
    }
    points
        .into_iter()
        .map(|(id, point)| {
            let mut list = impls.remove(&id).unwrap_or_default();
            // Higher priority first; ties broken by id for a stable order.
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (id, (point, list))
        })
        .collect()
}
