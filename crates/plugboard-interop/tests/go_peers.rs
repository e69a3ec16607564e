//! The Go go-plugin peers (examples/go), built offline from Debian's Go packages and run
//! against each other: proof that they work, for the process runtime's interop tests and
//! benchmarks. Under CI=true a missing Go toolchain fails these tests; elsewhere they skip.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use plugboard_interop::go::{self, GoPeers, HostOptions};
use plugboard_sandbox::SandboxPolicy;

/// Builds the peers once per test binary; `None` (skip) only when Go is missing outside CI.
fn peers() -> Option<GoPeers> {
    static BUILT: OnceLock<Result<GoPeers, String>> = OnceLock::new();
    if plugboard_test_support::tool_missing("go", &format!("apt-get install {}", go::APT_PACKAGES))
    {
        return None;
    }
    let built = BUILT.get_or_init(|| go::build().map_err(|e| e.to_string()));
    Some(built.clone().unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn the_go_host_puts_and_gets_through_the_go_plugin() {
    let Some(peers) = peers() else { return };
    let plain = go::round_trip(
        &peers.kv_host,
        &peers.kv_plugin,
        &HostOptions::default(),
        "colour",
        "blue",
    )
    .unwrap();
    assert_eq!(plain.mode, "roundtrip");
    assert_eq!(
        (plain.key.as_str(), plain.value.as_str()),
        ("colour", "blue")
    );
    assert!(plain.found);
    assert_eq!(plain.protocol_version, go::KV_PROTOCOL_VERSION);
    assert!(!plain.auto_mtls);

    let mtls = HostOptions {
        auto_mtls: true,
        ..HostOptions::default()
    };
    let secure = go::round_trip(&peers.kv_host, &peers.kv_plugin, &mtls, "k", "v").unwrap();
    assert!(secure.auto_mtls && secure.found && secure.value == "v");
}

#[test]
fn a_wrong_cookie_is_refused_by_the_go_plugin() {
    let Some(peers) = peers() else { return };
    let wrong = HostOptions {
        cookie_value: "not-the-cookie".to_owned(),
        ..HostOptions::default()
    };
    let err = go::round_trip(&peers.kv_host, &peers.kv_plugin, &wrong, "k", "v").unwrap_err();
    assert!(matches!(err, go::GoError::Host { .. }), "{err}");
}

#[test]
fn the_go_host_benchmark_prints_its_json_line() {
    let Some(peers) = peers() else { return };
    let b = go::bench(
        &peers.kv_host,
        &peers.kv_plugin,
        &HostOptions::default(),
        300,
        2,
    )
    .unwrap();
    println!("{b:?}");
    assert_eq!((b.mode.as_str(), b.host.as_str()), ("bench", "go-plugin"));
    assert_eq!((b.spawns, b.calls), (2, 300));
    assert!(b.spawn_to_ready_us_median > 0.0);
    assert!(b.spawn_to_ready_us_p99 >= b.spawn_to_ready_us_median);
    assert!(b.call_us_median > 0.0 && b.call_us_p99 >= b.call_us_median);
    assert!(b.call_us_mean > 0.0);
    assert!(b.plugin.ends_with("kv-plugin"));
}

#[test]
fn the_go_plugin_serves_its_handshake_from_inside_the_sandbox() {
    let Some(peers) = peers() else { return };
    let sockets = tempfile::tempdir().unwrap();
    // As the process runtime does: prepared once per plugin, the socket directory added per start.
    let prepared = SandboxPolicy::for_plugin(&peers.kv_plugin_dir, &Default::default())
        .unwrap()
        .prepare()
        .unwrap()
        .with_read_write(sockets.path())
        .unwrap();
    let mut command = Command::new(&peers.kv_plugin);
    command
        .env_clear()
        .env(go::KV_COOKIE_KEY, go::KV_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        // go-plugin 1.0.1 makes its socket under TMPDIR.
        .env("TMPDIR", sockets.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    prepared.install(&mut command);
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    // The host can reach the plugin's socket inside the directory the sandbox allows.
    let socket_path = line.split('|').nth(3).unwrap_or_default().to_owned();
    let connected = UnixStream::connect(&socket_path);
    child.kill().unwrap();
    child.wait().unwrap();

    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?}");
    assert_eq!(fields[..3], ["1", "1", "unix"], "{line:?}");
    assert_eq!(fields[4..], ["grpc", ""], "{line:?}");
    let socket = std::path::Path::new(fields[3]);
    assert!(socket.starts_with(sockets.path()), "{line:?}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    if prepared.support().enforces_syscall_filter() {
        assert!(status.contains("Seccomp:\t2"), "{status}");
    }
    connected.unwrap_or_else(|e| panic!("connecting to {socket_path}: {e}"));
}

#[test]
fn the_plugin_manifest_is_a_valid_process_manifest() {
    let path = go::workspace_root().join("examples/go/kv/plugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest = plugboard_manifest::Manifest::from_yaml_str(&text, "plugin.yaml")
        .unwrap_or_else(|e| {
            panic!("{e}");
        });
    assert_eq!(manifest.runtime, plugboard_manifest::RuntimeKind::Process);
    assert_eq!(manifest.entry, "bin/kv-plugin");
    let process = manifest.process.expect("process settings");
    let handshake = process.handshake.expect("handshake");
    assert_eq!(handshake.cookie_key, go::KV_COOKIE_KEY);
    assert_eq!(handshake.cookie_value, go::KV_COOKIE_VALUE);
    assert_eq!(handshake.versions, [go::KV_PROTOCOL_VERSION]);
}

#[test]
fn the_go_sources_are_gofmt_clean() {
    if plugboard_test_support::tool_missing(
        "gofmt",
        &format!("apt-get install {}", go::APT_PACKAGES),
    ) {
        return;
    }
    let out = Command::new("gofmt")
        .arg("-l")
        .arg(go::workspace_root().join("examples/go"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "run gofmt -w examples/go"
    );
}

/// go-plugin 1.0.1 (Debian's) ignores PLUGIN_UNIX_SOCKET_DIR and makes its socket under TMPDIR:
/// a host that sandboxes it must point TMPDIR at the socket directory, or the plugin cannot
/// start.
#[test]
fn in_the_sandbox_the_go_plugin_needs_tmpdir_to_be_its_socket_directory() {
    let Some(peers) = peers() else { return };
    let sockets = tempfile::tempdir().unwrap();
    let prepared = SandboxPolicy::for_plugin(&peers.kv_plugin_dir, &Default::default())
        .unwrap()
        .prepare()
        .unwrap()
        .with_read_write(sockets.path())
        .unwrap();
    if !prepared.support().enforces_filesystem() {
        return;
    }
    let mut command = Command::new(&peers.kv_plugin);
    command
        .env_clear()
        .env(go::KV_COOKIE_KEY, go::KV_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .env("PLUGIN_UNIX_SOCKET_DIR", sockets.path());
    prepared.install(&mut command);
    let out = command.output().unwrap();
    // go-plugin 1.0.1 logs "plugin init error" and returns from Serve (exit status 0), with
    // no handshake line.
    assert!(out.stdout.is_empty(), "a handshake from /tmp: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plugin init error") && stderr.contains("permission denied"),
        "stderr: {stderr}"
    );
}
