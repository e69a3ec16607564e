//! Extism-ABI modules (`wasm: { abi: extism }`): core modules that import Extism's kernel
//! (`extism:host/env`) and export functions of type `() -> i32` that read their input and set
//! their output. The return code is Extism's: `0` succeeds, anything else fails the call with
//! the message the guest gave to `error_set` (or the code).
//!
//! Beside the kernel, the Plugboard host API is offered in `extism:host/user` as host
//! functions in Extism's convention (arguments and results are kernel offsets):
//! `plugboard_config() -> i64`, `plugboard_storage_get(key) -> i64` (0 when absent),
//! `plugboard_storage_put(key, value)`, `plugboard_storage_delete(key)`,
//! `plugboard_publish(topic, payload)`, `plugboard_call(target, method, payload) -> i64`,
//! `plugboard_report_health(health, message)` (0 healthy, 1 degraded, 2 unhealthy).
//!
//! Lifecycle hooks are optional exports: `boot` (input: the configuration as JSON; output: an
//! adjusted configuration, or nothing), `start`, `stop`, and `on_event` (input: the topic, a
//! NUL byte, then the payload). WASI preview 1 is offered, sandboxed (see [`crate::sandbox`]),
//! to modules that import it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use plugboard_core::manifest::LogLevel;
use plugboard_core::{CallError, Health, HealthReport, HostApi};
use wasmtime::{
    Caller, Engine, ExternType, InstancePre, Linker, Module, Store, TypedFunc, ValType,
};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::http;
use crate::instance::{Flavor, Hook};
use crate::kernel::{Kernel, KernelError, Vars};
use crate::limits::{
    classify, install_deadline, never, Budget, Failure, HasDeadline, HostRefusal, MemoryLimit,
};
use crate::sandbox::Sandbox;

const ENV: &str = "extism:host/env";
const USER: &str = "extism:host/user";
/// Exports the host calls itself, never offered as methods.
const LIFECYCLE: [&str; 5] = ["boot", "start", "stop", "on_event", "_initialize"];

/// The store data of one Extism-ABI instance.
pub(crate) struct ExtismState {
    host: HostApi,
    limit: MemoryLimit,
    kernel: Kernel,
    wasi: Option<WasiP1Ctx>,
    deadline: Instant,
}

impl HasDeadline for ExtismState {
    fn deadline(&mut self) -> &mut Instant {
        &mut self.deadline
    }
}

/// One live instance.
pub(crate) struct ExtismGuest {
    store: Store<ExtismState>,
    funcs: HashMap<String, TypedFunc<(), i32>>,
}

/// How to make instances of one Extism-ABI plugin.
pub(crate) struct Extism {
    engine: Engine,
    pre: InstancePre<ExtismState>,
    host: HostApi,
    /// The exported functions of type `() -> i32`.
    exports: Arc<[String]>,
    initialize: bool,
    sandbox: Option<Sandbox>,
    vars: Vars,
    memory_max: u64,
    /// Whether the engine meters fuel (then every store needs some).
    fueled: bool,
}

/// Whether the module imports WASI (so its calls need a thread that may block on tokio).
pub(crate) fn uses_wasi(module: &Module) -> bool {
    module
        .imports()
        .any(|i| i.module() == "wasi_snapshot_preview1")
}

/// A module linked against the kernel, the host API and WASI.
pub(crate) struct Linked {
    pre: InstancePre<ExtismState>,
    exports: Vec<String>,
    initialize: bool,
    wasi: bool,
}

impl Extism {
    /// Links `module`; fails with what is missing when it imports something the host does not
    /// provide.
    pub(crate) fn new(
        engine: &Engine,
        module: &Module,
        host: HostApi,
        sandbox: Sandbox,
        memory_max: u64,
        fueled: bool,
    ) -> Result<Self, String> {
        let Linked {
            pre,
            exports,
            initialize,
            wasi,
        } = link(engine, module)?;
        Ok(Self {
            engine: engine.clone(),
            pre,
            host,
            exports: exports.into(),
            initialize,
            sandbox: wasi.then_some(sandbox),
            vars: Vars::default(),
            memory_max,
            fueled,
        })
    }
}

