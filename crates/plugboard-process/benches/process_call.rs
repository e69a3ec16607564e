//! Process plugins side by side, in one run: spawn-to-ready time and unary call latency
//! (median, p99) of a gRPC plugin (the pdk probe) and a stdio plugin (a Python script), against
//! the floor: a blocking Unix-socket ping-pong between two processes on this machine.
//!
//! `cargo build --release -p plugboard-process --example process_probe && cargo bench -p
//! plugboard-process --bench process_call`.
//! When the Go plugin and the Go go-plugin host are built (`scripts/build-go`, into
//! target/go/), the same measurements are made for them.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_core::Host;
use plugboard_process::ProcessRuntime;

const CALLS: usize = 3000;
const STARTS: usize = 15;

fn main() {
    if let Ok(path) = std::env::var("PINGPONG_SERVER") {
        return echo_server(Path::new(&path));
    }
    let probe = build_probe();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("process plugins, {CALLS} sequential tiny calls, {STARTS} starts (median / p99)");
    let floor = pingpong();
    report(
        "floor: Unix-socket ping-pong, 2 processes",
        None,
        &floor,
        None,
    );
    let (start, calls) = rt.block_on(measure(&probe, "grpc", ""));
    report(
        "plugboard, gRPC (pdk plugin, unix socket)",
        Some(&start),
        &calls,
        Some(&floor),
    );
    if python_available() {
        let (start, calls) = rt.block_on(measure(Path::new(""), "stdio", STDIO_ECHO));
        report(
            "plugboard, stdio (python3 script)",
            Some(&start),
            &calls,
            Some(&floor),
        );
    } else {
        println!("(python3 missing: stdio skipped)");
    }
}

const STDIO_ECHO: &str = "#!/usr/bin/env python3\nimport json, sys\nfor line in sys.stdin:\n    m = json.loads(line)\n    if m['type'] == 'hello':\n        print(json.dumps({'type': 'ready', 'protocol_version': 1}), flush=True)\n    elif m['type'] == 'call':\n        print(json.dumps({'type': 'result', 'id': m['id'], 'payload_b64': m.get('payload_b64', '')}), flush=True)\n    elif m['type'] == 'stop':\n        break\n";

fn python_available() -> bool {
    std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success())
}

/// The release probe: beside this benchmark when `cargo build --release --example
/// process_probe` built it, else built into a target directory of its own (the outer cargo
/// holds the lock on this one while the benchmark runs).
fn build_probe() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exe = std::env::current_exe().unwrap();
    let beside = exe
        .ancestors()
        .nth(2)
        .unwrap()
        .join("examples/process_probe");
    if beside.exists() {
        return beside;
    }
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "plugboard-process",
            "--example",
            "process_probe",
            "--target-dir",
        ])
        .arg(target.join("process-bench-plugins"))
        .status()
        .unwrap();
    assert!(status.success());
    target.join("process-bench-plugins/release/examples/process_probe")
}

/// Starts the plugin `STARTS` times (spawn to active) and calls it `CALLS` times.
async fn measure(exe: &Path, protocol: &str, script: &str) -> (Vec<Duration>, Vec<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugins/bench");
    std::fs::create_dir_all(plugin.join("bin")).unwrap();
    if script.is_empty() {
        std::os::unix::fs::symlink(exe, plugin.join("bin/plugin")).unwrap();
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(plugin.join("bin/plugin"), script).unwrap();
        std::fs::set_permissions(
            plugin.join("bin/plugin"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    std::fs::write(
        plugin.join("plugin.yaml"),
        format!("id: bench\nversion: 1.0.0\nruntime: process\nentry: bin/plugin\nprocess:\n  protocol: {protocol}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "directories:\n  external: [plugins]\nstate_dir: state\nlogging:\n  level: WARNING\n",
    )
    .unwrap();
    let build = || {
        Host::builder()
            .config_file(dir.path().join("config.yaml"))
            .unwrap()
            .runtime(Arc::new(ProcessRuntime::new()))
            .build()
            .unwrap()
    };
    let mut starts = Vec::new();
    for _ in 0..STARTS {
        let host = build();
        let t = Instant::now();
        host.start().await.unwrap();
        starts.push(t.elapsed());
        host.stop().await;
    }
    let host = build();
    host.start().await.unwrap();
    for _ in 0..200 {
        host.call("bench", "echo", b"x").await.unwrap();
    }
    let mut calls = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let out = host.call("bench", "echo", b"x").await.unwrap();
        calls.push(t.elapsed());
        assert_eq!(out, b"x");
    }
    host.stop().await;
    (starts, calls)
}

/// A blocking one-byte ping-pong with a child process over a Unix socket.
fn pingpong() -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pp.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("PINGPONG_SERVER", &path)
        .spawn()
        .unwrap();
    let (mut s, _) = listener.accept().unwrap();
    let mut b = [0u8; 1];
    let mut out = Vec::with_capacity(CALLS);
    for i in 0..(CALLS + 200) {
        let t = Instant::now();
        s.write_all(b"x").unwrap();
        s.read_exact(&mut b).unwrap();
        if i >= 200 {
            out.push(t.elapsed());
        }
    }
    drop(s);
    let _ = child.wait();
    out
}

fn echo_server(path: &Path) {
    let mut s = UnixStream::connect(path).unwrap();
    let mut b = [0u8; 1];
    while s.read_exact(&mut b).is_ok() {
        if s.write_all(&b).is_err() {
            return;
        }
    }
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn report(name: &str, start: Option<&[Duration]>, calls: &[Duration], floor: Option<&[Duration]>) {
    let (m, p) = (pct(calls, 0.5), pct(calls, 0.99));
    let start = start
        .map(|s| format!("start {:>8.2?} / {:>8.2?}", pct(s, 0.5), pct(s, 0.99)))
        .unwrap_or_else(|| " ".repeat(27));
    let ratio = floor
        .map(|f| {
            format!(
                "  = {:.1}x / {:.1}x the floor",
                m.as_secs_f64() / pct(f, 0.5).as_secs_f64(),
                p.as_secs_f64() / pct(f, 0.99).as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!("{name:<45} {start}  call {m:>8.2?} / {p:>8.2?}{ratio}");
}
