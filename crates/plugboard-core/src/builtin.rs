//! The builtin runtime: Rust plugins compiled into the application.
//!
//! An application registers a factory under a name with
//! [`HostBuilder::builtin`](crate::HostBuilder::builtin); a `plugin.yaml` with
//! `runtime: builtin` and `entry: <name>` selects it. The manifest still owns everything else
//! (id, version, dependencies, config schema), so a builtin plugin is managed exactly like one in
//! any other runtime.
//!
//! ```
//! use plugboard_core::{BuiltinPlugin, CallError, Methods};
//!
//! #[derive(Default)]
//! struct Upper;
//!
//! impl BuiltinPlugin for Upper {
//!     fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
//!         static METHODS: std::sync::LazyLock<Methods<Upper>> = std::sync::LazyLock::new(|| {
//!             Methods::new().json("upper", |_: &Upper, text: String| Ok::<_, String>(text.to_uppercase()))
//!         });
//!         METHODS.dispatch(self, "upper-plugin", method, payload)
//!     }
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use parking_lot::Mutex;
use plugboard_manifest::RuntimeKind;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{
    CallError, Descriptor, Event, HealthReport, HostApi, PluginError, PluginInstance, Reply,
    Runtime, RuntimeError,
};

/// What a Rust author implements to make a builtin plugin.
///
/// Hooks run on a blocking thread under the host's hook timeout, so a hook may do blocking I/O.
/// `call` runs on the caller's thread: keep it short, or hand long work to a thread of your own.
/// A panic in any method is caught and reported as an error for that plugin; it never unwinds
/// into the host.
pub trait BuiltinPlugin: Send + Sync + 'static {
    /// Called once, before `start`, with the validated configuration. The plugin may adjust its
    /// own configuration through [`BootContext::config_mut`]; the host validates it again.
    fn boot(&mut self, ctx: &mut BootContext) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Registers services and begins work.
    fn start(&self, host: &HostApi) -> Result<(), PluginError> {
        let _ = host;
        Ok(())
    }

    /// Releases what `start` took.
    fn stop(&self, host: &HostApi) -> Result<(), PluginError> {
        let _ = host;
        Ok(())
    }

    /// Handles a call: `method` with `payload`, returning the result bytes.
    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError>;

    /// Receives an event on a subscribed topic.
    fn on_event(&self, event: &Event) {
        let _ = event;
    }

    /// Reports how the plugin is doing when the host checks; `None` means nothing to report.
    fn health(&self) -> Option<HealthReport> {
        None
    }

    /// Exports the plugin's state for its next version on a hot reload, when its manifest says
    /// `reload: { handoff: true }`. The host calls it once no call is in flight, before
    /// `stop`; the next version receives the bytes in [`BootContext::handoff`]. `None` hands
    /// over nothing.
    ///
    /// # Errors
    /// An error keeps the running version and refuses the update.
    fn export_state(&self, host: &HostApi) -> Result<Option<Vec<u8>>, PluginError> {
        let _ = host;
        Ok(None)
    }
}

/// What `boot` receives: the host API and the plugin's effective configuration.
#[derive(Debug)]
pub struct BootContext {
    host: HostApi,
    config: serde_json::Value,
    changed: bool,
    handoff: Option<Vec<u8>>,
}

impl BootContext {
    /// The plugin's host API, to keep for later use.
    pub fn host(&self) -> &HostApi {
        &self.host
    }

    /// The validated configuration, with schema defaults applied.
    pub fn config(&self) -> &serde_json::Value {
        &self.config
    }

    /// The configuration, to adjust. The host validates the result again after `boot`.
    pub fn config_mut(&mut self) -> &mut serde_json::Value {
        self.changed = true;
        &mut self.config
    }

