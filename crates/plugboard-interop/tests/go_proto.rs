//! Plugboard's own proto (`plugboard.v1.Plugin` and the host API) between Go and Rust peers,
//! with no Plugboard host in between: `pb-host`, a go-plugin host written with
//! `plugin.NewClient` (examples/go/pbhost), loads a Rust plugin served by plugboard-pdk
//! (`examples/pdk_peer.rs`) and the Go notes plugin (examples/go/notes), calls them, serves
//! them the host API on go-plugin's broker (or none), checks their health and shuts them down.
//! Under CI=true a missing Go toolchain fails these tests; elsewhere they skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use plugboard_interop::go::{self, GoPeers, PbHostOptions, PbHostReport};

/// Builds the Go peers once per test binary; `None` (skip) only when Go is missing outside CI.
fn peers() -> Option<GoPeers> {
    static BUILT: OnceLock<Result<GoPeers, String>> = OnceLock::new();
    if plugboard_test_support::tool_missing("go", &format!("apt-get install {}", go::APT_PACKAGES))
    {
        return None;
    }
    let built = BUILT.get_or_init(|| go::build().map_err(|e| e.to_string()));
    Some(built.clone().unwrap_or_else(|e| panic!("{e}")))
}

/// The Rust plugin (`examples/pdk_peer.rs`). `cargo test` builds examples beside the test
/// binary; when only this test target was built, it is built here, into a target directory of
/// its own so that the outer cargo's lock is never waited for.
fn pdk_peer() -> PathBuf {
    static PEER: OnceLock<PathBuf> = OnceLock::new();
    PEER.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/go_proto-<hash>
        let profile_dir = exe.ancestors().nth(2).expect("a profile directory");
        let beside = profile_dir.join("examples").join("pdk_peer");
        if beside.exists() {
            return beside;
        }
        let target = profile_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| go::workspace_root().join("target"))
            .join("interop-test-plugins");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .current_dir(go::workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "plugboard-interop",
                "--example",
                "pdk_peer",
                "--target-dir",
            ])
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the pdk peer plugin failed");
        target.join("debug/examples/pdk_peer")
    })
    .clone()
}

fn call<'a>(report: &'a PbHostReport, method: &str) -> &'a go::PbCall {
    report
        .calls
        .iter()
        .find(|c| c.method == method)
        .unwrap_or_else(|| panic!("no call of {method} in {report:?}"))
}