/// Links `module` without instantiating it: what `load` and `WasmRuntime::inspect` check.
pub(crate) fn link(engine: &Engine, module: &Module) -> Result<Linked, String> {
    {
        let mut linker: Linker<ExtismState> = Linker::new(engine);
        add_kernel(&mut linker).map_err(|e| e.to_string())?;
        add_host_api(&mut linker).map_err(|e| e.to_string())?;
        let wasi = uses_wasi(module);
        if wasi {
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut ExtismState| {
                s.wasi
                    .as_mut()
                    .expect("WASI is linked only for stores that have a WASI context")
            })
            .map_err(|e| e.to_string())?;
        }
        let pre = linker.instantiate_pre(module).map_err(|e| {
            let known: Vec<String> = module
                .imports()
                .filter(|i| ![ENV, USER, "wasi_snapshot_preview1"].contains(&i.module()))
                .map(|i| format!("{}::{}", i.module(), i.name()))
                .collect();
            if known.is_empty() {
                format!("{e:#}")
            } else {
                format!(
                    "{e:#}; it imports {} from modules the host does not offer (only `{ENV}`, `{USER}` and `wasi_snapshot_preview1`)",
                    known.join(", ")
                )
            }
        })?;
        let exports: Vec<String> = module
            .exports()
            .filter_map(|e| match e.ty() {
                ExternType::Func(f)
                    if f.params().len() == 0
                        && f.results().len() == 1
                        && matches!(f.results().next(), Some(ValType::I32)) =>
                {
                    Some(e.name().to_owned())
                }
                _ => None,
            })
            .collect();
        let methods = exports
            .iter()
            .filter(|n| !LIFECYCLE.contains(&n.as_str()))
            .count();
        if methods == 0 && !exports.iter().any(|n| n == "on_event") {
            return Err(
                "it exports no function of type `() -> i32`, so there is nothing to call; an Extism plugin exports its functions by name (for example `EXTISM_EXPORTED_FUNCTION(greet)` in C)".into(),
            );
        }
        if module.exports().all(|e| e.name() != "memory") {
            return Err("it exports no `memory`".into());
        }
        let initialize = module.exports().any(|e| e.name() == "_initialize");
        Ok(Linked {
            pre,
            exports,
            initialize,
            wasi,
        })
    }
}

impl Extism {
    fn run(
        &self,
        g: &mut ExtismGuest,
        name: &str,
        input: &[u8],
        b: &Budget,
    ) -> Result<Option<Vec<u8>>, Failure> {
        let Some(f) = g.funcs.get(name).cloned() else {
            return Ok(None);
        };
        g.store.data_mut().kernel.begin(input).map_err(|e| {
            Failure::Guest(CallError::Codec {
                method: name.to_owned(),
                message: e.to_string(),
            })
        })?;
        b.arm(&mut g.store);
        let rc = match f.call(&mut g.store, ()) {
            Ok(rc) => rc,
            Err(e) => return Err(classify(e, &g.store.data().limit, b)),
        };
        let k = &g.store.data().kernel;
        if rc != 0 {
            let message = k
                .error_text()
                .unwrap_or_else(|| format!("{name} returned {rc}"));
            return Err(Failure::Guest(CallError::plugin(
                self.host.id().as_str(),
                message,
            )));
        }
        let out = k.output_bytes().map_err(|e| {
            Failure::Guest(CallError::plugin(self.host.id().as_str(), e.to_string()))
        })?;
        Ok(Some(out))
    }
}

impl Flavor for Extism {
    type Guest = ExtismGuest;

