//! What a native plugin call costs over a direct Rust trait-object call, in the same process.
//!
//! Both echo a 16-byte payload into a fresh `Vec`:
//! - `direct`: `Arc<dyn BuiltinPlugin>::call`, no host at all (the baseline);
//! - `native_instance`: the native runtime's `PluginInstance::call` into the probe plugin
//!   (`tests/probe`, built in release by this bench): through the C function pointer, the
//!   pdk's trampoline and `catch_unwind`, the plugin's `Vec`, the copy into the host's `Vec`,
//!   and the plugin's `free`;
//! - `host_builtin` and `host_native`: `Host::call` by id into a builtin echo and into the
//!   native probe, for the cost as an application sees it.
//!
//! After criterion's report, a summary gives each path's median over paired batches against
//! the baseline (alternating, to cancel drift on a shared machine), and the targets: within 2x
//! of `direct`, and under 20 ns of overhead at the median.
//!
//! `cargo bench -p plugboard-native --bench native_call`

#[path = "../tests/all/plugins.rs"]
mod plugins;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::Criterion;
use parking_lot::Mutex;
use plugboard_core::manifest::{Manifest, RuntimeKind};
use plugboard_core::{
    BuiltinPlugin, CallError, Descriptor, Host, HostApi, PluginInstance, Runtime, RuntimeError,
};
use plugboard_native::NativeRuntime;

const PAYLOAD: [u8; 16] = *b"0123456789abcdef";

struct Echo;

impl BuiltinPlugin for Echo {
    fn call(&self, _method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        Ok(payload.to_vec())
    }
}

/// The native runtime, keeping the instance it loads so the bench can call it directly.
struct Keeping {
    inner: NativeRuntime,
    kept: Mutex<Option<Arc<dyn PluginInstance>>>,
}

impl std::fmt::Debug for Keeping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeping")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Runtime for Keeping {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Native
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        let instance = self.inner.load(descriptor, host).await?;
        *self.kept.lock() = Some(instance.clone());
        Ok(instance)
    }
}

/// Median per-call difference between `path` and `base`, over 201 pairs of 20,000-call batches.
fn paired(base: &dyn Fn(), path: &dyn Fn()) -> (f64, f64) {
    const BATCH: u32 = 20_000;
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..BATCH {
            f();
        }
        t.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH)
    };
    let mut bases = Vec::new();
    let mut paths = Vec::new();
    for i in 0..201 {
        if i % 2 == 0 {
            bases.push(time(base));
            paths.push(time(path));
        } else {
            paths.push(time(path));
            bases.push(time(base));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut bases), median(&mut paths))
}

fn main() {
    let (probe, _) = plugins::rust_plugins(true);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let plugin_dir = dir.path().join("plugins/probe");
    std::fs::create_dir_all(&plugin_dir).expect("a plugin directory");
    std::fs::copy(&probe, plugin_dir.join("libprobe.so")).expect("the probe");
    std::fs::write(
        plugin_dir.join("plugin.yaml"),
        "id: probe\nversion: 1.0.0\nruntime: native\nentry: libprobe.so\n",
    )
    .expect("a manifest");
    std::fs::write(
        dir.path().join("config.yaml"),
        "directories:\n  external: [plugins]\nstate_dir: state\n",
    )
    .expect("a config");
    let keeping = Arc::new(Keeping {
        inner: NativeRuntime::with_state_dir(dir.path().join("state")),
        kept: Mutex::new(None),
    });
    let echo = Manifest::from_yaml_str(
        "id: echo\nversion: 1.0.0\nruntime: builtin\nentry: echo\n",
        "inline",
    )
    .expect("a manifest");
    let host = Host::builder()
        .config_file(dir.path().join("config.yaml"))
        .expect("the config")
        .runtime(keeping.clone())
        .plugin(echo, || Echo)
        .build()
        .expect("a host");
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(host.start()).expect("the host starts");

    let direct: Arc<dyn BuiltinPlugin> = Arc::new(Echo);
    let native = keeping.kept.lock().clone().expect("the probe was loaded");
    let now = |r: plugboard_core::Reply<'_>| r.now().expect("a ready reply");
    assert_eq!(direct.call("echo", &PAYLOAD).unwrap(), PAYLOAD);
    assert_eq!(now(native.call("echo", &PAYLOAD)).unwrap(), PAYLOAD);
    assert_eq!(now(host.call("probe", "echo", &PAYLOAD)).unwrap(), PAYLOAD);
    assert_eq!(now(host.call("echo", "echo", &PAYLOAD)).unwrap(), PAYLOAD);

    let mut c = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("native_call");
        g.bench_function("direct", |b| {
            b.iter(|| black_box(&direct).call(black_box("echo"), black_box(&PAYLOAD)))
        });
        g.bench_function("native_instance", |b| {
            b.iter(|| now(black_box(&native).call(black_box("echo"), black_box(&PAYLOAD))))
        });
        g.bench_function("host_builtin", |b| {
            b.iter(|| now(black_box(&host).call(black_box("echo"), "echo", black_box(&PAYLOAD))))
        });
        g.bench_function("host_native", |b| {
            b.iter(|| now(black_box(&host).call(black_box("probe"), "echo", black_box(&PAYLOAD))))
        });
        g.finish();
    }
    c.final_summary();

    let base = || {
        black_box(black_box(&direct).call(black_box("echo"), black_box(&PAYLOAD))).ok();
    };
    let native_call = || {
        black_box(now(
            black_box(&native).call(black_box("echo"), black_box(&PAYLOAD))
        ))
        .ok();
    };
    let host_builtin = || {
        black_box(now(black_box(&host).call(
            "echo",
            "echo",
            black_box(&PAYLOAD),
        )))
        .ok();
    };
    let host_native = || {
        black_box(now(black_box(&host).call(
            "probe",
            "echo",
            black_box(&PAYLOAD),
        )))
        .ok();
    };
    println!();
    println!("native_call: paired medians (ns per call; targets: <= 2x and < 20 ns over direct)");
    let (b, n) = paired(&base, &native_call);
    let verdict = if n <= 2.0 * b && n - b < 20.0 {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "  direct {b:6.1}   native_instance {n:6.1}   overhead {:+6.1}   ratio {:4.2}x   {verdict}",
        n - b,
        n / b
    );
    let (hb, hn) = paired(&host_builtin, &host_native);
    println!(
        "  host_builtin {hb:6.1}   host_native {hn:6.1}   overhead {:+6.1}   ratio {:4.2}x",
        hn - hb,
        hn / hb
    );
    rt.block_on(host.stop());
}
