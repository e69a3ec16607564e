//! Call overhead, start-up and scale of the WebAssembly runtime, side by side with raw
//! wasmtime (the floor) and the extism crate (the peer), in one run:
//! `cd benches/wasm && cargo bench`.
//!
//! - `call/<size>/raw-wasmtime`: alloc in the guest, copy in, a typed call, copy out.
//! - `call/<size>/plugboard-component`: `Host::call` on a component of the plugboard:plugin
//!   world whose `call` echoes its payload.
//! - `call/<size>/plugboard-extism`: `Host::call` on the Extism-ABI echo (tests/all/guests/
//!   kernel.wat), the same module the peer runs.
//! - `call/<size>/extism-crate`: `extism::Plugin::call` on that module.
//! - `startup/*`: compiling a large module; loading it from the disk cache; and a cached
//!   plugin from load to the end of its first call, against extism's `Plugin` from a
//!   `CompiledPlugin` plus its first call.
//! - Scale (printed before the criterion groups): 1,000 small plugins loaded and started.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use plugboard_core::{Descriptor, Host};
use plugboard_wasm::WasmRuntime;

fn guests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/plugboard-wasm/tests/all/guests")
}

fn kernel() -> Vec<u8> {
    wat::parse_file(guests().join("kernel.wat")).unwrap()
}

fn component() -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve
        .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit"))
        .unwrap();
    let world = resolve.select_world(&[pkg], Some("plugin")).unwrap();
    let mut module = wat::parse_file(guests().join("component.wat")).unwrap();
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8).unwrap();
    wit_component::ComponentEncoder::default().module(&module).unwrap().validate(true).encode().unwrap()
}

/// A module with `n` functions of some arithmetic, for compile times.
fn large_module(n: usize) -> Vec<u8> {
    let mut text = String::from("(module (memory (export \"memory\") 1)\n");
    for i in 0..n {
        text.push_str(&format!(
            "(func (export \"f{i}\") (param i64) (result i64) (local i64) (local.set 1 (i64.const {i})) \
             (block (loop (br_if 1 (i64.eqz (local.get 0))) (local.set 1 (i64.add (i64.mul (local.get 1) (i64.const 31)) (local.get 0))) \
             (local.set 0 (i64.sub (local.get 0) (i64.const 1))) (br 0))) (local.get 1))\n"
        ));
    }
    text.push_str(
        "(import \"extism:host/env\" \"output_set\" (func $o (param i64 i64)))\n(func (export \"run\") (result i32) (call $o (i64.const 0) (i64.const 0)) (i32.const 0)))",
    );
    // The import must come first in the text format; move it.
    let import = "(import \"extism:host/env\" \"output_set\" (func $o (param i64 i64)))\n";
    let text = text.replacen(import, "", 1).replacen("(module ", &format!("(module {import}"), 1);
    wat::parse_str(&text).unwrap()
}

