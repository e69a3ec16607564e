//! A Python plugin on grpcio, served with `sdk/python`: loaded over go-plugin's protocol,
//! called, calling the host API through the broker, health-checked and stopped.

use plugboard_core::{Health, PluginState};

use crate::support::{within, workspace, Fixture};

/// Whether python3 with grpcio and grpcio-health-checking is missing (a failure under CI).
fn grpcio_missing() -> bool {
    if plugboard_test_support::tool_missing("python3", "apt-get install python3") {
        return true;
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", "import grpc, grpc_health"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return false;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "python3 lacks grpcio; `pip install grpcio grpcio-health-checking` (scripts/test does)"
    );
    eprintln!("skipping: python3 lacks grpcio (pip install grpcio grpcio-health-checking)");
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_grpcio_plugin_is_loaded_and_uses_the_host_api() {
    if grpcio_missing() {
        return;
    }
    let f = Fixture::new();
    let sdk = workspace().join("sdk/python").canonicalize().unwrap();
    f.install(
        "greeter",
        &sdk.join("examples/greeter.py"),
        &format!("  env: {{PYTHONPATH: '{}'}}\n", sdk.display()),
        "permissions:\n  storage: true\nconfig:\n  schema:\n    type: object\n",
    );
    f.config("plugins:\n  - id: greeter\n    config: {greeting: howdy}\n");
    let host = f.start().await;
    assert_eq!(
        host.state("greeter"),
        Some(PluginState::Active),
        "{:?}",
        host.status("greeter")
    );
    assert_eq!(
        host.call("greeter", "greet", br#""Ada""#).await.unwrap(),
        br#""howdy, Ada""#
    );
    assert_eq!(host.call("greeter", "count", b"").await.unwrap(), b"1");
    assert_eq!(host.call("greeter", "count", b"").await.unwrap(), b"2");
    let err = host.call("greeter", "wave", b"").await.unwrap_err();
    assert!(err.to_string().contains("wave"), "{err}");
    host.check_health().await;
    let status = host.status("greeter").unwrap();
    assert_eq!(status.health, Some(Health::Healthy), "{status:?}");
    within(30, host.stop()).await;
    let log = host.read_log("greeter").unwrap();
    assert!(log.contains("greeter booted"), "{log}");
}