    /// The state the previous version exported with
    /// [`BuiltinPlugin::export_state`] when this boot is a hot reload with
    /// `reload: { handoff: true }`; `None` on a first start.
    ///
    /// ```
    /// use plugboard_core::{BootContext, BuiltinPlugin, CallError, HostApi, PluginError};
    ///
    /// #[derive(Default)]
    /// struct Counter(std::sync::atomic::AtomicU64);
    ///
    /// impl BuiltinPlugin for Counter {
    ///     fn boot(&mut self, ctx: &mut BootContext) -> Result<(), PluginError> {
    ///         if let Some(bytes) = ctx.handoff() {
    ///             let n = std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok());
    ///             let n = n.ok_or_else(|| PluginError::new("the handed-over count is not a number"))?;
    ///             self.0.store(n, std::sync::atomic::Ordering::Relaxed);
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn export_state(&self, _: &HostApi) -> Result<Option<Vec<u8>>, PluginError> {
    ///         Ok(Some(self.0.load(std::sync::atomic::Ordering::Relaxed).to_string().into_bytes()))
    ///     }
    ///
    ///     fn call(&self, _: &str, _: &[u8]) -> Result<Vec<u8>, CallError> {
    ///         let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    ///         Ok(n.to_string().into_bytes())
    ///     }
    /// }
    /// ```
    pub fn handoff(&self) -> Option<&[u8]> {
        self.handoff.as_deref()
    }
}

type Handler<P> = Box<dyn Fn(&P, &[u8]) -> Result<Vec<u8>, CallError> + Send + Sync>;

/// A method table for a builtin plugin: names to handlers, with JSON encoding done for you.
pub struct Methods<P> {
    handlers: HashMap<String, Handler<P>>,
}

impl<P: 'static> fmt::Debug for Methods<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl<P: 'static> Default for Methods<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: 'static> Methods<P> {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            handlers: HashMap::new(),
        }
    }

    /// A method on raw bytes.
    pub fn raw(
        mut self,
        name: &str,
        f: impl Fn(&P, &[u8]) -> Result<Vec<u8>, CallError> + Send + Sync + 'static,
    ) -> Self {
        self.handlers.insert(name.to_owned(), Box::new(f));
        self
    }

    /// A method whose input and output are JSON: the handler sees typed values, and an error
    /// string becomes a [`CallError::Plugin`].
    pub fn json<I, O, E>(
        mut self,
        name: &str,
        f: impl Fn(&P, I) -> Result<O, E> + Send + Sync + 'static,
    ) -> Self
    where
        I: DeserializeOwned,
        O: Serialize,
        E: fmt::Display,
    {
        let method = name.to_owned();
        self.handlers.insert(
            name.to_owned(),
            Box::new(move |p, payload| {
                let input: I = serde_json::from_slice(payload).map_err(|e| CallError::Codec {
                    method: method.clone(),
                    message: format!("the input is not the JSON this method takes: {e}"),
                })?;
                let output = f(p, input).map_err(|e| CallError::Plugin {
                    plugin: String::new(),
                    message: e.to_string(),
                })?;
                serde_json::to_vec(&output).map_err(|e| CallError::Codec {
                    method: method.clone(),
                    message: e.to_string(),
                })
            }),
        );
        self
    }

    /// Calls the handler for `method`; `plugin` names the plugin in errors.
    ///
    /// # Errors
    /// [`CallError::UnknownMethod`] listing the known methods, or the handler's error.
    pub fn dispatch(
        &self,
        plugin_ref: &P,
        plugin: &str,
        method: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        match self.handlers.get(method) {
            Some(h) => h(plugin_ref, payload).map_err(|e| match e {
                CallError::Plugin { plugin: p, message } if p.is_empty() => CallError::Plugin {
                    plugin: plugin.to_owned(),
                    message,
                },
                other => other,
            }),
            None => Err(CallError::UnknownMethod {
                plugin: plugin.to_owned(),
                method: method.to_owned(),
                known: self.names(),
            }),
        }
    }

    /// The method names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}

/// Makes a fresh instance of a builtin plugin.
pub type BuiltinFactory = Arc<dyn Fn() -> Box<dyn BuiltinPlugin> + Send + Sync>;

/// The builtin plugins an application registered, by entry name.
#[derive(Clone, Default)]
pub struct BuiltinRegistry {
    factories: HashMap<String, BuiltinFactory>,
}

impl fmt::Debug for BuiltinRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl BuiltinRegistry {
    /// Registers `factory` under `entry`, replacing any earlier one.
    pub fn register(&mut self, entry: impl Into<String>, factory: BuiltinFactory) {
        self.factories.insert(entry.into(), factory);
    }

    /// The registered entry names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.factories.keys().cloned().collect();
        names.sort();
        names
    }

    fn get(&self, entry: &str) -> Option<&BuiltinFactory> {
        self.factories.get(entry)
    }
}

/// The runtime for `runtime: builtin`.
#[derive(Debug, Clone, Default)]
pub struct BuiltinRuntime {
    registry: Arc<BuiltinRegistry>,
}

impl BuiltinRuntime {
    /// A runtime serving the plugins in `registry`.
    pub fn new(registry: BuiltinRegistry) -> Self {
        Self {
            registry: Arc::new(registry),
        }
    }
}