    fn instantiate(&self) -> Result<ExtismGuest, Failure> {
        let wasi = match &self.sandbox {
            Some(s) => Some(
                s.builder()
                    .map_err(|e| Failure::Guest(CallError::Denied(e.to_string())))?
                    .build_p1(),
            ),
            None => None,
        };
        let state = ExtismState {
            host: self.host.clone(),
            limit: MemoryLimit::new(self.memory_max),
            kernel: Kernel::new(self.vars.clone(), self.memory_max),
            wasi,
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
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, &store.data().limit, &budget))?;
        let mut funcs = HashMap::with_capacity(self.exports.len());
        for name in self.exports.iter() {
            if let Ok(f) = instance.get_typed_func::<(), i32>(&mut store, name) {
                funcs.insert(name.clone(), f);
            }
        }
        if self.initialize {
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call(&mut store, ())
                    .map_err(|e| classify(e, &store.data().limit, &budget))?;
            }
        }
        Ok(ExtismGuest { store, funcs })
    }

    fn boot(
        &self,
        g: &mut ExtismGuest,
        config: &str,
        b: &Budget,
    ) -> Result<Option<String>, Failure> {
        let out = self.run(g, "boot", config.as_bytes(), b)?;
        Ok(out
            .filter(|o| !o.is_empty())
            .map(|o| String::from_utf8_lossy(&o).into_owned()))
    }

    fn hook(&self, g: &mut ExtismGuest, hook: Hook, b: &Budget) -> Result<(), Failure> {
        self.run(g, hook.name(), b"", b).map(drop)
    }

    fn call(
        &self,
        g: &mut ExtismGuest,
        method: &str,
        payload: &[u8],
        b: &Budget,
    ) -> Result<Vec<u8>, Failure> {
        if LIFECYCLE.contains(&method) {
            return Err(Failure::Guest(self.unknown(method)));
        }
        match self.run(g, method, payload, b)? {
            Some(out) => Ok(out),
            None => Err(Failure::Guest(self.unknown(method))),
        }
    }

    fn on_event(
        &self,
        g: &mut ExtismGuest,
        topic: &str,
        payload: &[u8],
        b: &Budget,
    ) -> Result<(), Failure> {
        let mut input = Vec::with_capacity(topic.len() + 1 + payload.len());
        input.extend_from_slice(topic.as_bytes());
        input.push(0);
        input.extend_from_slice(payload);
        self.run(g, "on_event", &input, b).map(drop)
    }
}

impl Extism {
    #[cold]
    fn unknown(&self, method: &str) -> CallError {
        CallError::UnknownMethod {
            plugin: self.host.id().to_string(),
            method: method.to_owned(),
            known: self
                .exports
                .iter()
                .filter(|n| !LIFECYCLE.contains(&n.as_str()))
                .cloned()
                .collect(),
        }
    }
}

fn trap(e: KernelError) -> wasmtime::Error {
    wasmtime::Error::new(e)
}

fn refuse(e: CallError) -> wasmtime::Error {
    wasmtime::Error::new(HostRefusal(e))
}

type C<'a> = Caller<'a, ExtismState>;

fn text(c: &C<'_>, off: u64) -> wasmtime::Result<String> {
    let b = c.data().kernel.block(off).map_err(trap)?;
    Ok(String::from_utf8_lossy(b).into_owned())
}

fn give(c: &mut C<'_>, bytes: &[u8]) -> wasmtime::Result<u64> {
    c.data_mut().kernel.alloc_bytes(bytes).map_err(trap)
}

fn log_at(c: &C<'_>, level: LogLevel, off: u64) -> wasmtime::Result<()> {
    let host = &c.data().host;
    if host.log_enabled(level) {
        let msg = text(c, off)?;
        host.log(level, &msg);
    }
    Ok(())
}