const RAW: &str = r#"(module (memory (export "memory") 2)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param i32 i32) (result i32) (local.get 0)))"#;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("plugins")).unwrap();
        std::fs::write(
            root.join("config.yaml"),
            "directories:\n  external: [plugins]\nstate_dir: state\nlogging:\n  level: ERROR\n",
        )
        .unwrap();
        Self { _dir: dir, root }
    }

    fn plugin(&self, id: &str, bytes: &[u8], extra: &str) {
        let dir = self.root.join("plugins").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plugin.wasm"), bytes).unwrap();
        std::fs::write(
            dir.join("plugin.yaml"),
            format!("id: {id}\nversion: 1.0.0\nruntime: wasm\nentry: plugin.wasm\n{extra}"),
        )
        .unwrap();
    }

    fn host(&self, runtime: &WasmRuntime) -> Host {
        Host::builder()
            .config_file(self.root.join("config.yaml"))
            .unwrap()
            .runtime(Arc::new(runtime.clone()))
            .build()
            .unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn scale() {
    let f = Fixture::new();
    let bytes = kernel();
    for i in 0..1000 {
        f.plugin(&format!("p{i:04}"), &bytes, "wasm:\n  abi: extism\n  memory_max: 1MiB\n");
    }
    let runtime = WasmRuntime::new().unwrap();
    let tokio = rt();
    let before = rss_kib();
    let started = Instant::now();
    let host = f.host(&runtime);
    tokio.block_on(host.start()).unwrap();
    let took = started.elapsed();
    let after = rss_kib();
    let active = host
        .statuses()
        .iter()
        .filter(|s| s.state == plugboard_core::PluginState::Active)
        .count();
    assert_eq!(active, 1000, "every plugin started");
    let first = host.call("p0999", "echo", b"x").now().unwrap().unwrap();
    assert_eq!(first, b"x");
    println!(
        "scale: 1000 Extism-ABI plugins built, loaded and started in {:.3} s; resident memory {} MiB -> {} MiB (+{} MiB)",
        took.as_secs_f64(),
        before / 1024,
        after / 1024,
        after.saturating_sub(before) / 1024
    );
    tokio.block_on(host.stop());
}

fn calls(c: &mut Criterion) {
    let tokio = rt();
    let f = Fixture::new();
    f.plugin("comp", &component(), "");
    f.plugin("ext", &kernel(), "wasm:\n  abi: extism\n");
    let runtime = WasmRuntime::new().unwrap();
    let host = f.host(&runtime);
    tokio.block_on(host.start()).unwrap();

    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, wat::parse_str(RAW).unwrap()).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let alloc = instance.get_typed_func::<i32, i32>(&mut store, "alloc").unwrap();
    let echo = instance.get_typed_func::<(i32, i32), i32>(&mut store, "echo").unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();

    #[cfg(feature = "peer")]
    let mut peer = extism::Plugin::new(kernel(), [], false).unwrap();

    for size in [64usize, 64 * 1024] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut g = c.benchmark_group(format!("call/{}", if size == 64 { "64B" } else { "64KiB" }));
        g.throughput(Throughput::Bytes(size as u64))
            .sample_size(50)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        g.bench_function(BenchmarkId::from_parameter("raw-wasmtime"), |b| {
            b.iter(|| {
                let ptr = alloc.call(&mut store, size as i32).unwrap();
                memory.write(&mut store, ptr as usize, &payload).unwrap();
                let out = echo.call(&mut store, (ptr, size as i32)).unwrap() as usize;
                let reply = memory.data(&store)[out..out + size].to_vec();
                assert_eq!(reply.len(), size);
                reply
            })
        });
        g.bench_function(BenchmarkId::from_parameter("plugboard-component"), |b| {
            b.iter(|| {
                let reply = host.call("comp", "echo", &payload).now().unwrap().unwrap();
                assert_eq!(reply.len(), size);
                reply
            })
        });
        g.bench_function(BenchmarkId::from_parameter("plugboard-extism"), |b| {
            b.iter(|| {
                let reply = host.call("ext", "echo", &payload).now().unwrap().unwrap();
                assert_eq!(reply.len(), size);
                reply
            })
        });
        #[cfg(feature = "peer")]
        g.bench_function(BenchmarkId::from_parameter("extism-crate"), |b| {
            b.iter(|| {
                let reply: Vec<u8> = peer.call::<&[u8], Vec<u8>>("echo", &payload).unwrap();
                assert_eq!(reply.len(), size);
                reply
            })
        });
        g.finish();
    }
    tokio.block_on(host.stop());
}

fn startup(c: &mut Criterion) {
    let mut g = c.benchmark_group("startup");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let f = Fixture::new();
    let large = large_module(2000);
    println!("startup: the large module is {} KiB", large.len() / 1024);
    f.plugin("large", &large, "wasm:\n  abi: extism\n");
    let dir = f.root.join("plugins/large");
    let mut d = Descriptor::in_code(plugboard_core::load_manifest(&dir.join("plugin.yaml")).unwrap());
    d.dir = Some(dir);
    let state = f.root.join("state");
    g.bench_function("compile-large", |b| {
        b.iter(|| WasmRuntime::new().unwrap().precompile(&d, None).unwrap())
    });
    WasmRuntime::new().unwrap().precompile(&d, Some(&state)).unwrap();
    g.bench_function("cached-large-from-disk", |b| {
        b.iter(|| {
            let outcome = WasmRuntime::new().unwrap().precompile(&d, Some(&state)).unwrap();
            assert_eq!(outcome, plugboard_wasm::CacheOutcome::Disk);
        })
    });

    // A cached plugin from load to the end of its first call: a host with one plugin whose
    // module is in the runtime's cache, started, called once, stopped.
    let one = Fixture::new();
    one.plugin("ext", &kernel(), "wasm:\n  abi: extism\n");
    let runtime = WasmRuntime::new().unwrap();
    let tokio = rt();
    g.bench_function("plugboard-cached-load-start-first-call", |b| {
        b.iter(|| {
            let host = one.host(&runtime);
            tokio.block_on(host.start()).unwrap();
            let r = host.call("ext", "echo", b"hi").now().unwrap().unwrap();
            tokio.block_on(host.stop());
            r
        })
    });
    #[cfg(feature = "peer")]
    let compiled = extism::CompiledPlugin::new(extism::PluginBuilder::new(kernel()).with_wasi(false)).unwrap();
    #[cfg(feature = "peer")]
    g.bench_function("extism-from-compiled-first-call", |b| {
        b.iter(|| {
            let mut p = extism::Plugin::new_from_compiled(&compiled).unwrap();
            let r: Vec<u8> = p.call::<&[u8], Vec<u8>>("echo", b"hi").unwrap();
            r
        })
    });
    g.finish();
}

criterion_group!(benches, calls, startup);

fn main() {
    scale();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
