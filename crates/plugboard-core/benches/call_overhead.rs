//! What the host adds to a call into a builtin plugin.
//!
//! The plugin echoes a 16-byte payload into a fresh `Vec`. The same work is measured four ways,
//! side by side in one run:
//! - `direct`: `Arc<dyn BuiltinPlugin>::call`, no host at all (the baseline);
//! - `plugin_handle`: `PluginHandle::call`, polled once with a no-op waker;
//! - `host_call_by_id`: `Host::call(id, ..)`, which also looks the plugin up;
//! - `point_call_one`: `PointHandle::call_one` on an extension point with one implementation.
//!
//! Builtin replies are ready at once, so each future is polled exactly once, and that it was
//! ready is checked: no executor is measured. The summary at the end prints each median, its
//! overhead over `direct` and the ratio, against the 50 ns target.
//!
//! `cargo bench -p plugboard-core --bench call_overhead`

#[path = "common/mod.rs"]
mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use plugboard_core::manifest::Manifest;
use plugboard_core::{BuiltinPlugin, CallError, ExtensionPoint, Host};

const GROUP: &str = "call_overhead";
const TARGET_NS: f64 = 50.0;
const PAYLOAD: [u8; 16] = *b"0123456789abcdef";

/// Returns its payload: the smallest piece of real work a call can do.
struct Echo;

impl BuiltinPlugin for Echo {
    fn call(&self, _method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        Ok(payload.to_vec())
    }
}

/// Polls `future` once; a builtin reply must be ready at once.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a builtin reply was not ready at once"),
    }
}

fn main() {
    let began = SystemTime::now();
    let state = tempfile::tempdir().expect("a temporary directory");
    let manifest = Manifest::from_yaml_str(
        "id: echo\nversion: 1.0.0\nruntime: builtin\nentry: echo\nprovides:\n  - point: bench.echo\n",
        "inline",
    )
    .expect("a valid manifest");
    let host = Host::builder()
        .state_dir(state.path())
        .extension_point(ExtensionPoint::new("bench.echo"))
        .plugin(manifest, || Echo)
        .build()
        .expect("a host");
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(host.start()).expect("the host starts");

    let direct: Arc<dyn BuiltinPlugin> = Arc::new(Echo);
    let handle = host.plugin("echo").expect("the plugin");
    let point = host.point("bench.echo").expect("the point");

    // Every path gives the same answer before anything is timed.
    assert_eq!(direct.call("echo", &PAYLOAD).unwrap(), PAYLOAD);
    assert_eq!(ready(handle.call("echo", &PAYLOAD)).unwrap(), PAYLOAD);
    assert_eq!(ready(host.call("echo", "echo", &PAYLOAD)).unwrap(), PAYLOAD);
    let (id, out) = ready(point.call_one("echo", &PAYLOAD)).unwrap();
    assert_eq!((id.as_str(), out.as_slice()), ("echo", PAYLOAD.as_slice()));

    let mut c = common::criterion(50, Duration::from_secs(3), Duration::from_secs(1));
    {
        let mut g = c.benchmark_group(GROUP);
        g.bench_function("direct", |b| {
            b.iter(|| black_box(&direct).call(black_box("echo"), black_box(&PAYLOAD)))
        });
        g.bench_function("plugin_handle", |b| {
            b.iter(|| ready(black_box(&handle).call(black_box("echo"), black_box(&PAYLOAD))))
        });
        g.bench_function("host_call_by_id", |b| {
            b.iter(|| {
                ready(black_box(&host).call(
                    black_box("echo"),
                    black_box("echo"),
                    black_box(&PAYLOAD),
                ))
            })
        });
        g.bench_function("point_call_one", |b| {
            b.iter(|| ready(black_box(&point).call_one(black_box("echo"), black_box(&PAYLOAD))))
        });
        g.finish();
    }
    c.final_summary();

    rt.block_on(host.stop());
    summary(began);
}

fn summary(began: SystemTime) {
    let Some(base) = common::median_ns(GROUP, "direct", began) else {
        return;
    };
    println!();
    println!("call_overhead: medians, overhead over the direct call (target: < {TARGET_NS} ns)");
    println!("  {:<18} {:>10} {:>10} {:>7}  target", "path", "median", "overhead", "ratio");
    println!("  {:<18} {:>10} {:>10} {:>7}", "direct", common::human(base), "-", "1.00x");
    for path in ["plugin_handle", "host_call_by_id", "point_call_one"] {
        let Some(m) = common::median_ns(GROUP, path, began) else {
            continue;
        };
        let overhead = m - base;
        println!(
            "  {:<18} {:>10} {:>10} {:>6.2}x  {}",
            path,
            common::human(m),
            format!("{overhead:+.1} ns"),
            m / base,
            if overhead < TARGET_NS { "met" } else { "MISSED" }
        );
    }
}