#[test]
fn the_go_host_loads_the_rust_pdk_plugin_and_serves_it_the_host_api() {
    let Some(peers) = peers() else { return };
    let options = PbHostOptions {
        id: "rusty".to_owned(),
        config: r#"{"colour":"blue"}"#.to_owned(),
        ..PbHostOptions::default()
    }
    .event("reminders", "buy milk")
    .call("echo", "hi")
    .call("count", "")
    .call("count", "")
    .call("config", "")
    .call("publish", "hello")
    .call("log", "careful")
    .call("events", "")
    .call("nope", "");
    let r = go::pb_host(&peers.pb_host, &pdk_peer(), &options).unwrap();

    assert_eq!(r.protocol_version, 1);
    assert_eq!(r.grpc_health, "SERVING");
    assert_ne!(r.host_api_broker_id, 0, "{r:?}");
    let results: Vec<(&str, bool, &str)> = r
        .calls
        .iter()
        .map(|c| (c.method.as_str(), c.ok, c.result.as_str()))
        .collect();
    assert_eq!(
        results[..6],
        [
            ("echo", true, "hi"),
            ("count", true, "1"),
            ("count", true, "2"),
            ("config", true, r#"{"colour":"blue"}"#),
            ("publish", true, ""),
            ("log", true, ""),
        ],
        "{r:?}"
    );
    // The event pb-host delivered with OnEvent reached the plugin.
    let events: serde_json::Value = serde_json::from_str(&call(&r, "events").result).unwrap();
    assert_eq!(
        events,
        serde_json::json!([{"topic": "reminders", "payload": "buy milk"}])
    );
    let nope = call(&r, "nope");
    assert!(!nope.ok);
    assert_eq!(nope.code, "UNKNOWN_METHOD");
    assert!(nope.error.contains("echo"), "{nope:?}");

    // What the Rust plugin did through the Go host's host API, over go-plugin's broker.
    let api = &r.host_api;
    assert_eq!(api.config_reads, 1);
    assert_eq!(api.storage.get("count").map(String::as_str), Some("2"));
    assert_eq!(
        api.events,
        [go::PbEvent {
            topic: "peer.events".to_owned(),
            payload: "hello".to_owned()
        }]
    );
    let logs: Vec<(&str, &str)> = api
        .logs
        .iter()
        .map(|l| (l.level.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(
        logs,
        [
            ("INFO", r#"pdk peer booted with {"colour":"blue"}"#),
            ("WARN", "careful")
        ]
    );

    assert_eq!(r.health.status, "HEALTHY", "{r:?}");
    assert_eq!(r.health.message, "serving, with the host API");
    // Shut down through GRPCController.Shutdown: it exited by itself, with status 0.
    assert!(r.graceful, "{r:?}");
    assert_eq!(r.exit_code, 0);
}

#[test]
fn the_go_host_with_auto_mtls_loads_the_rust_pdk_plugin_and_serves_it_the_host_api() {
    let Some(peers) = peers() else { return };
    // go-plugin's AutoMTLS: the host's P-521 client certificate in PLUGIN_CLIENT_CERT, the
    // plugin's certificate in the handshake line, TLS on the connection and on the broker's.
    let options = PbHostOptions {
        id: "rusty".to_owned(),
        config: r#"{"colour":"green"}"#.to_owned(),
        auto_mtls: true,
        ..PbHostOptions::default()
    }
    .call("echo", "over tls")
    .call("count", "")
    .call("count", "")
    .call("config", "");
    let r = go::pb_host(&peers.pb_host, &pdk_peer(), &options).unwrap();
    assert!(r.auto_mtls, "{r:?}");
    assert_eq!(r.grpc_health, "SERVING");
    let results: Vec<(&str, bool, &str)> = r
        .calls
        .iter()
        .map(|c| (c.method.as_str(), c.ok, c.result.as_str()))
        .collect();
    assert_eq!(
        results,
        [
            ("echo", true, "over tls"),
            ("count", true, "1"),
            ("count", true, "2"),
            ("config", true, r#"{"colour":"green"}"#),
        ],
        "{r:?}"
    );
    // The Rust plugin dialled the Go host's broker connection with TLS, trusting the host's
    // P-521 certificate.
    assert_eq!(
        r.host_api.storage.get("count").map(String::as_str),
        Some("2")
    );
    assert_eq!(r.health.status, "HEALTHY", "{r:?}");
    assert_eq!(r.health.message, "serving, with the host API");
    assert!(r.graceful, "{r:?}");
}

#[test]
fn without_a_host_api_the_rust_pdk_plugin_serves_and_says_what_is_missing() {
    let Some(peers) = peers() else { return };
    let options = PbHostOptions {
        host_api: false,
        ..PbHostOptions::default()
    }
    .call("echo", "still here")
    .call("count", "")
    .call("config", "");
    let r = go::pb_host(&peers.pb_host, &pdk_peer(), &options).unwrap();
    assert_eq!(r.host_api_broker_id, 0);
    let echo = call(&r, "echo");
    assert!(echo.ok && echo.result == "still here", "{echo:?}");
    for method in ["count", "config"] {
        let c = call(&r, method);
        assert!(!c.ok, "{c:?}");
        assert_eq!(c.code, "FAILED", "{c:?}");
        assert!(c.error.contains("offered no host API"), "{c:?}");
    }
    assert_eq!(r.health.status, "DEGRADED", "{r:?}");
    assert_eq!(r.health.message, "serving, without a host API");
    assert!(r.host_api.logs.is_empty() && r.host_api.storage.is_empty());
    assert!(r.graceful, "{r:?}");
}

#[test]
fn the_go_host_refuses_a_rust_plugin_with_another_cookie() {
    let Some(peers) = peers() else { return };
    let options = PbHostOptions {
        cookie_value: "not-the-cookie".to_owned(),
        ..PbHostOptions::default()
    }
    .call("echo", "hi");
    let err = go::pb_host(&peers.pb_host, &pdk_peer(), &options).unwrap_err();
    match &err {
        go::GoError::Host { stderr, .. } => {
            assert!(stderr.contains("starting"), "{stderr}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn the_go_host_loads_the_go_notes_plugin_on_plugboards_proto() {
    let Some(peers) = peers() else { return };
    let options = PbHostOptions {
        config: r#"{"owner":"ada"}"#.to_owned(),
        ..PbHostOptions::default()
    }
    .event("reminders", "call Bob")
    .call("add", r#"{"title":"shopping","text":"milk"}"#)
    .call("get", r#""shopping""#)
    .call("list", "")
    .call("config", "")
    .call("degrade", r#""disk nearly full""#)
    .call("events", "")
    .call("remove", r#""shopping""#)
    .call("get", r#""shopping""#);
    let r = go::pb_host(&peers.pb_host, &peers.notes_plugin, &options).unwrap();
    assert_eq!(r.calls[0].result, r#"{"notes":1}"#, "{r:?}");
    assert_eq!(r.calls[1].result, r#""milk""#, "{r:?}");
    assert_eq!(r.calls[2].result, r#"["shopping"]"#, "{r:?}");
    assert_eq!(r.calls[3].result, r#"{"owner":"ada"}"#, "{r:?}");
    assert!(r.calls[5].result.contains("call Bob"), "{r:?}");
    assert_eq!(r.calls[6].result, "true", "{r:?}");
    assert!(!r.calls[7].ok && r.calls[7].error.contains("no note titled"));
    assert_eq!(r.host_api.events[0].topic, "notes.added");
    assert_eq!(
        r.host_api.reported_health[0],
        go::PbHealth {
            status: "DEGRADED".to_owned(),
            message: "disk nearly full".to_owned()
        }
    );
    assert_eq!(r.health.status, "DEGRADED");
    assert_eq!(r.host_api.logs[0].fields["owner"], "ada");
    assert!(r.host_api.storage.is_empty(), "{r:?}");
    assert!(r.graceful, "{r:?}");
}

#[test]
fn the_notes_manifest_is_a_valid_process_manifest() {
    let path = go::workspace_root().join("examples/go/notes/plugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest = plugboard_manifest::Manifest::from_yaml_str(&text, "plugin.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest.runtime, plugboard_manifest::RuntimeKind::Process);
    assert_eq!(manifest.entry, "bin/notes-plugin");
    assert_eq!(manifest.subscribes, ["reminders"]);
    let handshake = manifest
        .process
        .expect("process settings")
        .handshake
        .expect("handshake");
    assert_eq!(handshake.cookie_key, go::PB_COOKIE_KEY);
    assert_eq!(handshake.cookie_value, go::PB_COOKIE_VALUE);
    assert_eq!(handshake.versions, [1]);
}
