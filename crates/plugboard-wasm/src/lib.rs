//! The Plugboard runtime for WebAssembly plugins (`runtime: wasm`), on wasmtime.
//!
//! ```no_run
//! use std::sync::Arc;
//! use plugboard_core::Host;
//! use plugboard_wasm::WasmRuntime;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let host = Host::builder()
//!     .config_file("config.yaml")?
//!     .runtime(Arc::new(WasmRuntime::builder().build()?))
//!     .build()?;
//! host.start().await?;
//! let reply = host.call("vowels", "count", b"hello").await?;
//! # Ok(()) }
//! ```
//!
//! # Two kinds of plugin
//! - **Components** (`wasm: { abi: component }`, the default) implement the `plugboard:plugin`
//!   world in `wit/plugin.wit`: the lifecycle (`boot`, `start`, `stop`), `call` and `on-event`
//!   as exports, the host API as imports, WASI 0.2 inside the sandbox.
//! - **Extism-ABI modules** (`wasm: { abi: extism }`) are core modules written against an
//!   Extism PDK: they load unchanged, the kernel (`extism:host/env`) is served by the host,
//!   and the host API is offered as host functions (see the `extism` module's docs).
//!
//! # Sandbox
//! Deny by default: a plugin gets exactly its effective `permissions` (the manifest's request
//! narrowed by the host's `grant`): preopened directories (read-only or read-write),
//! environment variables, TCP connections and Extism HTTP requests to listed hosts. A refused
//! connection or request is an error for the guest and a line in the plugin's log naming the
//! permission that would allow it.
//!
//! # Limits
//! Each instance has a memory limit (`wasm.memory_max`, capped by
//! [`WasmRuntimeBuilder::memory_cap`]), each call a deadline (`wasm.timeout`, default 1 s,
//! enforced by epoch interruption from one clock thread per runtime) and optionally a fuel
//! budget (`wasm.fuel`). A trap, an out-of-memory, a stack overflow or a missed deadline
//! fails that call with a [`CallError`](plugboard_core::CallError) (`Timeout` or `Crashed`),
//! the instance is discarded and replaced, and repeated faults mark the plugin unhealthy.
//! Nothing a guest does panics the host.
//!
//! # Speed
//! One engine per runtime, an `InstancePre` per plugin, a pool of instances per plugin (a
//! call takes an idle instance, so concurrent calls do not wait on one lock), calls on the
//! caller's thread when the guest does no WASI I/O, and a compiled-module cache in memory and
//! under the host's state directory, keyed by the artifact's sha256, the wasmtime version and
//! the engine's settings.
#![deny(missing_docs)]

mod cache;
mod component;
mod engine;
mod error;
mod extism;
mod http;
mod instance;
mod kernel;
mod limits;
mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_core::manifest::{LogLevel, RuntimeKind, WasmAbi};
use plugboard_core::{Descriptor, HostApi, PluginInstance, Runtime, RuntimeError};
use sha2::{Digest, Sha256};
use wasmtime::Engine;

pub use cache::CacheOutcome;
pub use error::LoadError;

use cache::{Compiled, ModuleCache};
use engine::{EngineSettings, Ticker};
use instance::{Plugin, WasmInstance};
use limits::Budget;

/// The default deadline of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// The default cap on an instance's memory, whatever its manifest asks.
pub const DEFAULT_MEMORY_CAP: u64 = 256 << 20;
/// The memory an instance gets when its manifest does not say.
pub const DEFAULT_MEMORY: u64 = 64 << 20;

