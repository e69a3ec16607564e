//! A panicking plugin: the host survives, the call says panic and the message, the plugin is
//! marked unhealthy, and later calls still work.

use plugboard_core::{CallError, Health, PluginState};

use crate::plugins::rust_plugins;
use crate::support::Fixture;

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_a_call_fails_the_call_and_marks_the_plugin_unhealthy() {
    let (probe, _) = rust_plugins(false);
    let f = Fixture::new();
    f.native("probe", "1.0.0", &probe, "");
    let host = f.start().await;

    let e = host
        .call("probe", "panic", b"the flux capacitor")
        .await
        .unwrap_err();
    match &e {
        CallError::Crashed {
            plugin,
            method,
            message,
        } => {
            assert_eq!((plugin.as_str(), method.as_str()), ("probe", "panic"));
            // What the plugin wrote before it panicked is discarded.
            assert_eq!(message, "panicked: the flux capacitor");
        }
        other => panic!("expected Crashed, got {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "plugin probe crashed during \"panic\": panicked: the flux capacitor"
    );

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
    host.check_health().await;
    assert_eq!(
        host.status("probe").unwrap().health,
        Some(Health::Unhealthy)
    );

    // The host, and the plugin, go on.
    assert_eq!(
        host.call("probe", "echo", b"still here").await.unwrap(),
        b"still here"
    );
    let log = host.read_log("probe").unwrap();
    assert!(log.contains("panicked during call \"panic\""), "{log}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_boot_fails_the_plugin_with_the_message() {
    let (probe, _) = rust_plugins(false);
    let f = Fixture::new();
    f.native("probe", "1.0.0", &probe, "");
    f.config("plugins:\n  - id: probe\n    config: { boot-panic: true }\n");
    let host = f.start().await;
    let status = host.status("probe").unwrap();
    assert_eq!(status.state, PluginState::Failed);
    let reason = status.reason.unwrap();
    assert!(
        reason.contains("panicked: told to panic in boot"),
        "{reason}"
    );
    host.stop().await;
}
