//! Process plugins side by side, in one run: spawn-to-ready time and unary call latency
//! (median, p99) of a gRPC plugin (the pdk probe) and a stdio plugin (a Python script), against
//! the floor: a blocking Unix-socket ping-pong between two processes on this machine.
//!
//! `cargo build --release -p plugboard-process --example process_probe && cargo bench -p
//! plugboard-process --bench process_call`.
//! Then the same Go go-plugin binary (examples/go/kv, built by `scripts/build-go` into
//! `${CARGO_TARGET_DIR:-target}/go/`) launched and called by Go's go-plugin host (`kv-host
//! -bench`) and by Plugboard (spawn-to-ready; unary `KV/Get` through a typed tonic client over
//! the plugin's connection), with the ratios Plugboard/Go, in plaintext and with go-plugin's
//! AutoMTLS on both hosts (`kv-host -mtls`, `process.auto_mtls: true`). Skipped, with a note,
//! without Go. `PROCESS_CALL_ONLY=go` runs only the Go side by side.

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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("PROCESS_CALL_ONLY").as_deref() == Ok("go") {
        go_side_by_side(&rt, false);
        go_side_by_side(&rt, true);
        return;
    }
    let probe = build_probe();
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
    go_side_by_side(&rt, false);
    go_side_by_side(&rt, true);
}

/// `plugboard.examples.kv.GetRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetRequest {
    #[prost(string, tag = "1")]
    key: String,
}

/// `plugboard.examples.kv.GetResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetResponse {
    #[prost(bytes = "vec", tag = "1")]
    value: Vec<u8>,
    #[prost(bool, tag = "2")]
    found: bool,
}

/// `plugboard.examples.kv.PutRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct PutRequest {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `plugboard.examples.kv.PutResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct PutResponse {}

async fn unary<Req, Resp>(channel: plugboard_process::Channel, path: &'static str, req: Req) -> Resp
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    grpc.unary(
        tonic::Request::new(req),
        tonic::codegen::http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
    .unwrap()
    .into_inner()
}

/// The Go KV plugin under the Go host and under Plugboard, with the ratios Plugboard/Go.
fn go_side_by_side(rt: &tokio::runtime::Runtime, auto_mtls: bool) {
    use plugboard_interop::go;
    if !go::go_installed() {
        println!(
            "(go missing: the Go side by side skipped; apt-get install {})",
            go::APT_PACKAGES
        );
        return;
    }
    let peers = go::build().unwrap_or_else(|e| panic!("{e}"));
    let g = go::bench(
        &peers.kv_host,
        &peers.kv_plugin,
        &go::HostOptions {
            auto_mtls,
            ..go::HostOptions::default()
        },
        CALLS,
        STARTS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (starts, calls) = rt.block_on(measure_go_kv(&peers.kv_plugin, auto_mtls));
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (s50, s99) = (us(pct(&starts, 0.5)), us(pct(&starts, 0.99)));
    let (c50, c99) = (us(pct(&calls, 0.5)), us(pct(&calls, 0.99)));
    println!();
    let mode = if auto_mtls {
        "with AutoMTLS on both hosts"
    } else {
        "plaintext"
    };
    println!("the same Go go-plugin binary (examples/go/kv), {mode}, {CALLS} unary KV/Get, {STARTS} starts; microseconds, median / p99");
    println!(
        "{:<45} start {:>9.0} / {:>9.0}  call {:>7.1} / {:>7.1}",
        "go-plugin host (kv-host -bench)",
        g.spawn_to_ready_us_median,
        g.spawn_to_ready_us_p99,
        g.call_us_median,
        g.call_us_p99
    );
    println!(
        "{:<45} start {s50:>9.0} / {s99:>9.0}  call {c50:>7.1} / {c99:>7.1}",
        "plugboard host (ProcessRuntime, tonic)"
    );
    println!(
        "{:<45} start {:>8.2}x / {:>8.2}x  call {:>6.2}x / {:>6.2}x   (target <= 0.80x)",
        "ratio plugboard / go",
        s50 / g.spawn_to_ready_us_median,
        s99 / g.spawn_to_ready_us_p99,
        c50 / g.call_us_median,
        c99 / g.call_us_p99
    );
}

/// Starts the Go KV plugin `STARTS` times through Plugboard (spawn, handshake, health check:
/// `Host::start`), then times `CALLS` unary `KV/Get` calls over its connection.
async fn measure_go_kv(exe: &Path, auto_mtls: bool) -> (Vec<Duration>, Vec<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugins/kv");
    std::fs::create_dir_all(plugin.join("bin")).unwrap();
    std::os::unix::fs::symlink(exe, plugin.join("bin/plugin")).unwrap();
    std::fs::write(
        plugin.join("plugin.yaml"),
        format!("id: kv\nversion: 1.0.0\nruntime: process\nentry: bin/plugin\nprocess:\n  auto_mtls: {auto_mtls}\n  handshake:\n    cookie_key: PLUGBOARD_KV_PLUGIN\n    cookie_value: b7e5d3a1-kv\n    versions: [1]\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "directories:\n  external: [plugins]\nstate_dir: state\nlogging:\n  level: WARNING\n",
    )
    .unwrap();
    let runtime = ProcessRuntime::new();
    let build = || {
        Host::builder()
            .config_file(dir.path().join("config.yaml"))
            .unwrap()
            .runtime(Arc::new(runtime.clone()))
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
    let channel = runtime
        .grpc_channel("kv")
        .expect("the KV plugin's connection");
    let put = PutRequest {
        key: "k".into(),
        value: b"v".to_vec(),
    };
    let _: PutResponse = unary(channel.clone(), "/plugboard.examples.kv.KV/Put", put).await;
    let get = || GetRequest { key: "k".into() };
    for _ in 0..200 {
        let _: GetResponse = unary(channel.clone(), "/plugboard.examples.kv.KV/Get", get()).await;
    }
    let mut calls = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let r: GetResponse = unary(channel.clone(), "/plugboard.examples.kv.KV/Get", get()).await;
        calls.push(t.elapsed());
        assert!(r.found && r.value == b"v");
    }
    host.stop().await;
    (starts, calls)
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
