//! Components of the plugboard:plugin world: lifecycle, calls, every host-API import,
//! events, a call into a builtin plugin.

use std::time::Duration;

use plugboard_core::{CallError, Health, PluginState};

use crate::support::{base_utils_manifest, component, BaseUtils, Fixture};

#[tokio::test(flavor = "multi_thread")]
async fn a_component_runs_its_lifecycle_and_serves_calls() {
    let f = Fixture::new();
    f.wasm("comp", &component(), "");
    let host = f.start().await;
    assert_eq!(host.state("comp"), Some(PluginState::Active));
    assert_eq!(
        host.call("comp", "echo", b"bytes in, bytes out")
            .await
            .unwrap(),
        b"bytes in, bytes out"
    );
    let big = vec![7u8; 65_536];
    assert_eq!(host.call("comp", "echo", &big).await.unwrap(), big);
    assert_eq!(
        host.call("comp", "fail", b"").await.unwrap_err(),
        CallError::plugin("comp", "boom")
    );
    assert!(matches!(
        host.call("comp", "nope", b"").await.unwrap_err(),
        CallError::UnknownMethod { ref method, .. } if method == "nope"
    ));
    host.stop().await;
    assert!(matches!(
        host.state("comp"),
        Some(PluginState::Stopped | PluginState::Unloaded)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_uses_every_host_api_import() {
    let f = Fixture::new();
    f.wasm(
        "comp",
        &component(),
        "permissions: { storage: true }\nrequires:\n  base-utils: '^1'\nsubscribes: [app.ping]\n",
    );
    f.config("plugins:\n  - id: comp\n    config: { colour: green }\n");
    let host = f
        .start_with(|b| b.plugin(base_utils_manifest(), BaseUtils::default))
        .await;
    let config: serde_json::Value =
        serde_json::from_slice(&host.call("comp", "config", b"").await.unwrap()).unwrap();
    assert_eq!(config["colour"], "green");

    host.call("comp", "log", b"a line from the component")
        .await
        .unwrap();
    assert!(host
        .read_log("comp")
        .unwrap()
        .contains("a line from the component"));

    assert_eq!(host.call("comp", "store", b"kept").await.unwrap(), b"kept");

    let mut out = host.subscribe("wasm.out");
    host.call("comp", "publish", b"news").await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), out.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.payload, b"news");

    assert_eq!(
        host.call("comp", "normalize", b" x   y ").await.unwrap(),
        b"x y"
    );

    host.call("comp", "health", b"").await.unwrap();
    assert_eq!(host.status("comp").unwrap().health, Some(Health::Degraded));

    let mut seen = host.subscribe("wasm.seen");
    host.publish("app.ping", b"ping!".to_vec());
    let e = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.payload, b"ping!");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_api_refusal_reaches_the_component_as_an_error() {
    let f = Fixture::new();
    f.wasm("comp", &component(), "");
    let host = f.start().await;
    match host.call("comp", "store", b"v").await.unwrap_err() {
        CallError::Plugin { message, .. } => {
            assert!(message.contains("storage is not permitted"), "{message}")
        }
        other => panic!("{other}"),
    }
    match host.call("comp", "normalize", b"v").await.unwrap_err() {
        CallError::Plugin { message, .. } => {
            assert!(message.contains("declare it under `requires`"), "{message}")
        }
        other => panic!("{other}"),
    }
    host.stop().await;
}
