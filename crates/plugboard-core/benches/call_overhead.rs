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

    // Criterion measures one path after the other; on a shared machine the load can change in
    // between. Paired batches, alternating the baseline and each path, cancel slow drifts.
    let paired = if common::median_ns(GROUP, "direct", began).is_some() {
        let base = || {
            black_box(black_box(&direct).call(black_box("echo"), black_box(&PAYLOAD))).ok();
        };
        vec![
            (
                "plugin_handle",
                paired_overhead(base, || {
                    black_box(ready(black_box(&handle).call("echo", &PAYLOAD))).ok();
                }),
            ),
            (
                "host_call_by_id",
                paired_overhead(base, || {
                    black_box(ready(black_box(&host).call("echo", "echo", &PAYLOAD))).ok();
                }),
            ),
            (
                "point_call_one",
                paired_overhead(base, || {
                    black_box(ready(black_box(&point).call_one("echo", &PAYLOAD))).ok();
                }),
            ),
        ]
    } else {
        Vec::new()
    };

    rt.block_on(host.stop());
    summary(began, &paired);
}

/// The median, over 301 pairs of batches of 20,000 calls each, of the per-call difference
/// between `path` and `base`, in nanoseconds.
fn paired_overhead(base: impl Fn(), path: impl Fn()) -> f64 {
    const BATCH: u32 = 20_000;
    let time = |f: &dyn Fn()| {
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            f();
        }
        t.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH)
    };
    let mut diffs: Vec<f64> = (0..301)
        .map(|i| {
            // Alternate which goes first, so neither always runs on a warmer cache.
            if i % 2 == 0 {
                let b = time(&base);
                time(&path) - b
            } else {
                let p = time(&path);
                p - time(&base)
            }
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    diffs[diffs.len() / 2]
}

fn summary(began: SystemTime, paired: &[(&str, f64)]) {
    let Some(base) = common::median_ns(GROUP, "direct", began) else {
        return;
    };
    println!();
    println!("call_overhead: medians, overhead over the direct call (target: < {TARGET_NS} ns)");
    println!(
        "  {:<18} {:>10} {:>10} {:>7}  {:>8}  target",
        "path", "median", "overhead", "ratio", "paired"
    );
    println!(
        "  {:<18} {:>10} {:>10} {:>7}",
        "direct",
        common::human(base),
        "-",
        "1.00x"
    );
    for path in ["plugin_handle", "host_call_by_id", "point_call_one"] {
        let Some(m) = common::median_ns(GROUP, path, began) else {
            continue;
        };
        let overhead = m - base;
        let pair = paired.iter().find(|(p, _)| *p == path).map(|(_, d)| *d);
        let verdict = match pair {
            Some(d) if (overhead < TARGET_NS) != (d < TARGET_NS) => "borderline",
            _ if overhead < TARGET_NS => "met",
            _ => "MISSED",
        };
        println!(
            "  {:<18} {:>10} {:>10} {:>6.2}x  {:>8}  {verdict}",
            path,
            common::human(m),
            format!("{overhead:+.1} ns"),
            m / base,
            pair.map_or_else(|| "-".to_owned(), |d| format!("{d:+.1} ns")),
        );
    }
}
