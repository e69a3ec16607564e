//! What a call to a native plugin costs under `native: { isolation: process }`, against the
//! process runtime's own figure for the same kind of call.
//!
//! One host, two plugins, each echoing a 16-byte payload through `Host::call`:
//! - `isolated`: the native probe (`tests/probe`, release) in `plugboard-native-shim`
//!   (release), under the process runtime: gRPC to the shim, then the C call on a blocking
//!   thread;
//! - `process`: the process runtime's own probe (`plugboard-process`'s `process_probe`
//!   example, served by `plugboard-pdk`, release): gRPC to the plugin, answered on the
//!   runtime's worker.
//!
//! (The same probe in process is `native_call`'s figure: tens of nanoseconds.)
//!
//! Calls are sequential; the paths alternate in rounds of 100 calls so that drift on a shared
//! machine falls on all of them. Prints median and p99 per path and the ratio isolated/process.
//!
//! `cargo bench -p plugboard-native --bench isolated_call`

#[path = "../tests/all/plugins.rs"]
mod plugins;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_core::Host;
use plugboard_native::NativeRuntime;
use plugboard_process::ProcessRuntime;

const PAYLOAD: [u8; 16] = *b"0123456789abcdef";
const ROUNDS: usize = 40;
const PER_ROUND: usize = 100;

fn install(root: &Path, id: &str, runtime: &str, file: &Path, entry: &str, extra: &str) {
    let dir = root.join("plugins").join(id);
    std::fs::create_dir_all(&dir).expect("a plugin directory");
    std::fs::copy(file, dir.join(entry)).expect("the plugin file");
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("id: {id}\nversion: 1.0.0\nruntime: {runtime}\nentry: {entry}\n{extra}"),
    )
    .expect("a manifest");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let (probe, _) = plugins::rust_plugins(true);
    let shim = plugins::shim(true);
    let process_probe = plugins::process_probe(true);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    // The probe's descriptor says `probe`: its manifest must too.
    install(
        root,
        "probe",
        "native",
        &probe,
        "libprobe.so",
        "native:\n  isolation: process\n",
    );
    install(root, "process", "process", &process_probe, "probe", "");
    std::fs::write(
        root.join("config.yaml"),
        "directories:\n  external: [plugins]\nstate_dir: state\n",
    )
    .expect("a config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let process = ProcessRuntime::default();
    let native = NativeRuntime::with_state_dir(root.join("state"))
        .with_shim(&shim)
        .with_process_runtime(process.clone());
    let host = Host::builder()
        .config_file(root.join("config.yaml"))
        .expect("the config")
        .runtime(Arc::new(native))
        .runtime(Arc::new(process))
        .build()
        .expect("a host");
    rt.block_on(async {
        host.start().await.expect("the host starts");
        let paths = [("isolated", "probe"), ("process", "process")];
        for (name, id) in paths {
            let state = host.status(id).map(|s| s.state);
            assert_eq!(
                host.call(id, "echo", &PAYLOAD).await.ok().as_deref(),
                Some(&PAYLOAD[..]),
                "{name} answers ({state:?})"
            );
            for _ in 0..200 {
                host.call(id, "echo", &PAYLOAD).await.expect("a warm-up call");
            }
        }
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); paths.len()];
        for round in 0..ROUNDS {
            for k in 0..paths.len() {
                // Rotate the order every round.
                let i = (k + round) % paths.len();
                let id = paths[i].1;
                for _ in 0..PER_ROUND {
                    let t = Instant::now();
                    let out = host.call(id, "echo", &PAYLOAD).await;
                    times[i].push(t.elapsed());
                    assert!(out.is_ok());
                }
            }
        }
        println!(
            "isolated_call: {} sequential 16-byte echo calls per path through Host::call (median / p99)",
            ROUNDS * PER_ROUND
        );
        let mut medians = Vec::new();
        for (i, (name, _)) in paths.iter().enumerate() {
            let v = &mut times[i];
            v.sort();
            let (m, p) = (percentile(v, 0.5), percentile(v, 0.99));
            medians.push((m, p));
            println!("  {name:<11} {:9.1} µs / {:9.1} µs", micros(m), micros(p));
        }
        let (iso, proc_) = (medians[0], medians[1]);
        println!(
            "  isolated / process: {:.2}x median, {:.2}x p99",
            micros(iso.0) / micros(proc_.0),
            micros(iso.1) / micros(proc_.1)
        );
        host.stop().await;
    });
}