/// The runtime for `runtime: wasm`. Register one per host; cheap to clone (clones share the
/// engines, the clock thread and the module cache).
#[derive(Debug, Clone)]
pub struct WasmRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    plain: Engine,
    fueled: Engine,
    cache: ModuleCache,
    state_dir: Option<PathBuf>,
    memory_cap: u64,
    unhealthy_after: u32,
    _ticker: Ticker,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("state_dir", &self.state_dir)
            .field("memory_cap", &self.memory_cap)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WasmRuntime`].
#[derive(Debug, Clone)]
pub struct WasmRuntimeBuilder {
    state_dir: Option<PathBuf>,
    memory_cap: u64,
    pooling: Option<u32>,
    unhealthy_after: u32,
}

/// Why a [`WasmRuntime`] could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly engine: {0}")]
pub struct BuildError(String);

impl WasmRuntimeBuilder {
    /// Where compiled modules are cached (`<dir>/wasm-cache`). Without it, the host's state
    /// directory is used, as each plugin's host API reports it.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The most memory any instance may have, whatever its manifest asks (default 256 MiB).
    pub fn memory_cap(mut self, bytes: u64) -> Self {
        self.memory_cap = bytes;
        self
    }

    /// Uses wasmtime's pooling allocator with this many instance slots: faster instantiation
    /// (replacing instances, growing pools) for a fixed reservation of address space. Off by
    /// default, so the number of plugins is not bounded by the pool.
    pub fn pooling(mut self, slots: u32) -> Self {
        self.pooling = Some(slots);
        self
    }

    /// After this many faults in a row a plugin reports itself unhealthy (default 3).
    pub fn unhealthy_after(mut self, faults: u32) -> Self {
        self.unhealthy_after = faults.max(1);
        self
    }

    /// Builds the runtime: its engines and its clock thread.
    ///
    /// # Errors
    /// When wasmtime refuses the engine configuration.
    pub fn build(self) -> Result<WasmRuntime, BuildError> {
        let settings = EngineSettings {
            pooling: self.pooling,
            memory_cap: self.memory_cap,
        };
        let plain = engine::build(settings, false).map_err(|e| BuildError(format!("{e:#}")))?;
        let fueled = engine::build(settings, true).map_err(|e| BuildError(format!("{e:#}")))?;
        let ticker = Ticker::start(vec![plain.clone(), fueled.clone()]);
        Ok(WasmRuntime {
            inner: Arc::new(Inner {
                plain,
                fueled,
                cache: ModuleCache::default(),
                state_dir: self.state_dir,
                memory_cap: self.memory_cap,
                unhealthy_after: self.unhealthy_after,
                _ticker: ticker,
            }),
        })
    }
}

impl WasmRuntime {
    /// A builder with the defaults.
    pub fn builder() -> WasmRuntimeBuilder {
        WasmRuntimeBuilder {
            state_dir: None,
            memory_cap: DEFAULT_MEMORY_CAP,
            pooling: None,
            unhealthy_after: 3,
        }
    }

    /// A runtime with the defaults.
    ///
    /// # Errors
    /// As [`WasmRuntimeBuilder::build`].
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    /// The wasmtime engine plugins without a fuel budget run on (for benchmarks and tools).
    pub fn engine(&self) -> &Engine {
        &self.inner.plain
    }

    /// Compiles (or fetches from the cache) the entry of `descriptor`, and says where it came
    /// from. [`Runtime::load`] does this too; this is for tools and benchmarks.
    ///
    /// # Errors
    /// As for loading.
    pub fn precompile(
        &self,
        descriptor: &Descriptor,
        state_dir: Option<&Path>,
    ) -> Result<CacheOutcome, LoadError> {
        let art = read_entry(descriptor)?;
        let engine = self.engine_for(descriptor);
        let dir = state_dir
            .map(Path::to_path_buf)
            .or_else(|| self.inner.state_dir.clone())
            .map(|d| d.join("wasm-cache"));
        self.compile(descriptor, &art, engine, dir.as_deref())
            .map(|(_, o)| o)
    }

    /// Checks that `bytes` would load as plugin `plugin` with `abi`, without running any of it:
    /// the format, compilation, and linking against what the host offers (imports) and needs
    /// (exports). What `plugboard validate` and the fuzz target use. Nothing is cached.
    ///
    /// # Errors
    /// The [`LoadError`] loading would give.
    pub fn inspect(&self, plugin: &str, bytes: &[u8], abi: WasmAbi) -> Result<(), LoadError> {
        let path = PathBuf::from("<bytes>");
        let component = kind(plugin, &path, bytes, Some(abi))?;
        let engine = &self.inner.plain;
        let invalid = |e: wasmtime::Error| LoadError::Invalid {
            plugin: plugin.to_owned(),
            path: path.clone(),
            what: if component { "component" } else { "module" },
            message: format!("{e:#}").replace('\n', " "),
        };
        let interface = |abi: &'static str| {
            let path = path.clone();
            move |message: String| LoadError::Interface {
                plugin: plugin.to_owned(),
                path,
                abi,
                message,
            }
        };
        if component {
            let c = wasmtime::component::Component::new(engine, bytes).map_err(invalid)?;
            component::link(engine, &c)
                .map(drop)
                .map_err(interface("plugboard:plugin world"))
        } else {
            let m = wasmtime::Module::new(engine, bytes).map_err(invalid)?;
            extism::link(engine, &m)
                .map(drop)
                .map_err(interface("Extism ABI"))
        }
    }

    fn engine_for(&self, d: &Descriptor) -> &Engine {
        if d.manifest.wasm.as_ref().is_some_and(|w| w.fuel.is_some()) {
            &self.inner.fueled
        } else {
            &self.inner.plain
        }
    }

    fn compile(
        &self,
        d: &Descriptor,
        art: &Artifact,
        engine: &Engine,
        cache_dir: Option<&Path>,
    ) -> Result<(Compiled, CacheOutcome), LoadError> {
        self.inner
            .cache
            .get(engine, cache_dir, &art.digest, &art.bytes, art.component)
            .map_err(|e| LoadError::Invalid {
                plugin: d.id().to_string(),
                path: art.path.clone(),
                what: if art.component { "component" } else { "module" },
                message: format!("{e:#}").replace('\n', " "),
            })
    }
}

/// An entry file, read and checked.
struct Artifact {
    path: PathBuf,
    bytes: Vec<u8>,
    digest: String,
    component: bool,
}

/// The ABI the manifest asks for; `None` for a bare artifact (no plugin.yaml), whose ABI is
/// the file's: a component, or a core module taken as an Extism-ABI module.
fn abi(d: &Descriptor) -> Option<WasmAbi> {
    match &d.manifest.wasm {
        Some(w) => Some(w.abi),
        None if d.bare => None,
        None => Some(WasmAbi::default()),
    }
}

/// Reads the entry, checks it is WebAssembly of the kind the manifest says, and matches
/// `integrity:`.
fn read_entry(d: &Descriptor) -> Result<Artifact, LoadError> {
    let plugin = d.id().to_string();
    let dir = d.dir.as_ref().ok_or_else(|| LoadError::NoDirectory {
        plugin: plugin.clone(),
    })?;
    let path = dir.join(&d.manifest.entry);
    if !path.is_file() {
        return Err(LoadError::Missing { plugin, path });
    }
    let bytes = std::fs::read(&path).map_err(|source| LoadError::Io {
        plugin: plugin.clone(),
        action: "read",
        path: path.clone(),
        source,
    })?;
    let component = kind(&plugin, &path, &bytes, abi(d))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if let Some(integrity) = &d.manifest.integrity {
        if integrity.sha256_hex() != digest {
            return Err(LoadError::Integrity {
                plugin,
                path,
                expected: integrity.sha256_hex().to_owned(),
                actual: digest,
            });
        }
    }
    Ok(Artifact {
        path,
        bytes,
        digest,
        component,
    })
}

/// Whether `bytes` is a component (`true`) or a core module, checked against the manifest.
fn kind(plugin: &str, path: &Path, bytes: &[u8], abi: Option<WasmAbi>) -> Result<bool, LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm {
            plugin: plugin.to_owned(),
            path: path.to_owned(),
        });
    }
    // The version field: 1 for core modules; components carry a layer of 1 in its high half.
    let component = bytes[6..8] == [1, 0];
    let Some(abi) = abi else {
        return Ok(component);
    };
    match (component, abi) {
        (true, WasmAbi::Component) | (false, WasmAbi::Extism) => Ok(component),
        (false, WasmAbi::Component) => Err(LoadError::WrongKind {
            plugin: plugin.to_owned(),
            path: path.to_owned(),
            found: "core module",
            abi: "component",
            hint: "set `wasm: { abi: extism }` if it is an Extism plugin, or make a component of it (`wasm-tools component new`)",
        }),
        (true, WasmAbi::Extism) => Err(LoadError::WrongKind {
            plugin: plugin.to_owned(),
            path: path.to_owned(),
            found: "component",
            abi: "extism",
            hint: "remove `abi: extism` to load it as a component of the plugboard:plugin world",
        }),
    }
}

#[async_trait]
impl Runtime for WasmRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Wasm
    }

    /// Checks that the entry exists, is WebAssembly of the kind `wasm.abi` says, and matches
    /// `integrity:`. Does not compile it.
    fn check(&self, descriptor: &Descriptor) -> Result<(), RuntimeError> {
        read_entry(descriptor).map(drop).map_err(Into::into)
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        let this = self.clone();
        let d = descriptor.clone();
        let work = move || this.load_now(&d, host);
        let result = match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::spawn_blocking(work).await.map_err(|e| {
                RuntimeError::new(format!(
                    "plugin {}: the thread loading it failed: {e}",
                    descriptor.id()
                ))
            })?,
            Err(_) => work(),
        };
        result.map_err(Into::into)
    }
}

impl WasmRuntime {
    fn load_now(
        &self,
        d: &Descriptor,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, LoadError> {
        let plugin = d.id().to_string();
        let art = read_entry(d)?;
        let settings = d.manifest.wasm.clone().unwrap_or_default();
        let engine = self.engine_for(d).clone();
        let cache_dir = self
            .inner
            .state_dir
            .clone()
            .or_else(|| host.state_dir())
            .map(|s| s.join("wasm-cache"));
        let (compiled, outcome) = self.compile(d, &art, &engine, cache_dir.as_deref())?;
        let memory_max = settings
            .memory_max
            .map_or(DEFAULT_MEMORY, |b| b.0)
            .min(self.inner.memory_cap);
        let timeout = settings.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0);
        let budget = Budget {
            ticks: engine::ticks(timeout),
            timeout,
            fuel: settings.fuel,
        };
        let dir = d.dir.clone().unwrap_or_default();
        let sandbox = sandbox::Sandbox::new(&host, host.permissions(), &dir)?;
        host.log(
            LogLevel::Debug,
            &format!(
                "loaded {} ({} bytes, {outcome:?}); memory_max {memory_max} bytes, timeout {} ms{}; {}",
                d.manifest.entry,
                art.bytes.len(),
                timeout.as_millis(),
                settings.fuel.map(|f| format!(", fuel {f}")).unwrap_or_default(),
                sandbox.describe()
            ),
        );
        let fueled = settings.fuel.is_some();
        let interface = |abi: &'static str| {
            let path = art.path.clone();
            let plugin = plugin.clone();
            move |message: String| LoadError::Interface {
                plugin,
                path,
                abi,
                message,
            }
        };
        let unhealthy_after = self.inner.unhealthy_after;
        Ok(match compiled {
            Compiled::Module(module) => {
                let inline = !extism::uses_wasi(&module);
                let flavor = extism::Extism::new(
                    &engine,
                    &module,
                    host.clone(),
                    sandbox,
                    memory_max,
                    fueled,
                )
                .map_err(interface("Extism ABI"))?;
                Arc::new(WasmInstance::new(Plugin::new(
                    host,
                    flavor,
                    budget,
                    inline,
                    unhealthy_after,
                )))
            }
            Compiled::Component(c) => {
                let inline = !component::uses_wasi_io(&engine, &c);
                let flavor = component::ComponentPlugin::new(
                    &engine,
                    &c,
                    host.clone(),
                    sandbox,
                    memory_max,
                    fueled,
                )
                .map_err(interface("plugboard:plugin world"))?;
                Arc::new(WasmInstance::new(Plugin::new(
                    host,
                    flavor,
                    budget,
                    inline,
                    unhealthy_after,
                )))
            }
        })
    }
}

const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<WasmRuntime>();
    shared::<LoadError>();
};