/// Extism's kernel imports, with the signatures of Extism's own kernel.
fn add_kernel(l: &mut Linker<ExtismState>) -> wasmtime::Result<()> {
    l.func_wrap(ENV, "alloc", |mut c: C<'_>, n: u64| {
        c.data_mut().kernel.alloc(n).map_err(trap)
    })?;
    l.func_wrap(ENV, "free", |mut c: C<'_>, off: u64| {
        c.data_mut().kernel.free(off)
    })?;
    l.func_wrap(ENV, "length", |c: C<'_>, off: u64| {
        c.data().kernel.length(off)
    })?;
    l.func_wrap(ENV, "length_unsafe", |c: C<'_>, off: u64| {
        c.data().kernel.length(off)
    })?;
    l.func_wrap(ENV, "load_u8", |c: C<'_>, off: u64| {
        c.data().kernel.load_u8(off).map_err(trap)
    })?;
    l.func_wrap(ENV, "load_u64", |c: C<'_>, off: u64| {
        c.data().kernel.load_u64(off).map_err(trap)
    })?;
    l.func_wrap(ENV, "store_u8", |mut c: C<'_>, off: u64, v: u32| {
        c.data_mut().kernel.store_u8(off, v).map_err(trap)
    })?;
    l.func_wrap(ENV, "store_u64", |mut c: C<'_>, off: u64, v: u64| {
        c.data_mut().kernel.store_u64(off, v).map_err(trap)
    })?;
    l.func_wrap(ENV, "input_offset", |c: C<'_>| {
        c.data().kernel.input_offset()
    })?;
    l.func_wrap(ENV, "input_length", |c: C<'_>| {
        c.data().kernel.input_length()
    })?;
    l.func_wrap(ENV, "input_load_u8", |c: C<'_>, i: u64| {
        c.data().kernel.input_load_u8(i).map_err(trap)
    })?;
    l.func_wrap(ENV, "input_load_u64", |c: C<'_>, i: u64| {
        c.data().kernel.input_load_u64(i).map_err(trap)
    })?;
    l.func_wrap(ENV, "output_set", |mut c: C<'_>, off: u64, len: u64| {
        let k = &mut c.data_mut().kernel;
        k.slice(off, len).map_err(trap)?;
        k.output = (off, len);
        Ok(())
    })?;
    l.func_wrap(ENV, "error_set", |mut c: C<'_>, off: u64| {
        c.data_mut().kernel.error = off;
    })?;
    l.func_wrap(ENV, "error_get", |c: C<'_>| c.data().kernel.error)?;
    l.func_wrap(ENV, "memory_bytes", |c: C<'_>| {
        c.data().kernel.memory_bytes()
    })?;
    l.func_wrap(ENV, "reset", |mut c: C<'_>| {
        let _ = c.data_mut().kernel.begin(&[]);
    })?;
    l.func_wrap(ENV, "config_get", |mut c: C<'_>, key: u64| {
        let key = text(&c, key)?;
        let config = c.data().host.config();
        let value = match config.get(&key) {
            None | Some(serde_json::Value::Null) => return Ok(0),
            Some(serde_json::Value::String(s)) => s.clone().into_bytes(),
            Some(other) => other.to_string().into_bytes(),
        };
        give(&mut c, &value)
    })?;
    l.func_wrap(ENV, "var_get", |mut c: C<'_>, key: u64| {
        let key = c.data().kernel.block(key).map_err(trap)?.to_vec();
        let value = c.data().kernel.vars.lock().get(&key).cloned();
        match value {
            Some(v) => give(&mut c, &v),
            None => Ok(0),
        }
    })?;
    l.func_wrap(ENV, "var_set", |c: C<'_>, key: u64, value: u64| {
        let k = &c.data().kernel;
        let key = k.block(key).map_err(trap)?.to_vec();
        if value == 0 {
            k.vars.lock().remove(&key);
        } else {
            let v = k.block(value).map_err(trap)?.to_vec();
            k.vars.lock().insert(key, v);
        }
        Ok(())
    })?;
    l.func_wrap(ENV, "http_request", |mut c: C<'_>, req: u64, body: u64| {
        let request = c.data().kernel.block(req).map_err(trap)?.to_vec();
        let body = c.data().kernel.block(body).map_err(trap)?.to_vec();
        let host = c.data().host.clone();
        let (status, reply) = http::request(&host, &request, &body).map_err(refuse)?;
        c.data_mut().kernel.http_status = i32::from(status);
        give(&mut c, &reply)
    })?;
    l.func_wrap(ENV, "http_status_code", |c: C<'_>| {
        c.data().kernel.http_status
    })?;
    l.func_wrap(ENV, "http_headers", |_: C<'_>| 0u64)?;
    l.func_wrap(ENV, "get_log_level", |c: C<'_>| {
        let h = &c.data().host;
        [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warning,
            LogLevel::Error,
        ]
        .iter()
        .position(|l| h.log_enabled(*l))
        .map_or(4, |p| p as i32)
    })?;
    for (name, level) in [
        ("log_trace", LogLevel::Trace),
        ("log_debug", LogLevel::Debug),
        ("log_info", LogLevel::Info),
        ("log_warn", LogLevel::Warning),
        ("log_error", LogLevel::Error),
    ] {
        l.func_wrap(ENV, name, move |c: C<'_>, off: u64| log_at(&c, level, off))?;
    }
    Ok(())
}

