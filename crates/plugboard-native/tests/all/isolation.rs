//! `native: { isolation: process }`: the same library, run by the shim program under the
//! process runtime. A segfault, `abort` or `exit` in the plugin ends only the shim, which is
//! restarted; the host API works through the broker; the switch is the one manifest line.

use std::fs;
use std::time::{Duration, Instant};

use plugboard_core::{CallError, Health, Host, PluginState, Runtime};
use plugboard_native::NativeRuntime;
use serde_json::{json, Value};

use crate::errors::descriptor;
use crate::plugins::{rust_plugins, shim, variant};
use crate::support::{base_utils_manifest, BaseUtils, Fixture};

const ISOLATED: &str = "native:\n  isolation: process\n";

/// A fixture whose runtime runs isolated plugins with the shim built from this workspace.
fn isolated_fixture() -> Fixture {
    let mut f = Fixture::new();
    f.runtime = f.runtime.clone().with_shim(shim(false));
    f
}

async fn pid(host: &Host, id: &str) -> u32 {
    let out = host.call(id, "pid", b"").await.unwrap();
    String::from_utf8(out).unwrap().parse().unwrap()
}

/// Calls until the plugin answers (its process is being restarted), for at most 20 s.
async fn eventually(host: &Host, id: &str, method: &str, payload: &[u8]) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match host.call(id, method, payload).await {
            Ok(out) => return out,
            Err(e) if Instant::now() > deadline => panic!("{id} did not come back: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_segfault_an_abort_or_an_exit_ends_only_the_shim_which_is_restarted() {
    let f = isolated_fixture();
    let lib = variant(f.dir.path(), "v.so", &[]);
    f.native(
        "variant",
        "1.0.0",
        &lib,
        &format!("{ISOLATED}process:\n  restart: {{ policy: on-failure, max: 10 }}\n"),
    );
    let host = f.start().await;
    assert_eq!(host.status("variant").unwrap().state, PluginState::Active);
    let mut last = pid(&host, "variant").await;
    assert_ne!(
        last,
        std::process::id(),
        "the library runs in another process"
    );

    for (method, how) in [
        ("segfault", "SIGSEGV"),
        ("abort", "SIGABRT"),
        ("exit", "exited with status 7"),
    ] {
        let e = host.call("variant", method, b"").await.unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(&e, CallError::Crashed { .. }) && text.contains(how),
            "{method}: {e:?}"
        );
        // The host is alive (this test runs in it); the plugin comes back in a new process.
        assert_eq!(eventually(&host, "variant", "echo", b"back").await, b"back");
        let now = pid(&host, "variant").await;
        assert_ne!(now, last, "{method}: a new process");
        last = now;
        let status = host.status("variant").unwrap();
        assert_eq!(status.state, PluginState::Active, "{method}");
        assert_eq!(status.health, Some(Health::Healthy), "{method}");
    }
    let log = host.read_log("variant").unwrap();
    assert!(log.contains("restarted the plugin's process"), "{log}");
    // `boot` ran again in each new process, with the host API through the broker.
    assert!(log.matches("variant 1.0.0 booted").count() >= 4, "{log}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_restart_limit_the_plugin_fails_and_the_host_goes_on() {
    let f = isolated_fixture();
    let lib = variant(f.dir.path(), "v.so", &[]);
    f.native(
        "variant",
        "1.0.0",
        &lib,
        &format!("{ISOLATED}process:\n  restart: {{ policy: never }}\n"),
    );
    let host = f.start().await;
    assert!(host.call("variant", "abort", b"").await.is_err());
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.status("variant").unwrap().state != PluginState::Failed {
        assert!(Instant::now() < deadline, "variant never failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reason = host.status("variant").unwrap().reason.unwrap();
    assert!(
        reason.contains("SIGABRT") && reason.contains("never"),
        "{reason}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_manifest_line_the_same_library_loads_in_process() {
    let f = isolated_fixture();
    let lib = variant(f.dir.path(), "v.so", &[]);
    f.native("variant", "1.0.0", &lib, "");
    let host = f.start().await;
    assert_eq!(pid(&host, "variant").await, std::process::id());
    assert_eq!(f.runtime.memory().loaded_libraries, 1);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_probe_works_isolated_and_a_panic_is_an_error_result() {
    let (probe, _) = rust_plugins(false);
    let f = isolated_fixture();
    f.native("probe", "1.0.0", &probe, ISOLATED);
    let host = f.start().await;
    assert_eq!(host.call("probe", "echo", b"hi").await.unwrap(), b"hi");
    assert_eq!(host.call("probe", "tally", b"").await.unwrap(), b"1");
    assert_eq!(host.call("probe", "big", b"").await.unwrap().len(), 40_000);
    let e = host
        .call("probe", "fail", b"as asked")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("as asked"), "{e}");
    let e = host.call("probe", "nothing", b"").await.unwrap_err();
    assert!(matches!(e, CallError::UnknownMethod { .. }), "{e:?}");

    // A panic is caught in the shim: the call fails with it, the process goes on, and the
    // plugin is unhealthy until it says otherwise.
    let e = host
        .call("probe", "panic", b"the flux capacitor")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("panicked: the flux capacitor"), "{e}");
    host.check_health().await;
    let status = host.status("probe").unwrap();
    assert_eq!(status.state, PluginState::Active);
    assert_eq!(status.health, Some(Health::Unhealthy));
    assert!(
        status
            .health_message
            .unwrap()
            .contains("the flux capacitor"),
        "the health message carries the panic"
    );
    // Same process: the tally goes on.
    assert_eq!(host.call("probe", "tally", b"").await.unwrap(), b"2");
    host.call("probe", "heal", b"").await.unwrap();
    host.check_health().await;
    assert_eq!(host.status("probe").unwrap().health, Some(Health::Healthy));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_api_reaches_an_isolated_plugin_through_the_broker() {
    let (_, example) = rust_plugins(false);
    let f = isolated_fixture();
    f.native(
        "word-count",
        "1.0.0",
        &example,
        &format!("{ISOLATED}permissions:\n  storage: true\noptional:\n  base-utils: '^1'\nconfig:\n  schema:\n    type: object\n    properties:\n      label: {{ type: string, default: words }}\n"),
    );
    f.config("plugins:\n  - id: word-count\n    config: { label: prose }\n");
    let with_base = |b: plugboard_core::HostBuilder| b.plugin(base_utils_manifest(), || BaseUtils);
    let count = async |host: &Host, method: &str, text: &str| -> Value {
        let out = host
            .call("word-count", method, text.as_bytes())
            .await
            .unwrap();
        serde_json::from_slice(&out).unwrap()
    };

    let host = f.start_with(with_base).await;
    assert_eq!(
        count(&host, "count", "one two three").await,
        json!({"words": 3, "total": 3})
    );
    // A call to a builtin plugin through the host API, then back into storage.
    assert_eq!(
        count(&host, "normalize-count", "  four \n five  ").await,
        json!({"words": 2, "total": 5})
    );
    let config = host.call("word-count", "config", b"").await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&config).unwrap(),
        json!({"label": "prose"})
    );
    host.stop().await;
    let log = host.read_log("word-count").unwrap();
    assert!(log.contains("prose: counted 3 words, 3 in all"), "{log}");
    drop(host);

    // Storage is the host's: it persists across hosts.
    let host = f.start_with(with_base).await;
    assert_eq!(
        count(&host, "count", "six").await,
        json!({"words": 1, "total": 6})
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_shim_is_reported_with_how_to_fix_it() {
    let mut f = Fixture::new();
    let missing = f.dir.path().join("no-such-shim");
    f.runtime = NativeRuntime::with_state_dir(f.dir.path().join("state")).with_shim(&missing);
    let lib = variant(f.dir.path(), "v.so", &[]);
    f.native("variant", "1.0.0", &lib, ISOLATED);
    let e = f
        .runtime
        .check(&descriptor(&f, "variant"))
        .unwrap_err()
        .to_string();
    for needle in [
        "plugin variant",
        "plugboard-native-shim",
        "PLUGBOARD_NATIVE_SHIM",
        "no-such-shim",
        "cargo build -p plugboard-native-shim",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
    let host = f.start().await;
    let status = host.status("variant").unwrap();
    // Refused by the runtime's check, before anything runs.
    assert!(
        matches!(status.state, PluginState::Failed | PluginState::Disabled),
        "{:?}",
        status.state
    );
    assert!(
        status.reason.unwrap().contains("PLUGBOARD_NATIVE_SHIM"),
        "the reason says how to fix it"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn integrity_is_checked_before_the_shim_is_started() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = Fixture::new();
    // A "shim" that leaves a mark when it runs.
    let fake = f.dir.path().join("fake-shim");
    fs::write(&fake, "#!/bin/sh\ntouch \"$0.ran\"\nexit 1\n").unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    f.runtime = NativeRuntime::with_state_dir(f.dir.path().join("state")).with_shim(&fake);
    let lib = variant(f.dir.path(), "v.so", &[]);
    let zeros = format!("{ISOLATED}integrity: sha256:{}\n", "0".repeat(64));
    f.native("variant", "1.0.0", &lib, &zeros);
    let host = f.start().await;
    let status = host.status("variant").unwrap();
    assert!(
        matches!(status.state, PluginState::Failed | PluginState::Disabled),
        "{:?}",
        status.state
    );
    let reason = status.reason.unwrap();
    assert!(reason.contains("does not match `integrity:`"), "{reason}");
    assert!(
        !f.dir.path().join("fake-shim.ran").exists(),
        "the shim was started"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_isolated_plugin_reloads_and_may_move_in_or_out_of_process() {
    let f = isolated_fixture();
    let v1 = variant(f.dir.path(), "v1.so", &[]);
    let v2 = variant(f.dir.path(), "v2.so", &["-DPB_VERSION=\"2.0.0\""]);
    let v3 = variant(f.dir.path(), "v3.so", &["-DPB_VERSION=\"3.0.0\""]);
    f.native("variant", "1.0.0", &v1, ISOLATED);
    let host = f.start().await;
    assert_eq!(
        host.call("variant", "version", b"").await.unwrap(),
        b"1.0.0"
    );
    let first = pid(&host, "variant").await;

    // A new version, still isolated: a new shim process.
    f.native("variant", "2.0.0", &v2, ISOLATED);
    host.rescan().await.unwrap();
    assert_eq!(
        host.call("variant", "version", b"").await.unwrap(),
        b"2.0.0"
    );
    let second = pid(&host, "variant").await;
    assert!(second != first && second != std::process::id());
    assert_eq!(host.status("variant").unwrap().state, PluginState::Active);

    // The operator removes the line: the next version runs in the host process.
    f.native("variant", "3.0.0", &v3, "");
    host.rescan().await.unwrap();
    assert_eq!(
        host.call("variant", "version", b"").await.unwrap(),
        b"3.0.0"
    );
    assert_eq!(pid(&host, "variant").await, std::process::id());
    host.stop().await;
}