#[async_trait]
impl Runtime for BuiltinRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Builtin
    }

    fn check(&self, descriptor: &Descriptor) -> Result<(), RuntimeError> {
        let entry = &descriptor.manifest.entry;
        if self.registry.get(entry).is_some() {
            return Ok(());
        }
        let names = self.registry.names();
        Err(RuntimeError::new(format!(
            "plugin {}: this application has no builtin plugin registered as {entry:?} (it has: {}); \
             builtin plugins are compiled into the application, which registers them with HostBuilder::builtin",
            descriptor.id(),
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        )))
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        self.check(&descriptor)?;
        let factory = self
            .registry
            .get(&descriptor.manifest.entry)
            .expect("checked above")
            .clone();
        let plugin = catch_unwind(AssertUnwindSafe(|| factory())).map_err(|p| {
            RuntimeError::new(format!(
                "plugin {}: its factory panicked: {}",
                descriptor.id(),
                panic_message(&*p)
            ))
        })?;
        Ok(Arc::new(BuiltinInstance {
            id: descriptor.id().to_string(),
            host,
            unbooted: Mutex::new(Some(plugin)),
            plugin: OnceLock::new(),
        }))
    }
}

struct BuiltinInstance {
    id: String,
    host: HostApi,
    unbooted: Mutex<Option<Box<dyn BuiltinPlugin>>>,
    plugin: OnceLock<Arc<dyn BuiltinPlugin>>,
}

impl BuiltinInstance {
    fn booted(&self) -> Result<Arc<dyn BuiltinPlugin>, PluginError> {
        self.plugin
            .get()
            .cloned()
            .ok_or_else(|| PluginError::new("the plugin has not booted"))
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// Runs a blocking hook on tokio's blocking pool, turning a panic into an error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> Result<T, PluginError> {
    match tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(f))).await {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => Err(PluginError::new(format!(
            "panicked: {}",
            panic_message(&*p)
        ))),
        Err(e) => Err(PluginError::new(format!("the hook's thread failed: {e}"))),
    }
}

#[async_trait]
impl PluginInstance for BuiltinInstance {
    async fn boot(
        &self,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError> {
        let mut plugin = self
            .unbooted
            .lock()
            .take()
            .ok_or_else(|| PluginError::new("boot was called twice"))?;
        let host = self.host.clone();
        let (plugin, ctx) = blocking(move || {
            let handoff = host.take_handoff();
            let mut ctx = BootContext {
                host,
                config,
                changed: false,
                handoff,
            };
            plugin.boot(&mut ctx)?;
            Ok((plugin, ctx))
        })
        .await?;
        let _ = self.plugin.set(Arc::from(plugin));
        Ok(ctx.changed.then_some(ctx.config))
    }

    async fn start(&self) -> Result<(), PluginError> {
        let plugin = self.booted()?;
        let host = self.host.clone();
        blocking(move || plugin.start(&host)).await
    }

    async fn stop(&self) -> Result<(), PluginError> {
        let plugin = self.booted()?;
        let host = self.host.clone();
        blocking(move || plugin.stop(&host)).await
    }

    async fn export_state(&self) -> Result<Option<Vec<u8>>, PluginError> {
        let plugin = self.booted()?;
        let host = self.host.clone();
        blocking(move || plugin.export_state(&host)).await
    }

    async fn import_state(&self, state: Vec<u8>) -> Result<(), PluginError> {
        // Builtin plugins receive the state in `BootContext::handoff`, which takes it from the
        // host before `boot`; the host offers it here only if it was not taken.
        let _ = state;
        Ok(())
    }

    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        let Some(plugin) = self.plugin.get() else {
            return Reply::ready(Err(CallError::plugin(
                &self.id,
                "the plugin has not booted",
            )));
        };
        Reply::ready(
            match catch_unwind(AssertUnwindSafe(|| plugin.call(method, payload))) {
                Ok(r) => r,
                Err(p) => Err(CallError::Crashed {
                    plugin: self.id.clone(),
                    method: method.to_owned(),
                    message: format!("panicked: {}", panic_message(&*p)),
                }),
            },
        )
    }

    async fn on_event(&self, event: &Event) {
        if let Some(plugin) = self.plugin.get() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| plugin.on_event(event))) {
                self.host.log(
                    plugboard_manifest::LogLevel::Error,
                    &format!("on_event panicked: {}", panic_message(&*p)),
                );
            }
        }
    }

    async fn health(&self) -> Option<HealthReport> {
        let plugin = self.plugin.get()?;
        catch_unwind(AssertUnwindSafe(|| plugin.health())).unwrap_or_else(|p| {
            Some(HealthReport::new(
                crate::Health::Unhealthy,
                format!("health check panicked: {}", panic_message(&*p)),
            ))
        })
    }
}