/// The Plugboard host API as Extism host functions.
fn add_host_api(l: &mut Linker<ExtismState>) -> wasmtime::Result<()> {
    l.func_wrap(USER, "plugboard_config", |mut c: C<'_>| {
        let json = c.data().host.config().to_string();
        give(&mut c, json.as_bytes())
    })?;
    l.func_wrap(USER, "plugboard_storage_get", |mut c: C<'_>, key: u64| {
        let key = c.data().kernel.block(key).map_err(trap)?.to_vec();
        let store = c.data().host.storage().map_err(refuse)?;
        match store.get(&key).map_err(|e| refuse(storage_error(&c, e)))? {
            Some(v) => give(&mut c, &v),
            None => Ok(0),
        }
    })?;
    l.func_wrap(
        USER,
        "plugboard_storage_put",
        |c: C<'_>, key: u64, value: u64| {
            let k = &c.data().kernel;
            let (key, value) = (
                k.block(key).map_err(trap)?.to_vec(),
                k.block(value).map_err(trap)?.to_vec(),
            );
            let store = c.data().host.storage().map_err(refuse)?;
            store
                .put(&key, &value)
                .map_err(|e| refuse(storage_error(&c, e)))
        },
    )?;
    l.func_wrap(USER, "plugboard_storage_delete", |c: C<'_>, key: u64| {
        let key = c.data().kernel.block(key).map_err(trap)?.to_vec();
        let store = c.data().host.storage().map_err(refuse)?;
        store
            .delete(&key)
            .map(drop)
            .map_err(|e| refuse(storage_error(&c, e)))
    })?;
    l.func_wrap(
        USER,
        "plugboard_publish",
        |c: C<'_>, topic: u64, payload: u64| {
            let topic = text(&c, topic)?;
            let payload = c.data().kernel.block(payload).map_err(trap)?.to_vec();
            c.data().host.publish(&topic, payload).map_err(refuse)
        },
    )?;
    l.func_wrap(
        USER,
        "plugboard_call",
        |mut c: C<'_>, target: u64, method: u64, payload: u64| {
            let target = text(&c, target)?;
            let method = text(&c, method)?;
            let payload = c.data().kernel.block(payload).map_err(trap)?.to_vec();
            let host = c.data().host.clone();
            let reply = host
                .call_blocking(&target, &method, &payload)
                .map_err(refuse)?;
            give(&mut c, &reply)
        },
    )?;
    l.func_wrap(
        USER,
        "plugboard_report_health",
        |c: C<'_>, health: u64, message: u64| {
            let message = text(&c, message)?;
            let health = match health {
                0 => Health::Healthy,
                1 => Health::Degraded,
                _ => Health::Unhealthy,
            };
            c.data()
                .host
                .report_health(HealthReport::new(health, message));
            Ok(())
        },
    )?;
    Ok(())
}

fn storage_error(c: &C<'_>, e: plugboard_core::StorageError) -> CallError {
    CallError::plugin(c.data().host.id().as_str(), format!("storage: {e}"))
}
