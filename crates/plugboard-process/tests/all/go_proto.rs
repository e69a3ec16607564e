//! A Go plugin on Plugboard's own proto (examples/go/notes: go-plugin serving
//! `plugboard.v1.Plugin`, built offline from Debian's Go packages by scripts/build-go) loaded by
//! Plugboard: called through the host, calling the host API back through go-plugin's broker
//! (log, configuration, storage, events, health), receiving events, stopped gracefully; plain
//! and sandboxed. Under CI=true a missing Go toolchain fails these tests; elsewhere they skip.

use std::sync::Arc;
use std::time::Duration;

use plugboard_core::{CallError, Health, PluginState};
use plugboard_interop::go;
use plugboard_process::ProcessRuntime;

use crate::go::peers;
use crate::support::{within, Fixture};

/// Installs the built notes plugin directory (its own plugin.yaml, its binary) as `go-notes`.
fn install_notes(f: &Fixture, peers: &go::GoPeers) {
    let dir = f.plugin_dir("go-notes");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(
        peers.notes_plugin_dir.join("plugin.yaml"),
        dir.join("plugin.yaml"),
    )
    .unwrap();
    std::fs::copy(&peers.notes_plugin, dir.join("bin/notes-plugin")).unwrap();
}

async fn call(host: &plugboard_core::Host, method: &str, payload: &str) -> String {
    let out = host
        .call("go-notes", method, payload.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{method}({payload}): {e}"));
    String::from_utf8(out).unwrap()
}

async fn notes_use_the_host_api(sandboxed: bool) {
    let Some(peers) = peers() else { return };
    assert_eq!(go::PB_COOKIE_KEY, plugboard_process::DEFAULT_COOKIE_KEY);
    assert_eq!(go::PB_COOKIE_VALUE, plugboard_process::DEFAULT_COOKIE_VALUE);
    let f = Fixture::new();
    install_notes(&f, &peers);
    f.config("plugins:\n  - id: go-notes\n    config: {owner: ada}\n");
    let runtime = if sandboxed {
        ProcessRuntime::new().with_os_sandbox()
    } else {
        ProcessRuntime::new()
    };
    let host = f.bare_builder().runtime(Arc::new(runtime)).build().unwrap();
    within(60, host.start()).await.unwrap();
    assert_eq!(
        host.state("go-notes"),
        Some(PluginState::Active),
        "{:?}",
        host.status("go-notes")
    );

    // Storage round trip through the broker, and the event it publishes on the way.
    let mut added = host.subscribe("notes.added");
    assert_eq!(
        call(&host, "add", r#"{"title":"shopping","text":"milk"}"#).await,
        r#"{"notes":1}"#
    );
    let event = within(10, added.recv()).await.expect("a notes.added event");
    assert_eq!(event.payload, br#"{"title":"shopping"}"#);
    assert_eq!(event.source.as_ref().map(|s| s.as_str()), Some("go-notes"));
    assert_eq!(call(&host, "get", r#""shopping""#).await, r#""milk""#);
    assert_eq!(
        call(&host, "add", r#"{"title":"books","text":"Dune"}"#).await,
        r#"{"notes":2}"#
    );
    assert_eq!(call(&host, "list", "").await, r#"["books","shopping"]"#);
    assert_eq!(call(&host, "remove", r#""shopping""#).await, "true");
    assert_eq!(call(&host, "remove", r#""shopping""#).await, "false");
    let missing = host
        .call("go-notes", "get", br#""shopping""#)
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("no note titled"), "{missing}");

    // The configuration, read through the host API: the operator's, with the schema's defaults.
    let config: serde_json::Value = serde_json::from_str(&call(&host, "config", "").await).unwrap();
    assert_eq!(config, serde_json::json!({"owner": "ada"}));

    match host.call("go-notes", "fly", b"").await.unwrap_err() {
        CallError::UnknownMethod { method, .. } => assert_eq!(method, "fly"),
        other => panic!("unexpected {other:?}"),
    }
    let bad = host.call("go-notes", "add", b"[]").await.unwrap_err();
    assert!(matches!(bad, CallError::Codec { .. }), "{bad:?}");

    // Events the manifest subscribes to reach it (OnEvent).
    host.publish("reminders", b"call Bob".to_vec());
    let mut seen = String::new();
    for _ in 0..100 {
        seen = call(&host, "events", "").await;
        if seen.contains("call Bob") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.contains(r#""topic":"reminders""#), "{seen}");

    // Health: healthy, then what it reports through the host API, and its own Health.
    within(10, host.check_health()).await;
    let status = host.status("go-notes").unwrap();
    assert_eq!(status.health, Some(Health::Healthy), "{status:?}");
    assert_eq!(
        call(&host, "degrade", r#""disk nearly full""#).await,
        "true"
    );
    let status = host.status("go-notes").unwrap();
    assert_eq!(status.health, Some(Health::Degraded), "{status:?}");
    assert_eq!(status.health_message.as_deref(), Some("disk nearly full"));
    within(10, host.check_health()).await;
    assert_eq!(
        host.status("go-notes").unwrap().health,
        Some(Health::Degraded)
    );

    within(30, host.stop()).await;
    let log = host.read_log("go-notes").unwrap();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"))
    };
    // Host-API records with their level and fields, and its hclog JSON stderr line parsed.
    let booted = line("notes booted through the host API");
    assert!(booted.contains("INFO"), "{booted}");
    assert!(
        booted.contains("owner=ada") && booted.contains("language=go"),
        "{booted}"
    );
    assert!(line("note added").contains("title=shopping"), "{log}");
    let hclog = line("booting");
    assert!(
        hclog.contains("INFO") && hclog.contains("host_api_broker_id=1"),
        "{hclog}"
    );
    assert!(log.contains("health: degraded (disk nearly full)"), "{log}");
    assert!(
        log.contains("stopped: its process exited with status 0 when asked to shut down"),
        "{log}"
    );
    assert!(!log.contains("SIGKILL"), "{log}");
    assert!(!log.contains("cannot call the host API"), "{log}");
    if sandboxed {
        assert!(!log.contains("the OS sandbox is off"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_notes_plugin_serves_plugboards_proto_and_uses_the_host_api() {
    notes_use_the_host_api(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_notes_plugin_reaches_the_host_api_from_inside_the_os_sandbox() {
    notes_use_the_host_api(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_the_manifest_does_not_ask_for_is_denied_to_the_go_plugin() {
    let Some(peers) = peers() else { return };
    let f = Fixture::new();
    install_notes(&f, &peers);
    let manifest = f.plugin_dir("go-notes").join("plugin.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("permissions:\n  storage: true\n", ""),
    )
    .unwrap();
    let host = f.start().await;
    let err = host
        .call("go-notes", "add", br#"{"title":"t","text":"x"}"#)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Denied(_)), "{err:?}");
    assert!(
        err.to_string().contains("permissions: { storage: true }"),
        "{err}"
    );
    within(30, host.stop()).await;
}

/// The pid of the process running `exe` (the plugin's own copy, unique to its fixture).
fn pid_running(exe: &std::path::Path) -> Option<u32> {
    let exe = exe.canonicalize().ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        (std::fs::read_link(e.path().join("exe")).ok()? == exe).then_some(pid)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_restarted_go_plugin_dials_the_host_api_again() {
    let Some(peers) = peers() else { return };
    let f = Fixture::new();
    install_notes(&f, &peers);
    let host = f.start().await;
    assert_eq!(
        call(&host, "add", r#"{"title":"kept","text":"in the host"}"#).await,
        r#"{"notes":1}"#
    );
    let exe = f.plugin_dir("go-notes").join("bin/notes-plugin");
    let first = pid_running(&exe).expect("the notes plugin's process");
    crate::support::kill9(first);

    // Back under the default restart policy (on-failure), booted again: the new process dials
    // the host API its new broker offers, and finds the storage the host kept.
    let mut listed = Err(String::new());
    for _ in 0..100 {
        listed = host
            .call("go-notes", "list", b"")
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| e.to_string());
        if listed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed.as_deref(), Ok(r#"["kept"]"#), "{listed:?}");
    assert_eq!(
        call(&host, "add", r#"{"title":"new","text":"after"}"#).await,
        r#"{"notes":2}"#
    );
    let second = pid_running(&exe).expect("the restarted process");
    assert_ne!(first, second);
    within(30, host.stop()).await;
}
