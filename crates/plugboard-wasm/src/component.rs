//! Components of the `plugboard:plugin` world (`wit/plugin.wit`), the default ABI: the
//! lifecycle and `call` are typed exports, the host API is a typed import, and WASI preview 2
//! is offered through wasmtime-wasi inside the plugin's sandbox.

use plugboard_core::manifest::LogLevel;
use plugboard_core::{CallError, Health, HealthReport, HostApi};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::instance::{Flavor, Hook};
use std::time::Instant;

use crate::limits::{classify, install_deadline, never, Budget, Failure, HasDeadline, MemoryLimit};
use crate::sandbox::Sandbox;

mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../../wit",
    });
}

use bindings::plugboard::plugin::host as wit;
use bindings::plugboard::plugin::types::CallError as WitCallError;
use bindings::{Plugin as Bindings, PluginPre};

/// The store data of one component instance.
pub(crate) struct ComponentState {
    host: HostApi,
    limit: MemoryLimit,
    wasi: WasiCtx,
    table: ResourceTable,
    deadline: Instant,
}

impl HasDeadline for ComponentState {
    fn deadline(&mut self) -> &mut Instant {
        &mut self.deadline
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn message<T>(r: Result<T, CallError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

impl wit::Host for ComponentState {
    fn log(&mut self, level: wit::Level, message: String) {
        let level = match level {
            wit::Level::Trace => LogLevel::Trace,
            wit::Level::Debug => LogLevel::Debug,
            wit::Level::Info => LogLevel::Info,
            wit::Level::Warning => LogLevel::Warning,
            wit::Level::Error => LogLevel::Error,
        };
        self.host.log(level, &message);
    }

    fn config(&mut self) -> String {
        self.host.config().to_string()
    }

    fn storage_get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        let store = message(self.host.storage())?;
        store.get(key.as_bytes()).map_err(|e| e.to_string())
    }

    fn storage_put(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        let store = message(self.host.storage())?;
        store.put(key.as_bytes(), &value).map_err(|e| e.to_string())
    }

    fn storage_delete(&mut self, key: String) -> Result<(), String> {
        let store = message(self.host.storage())?;
        store
            .delete(key.as_bytes())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn publish(&mut self, topic: String, payload: Vec<u8>) -> Result<(), String> {
        message(self.host.publish(&topic, payload))
    }

    fn call(
        &mut self,
        target: String,
        method: String,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        message(self.host.call_blocking(&target, &method, &payload))
    }

    fn report_health(&mut self, health: wit::Health, message: String) {
        let health = match health {
            wit::Health::Healthy => Health::Healthy,
            wit::Health::Degraded => Health::Degraded,
            wit::Health::Unhealthy => Health::Unhealthy,
        };
        self.host.report_health(HealthReport::new(health, message));
    }
}

impl bindings::plugboard::plugin::types::Host for ComponentState {}

/// Whether the component imports WASI interfaces that do I/O.
pub(crate) fn uses_wasi_io(engine: &Engine, component: &Component) -> bool {
    component.component_type().imports(engine).any(|(name, _)| {
        name.starts_with("wasi:")
            && !name.starts_with("wasi:clocks/")
            && !name.starts_with("wasi:random/")
            && !name.starts_with("wasi:cli/environment")
    })
}

/// One live component instance.
pub(crate) struct ComponentGuest {
    store: Store<ComponentState>,
    bindings: Bindings,
}

/// How to make instances of one component plugin.
pub(crate) struct ComponentPlugin {
    engine: Engine,
    pre: PluginPre<ComponentState>,
    host: HostApi,
    sandbox: Sandbox,
    memory_max: u64,
    fueled: bool,
}

impl ComponentPlugin {
    /// Links `component` against the host API and WASI; fails with what is missing when it
    /// imports something else or lacks an export of the world.
    pub(crate) fn new(
        engine: &Engine,
        component: &Component,
        host: HostApi,
        sandbox: Sandbox,
        memory_max: u64,
        fueled: bool,
    ) -> Result<Self, String> {
        let pre = link(engine, component)?;
        Ok(Self {
            engine: engine.clone(),
            pre,
            host,
            sandbox,
            memory_max,
            fueled,
        })
    }
}

/// Links `component` without instantiating it: what `load` and `WasmRuntime::inspect` check.
pub(crate) fn link(
    engine: &Engine,
    component: &Component,
) -> Result<PluginPre<ComponentState>, String> {
    {
        let mut linker: Linker<ComponentState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| format!("{e:#}"))?;
        Bindings::add_to_linker::<ComponentState, HasSelf<ComponentState>>(&mut linker, |s| s)
            .map_err(|e| format!("{e:#}"))?;
        let pre = linker.instantiate_pre(component).map_err(|e| {
            format!("{e:#}; the host offers the `plugboard:plugin/host` interface and WASI 0.2")
        })?;
        let pre = PluginPre::new(pre).map_err(|e| {
            format!("{e:#}; a plugin component exports `boot`, `start`, `stop`, `call` and `on-event` of the `plugboard:plugin` world (wit/plugin.wit)")
        })?;
        Ok(pre)
    }
}

fn hook_result(plugin: &HostApi, r: Result<(), String>) -> Result<(), Failure> {
    r.map_err(|m| Failure::Guest(CallError::plugin(plugin.id().as_str(), m)))
}

impl Flavor for ComponentPlugin {
    type Guest = ComponentGuest;

    fn instantiate(&self) -> Result<ComponentGuest, Failure> {
        let wasi = self
            .sandbox
            .builder()
            .map_err(|e| Failure::Guest(CallError::Denied(e.to_string())))?
            .build();
        let state = ComponentState {
            host: self.host.clone(),
            limit: MemoryLimit::new(self.memory_max),
            wasi,
            table: ResourceTable::new(),
            deadline: never(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limit);
        install_deadline(&mut store);
        store.set_epoch_deadline(u64::MAX / 2);
        if self.fueled {
            let _ = store.set_fuel(u64::MAX);
        }
        let budget = Budget {
            ticks: u64::MAX / 2,
            timeout: std::time::Duration::MAX,
            fuel: None,
        };
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, &store.data().limit, &budget))?;
        Ok(ComponentGuest { store, bindings })
    }

    fn boot(
        &self,
        g: &mut ComponentGuest,
        config: &str,
        b: &Budget,
    ) -> Result<Option<String>, Failure> {
        b.arm(&mut g.store);
        let r = g
            .bindings
            .call_boot(&mut g.store, config)
            .map_err(|e| classify(e, &g.store.data().limit, b))?;
        r.map_err(|m| Failure::Guest(CallError::plugin(self.host.id().as_str(), m)))
    }

    fn hook(&self, g: &mut ComponentGuest, hook: Hook, b: &Budget) -> Result<(), Failure> {
        b.arm(&mut g.store);
        let r = match hook {
            Hook::Start => g.bindings.call_start(&mut g.store),
            Hook::Stop => g.bindings.call_stop(&mut g.store),
        }
        .map_err(|e| classify(e, &g.store.data().limit, b))?;
        hook_result(&self.host, r)
    }

    fn call(
        &self,
        g: &mut ComponentGuest,
        method: &str,
        payload: &[u8],
        b: &Budget,
    ) -> Result<Vec<u8>, Failure> {
        b.arm(&mut g.store);
        let r = g
            .bindings
            .call_call(&mut g.store, method, payload)
            .map_err(|e| classify(e, &g.store.data().limit, b))?;
        let plugin = || self.host.id().to_string();
        r.map_err(|e| {
            Failure::Guest(match e {
                WitCallError::UnknownMethod => CallError::UnknownMethod {
                    plugin: plugin(),
                    method: method.to_owned(),
                    known: Vec::new(),
                },
                WitCallError::Denied(m) => CallError::Denied(format!("plugin {}: {m}", plugin())),
                WitCallError::Failed(m) => CallError::plugin(plugin(), m),
            })
        })
    }

    fn on_event(
        &self,
        g: &mut ComponentGuest,
        topic: &str,
        payload: &[u8],
        b: &Budget,
    ) -> Result<(), Failure> {
        b.arm(&mut g.store);
        g.bindings
            .call_on_event(&mut g.store, topic, payload)
            .map_err(|e| classify(e, &g.store.data().limit, b))
    }
}
