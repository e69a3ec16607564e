//! Extism-ABI plugins: lifecycle, calls, each kernel function, each host function, events, a
//! call into a builtin plugin, concurrent calls.

use std::time::Duration;

use plugboard_core::{CallError, Health, PluginState};

use crate::support::{base_utils_manifest, BaseUtils, Fixture};

fn u64_reply(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("an 8-byte reply"))
}

#[tokio::test(flavor = "multi_thread")]
async fn kernel_functions_serve_input_output_config_vars_logs_and_errors() {
    let f = Fixture::new();
    f.extism("vowels", "kernel", "");
    f.config("plugins:\n  - id: vowels\n    config: { greeting: 'Hi, ' }\n");
    let host = f.start().await;
    assert_eq!(host.state("vowels"), Some(PluginState::Active));

    assert_eq!(
        host.call("vowels", "echo", b"hello world, 17b")
            .await
            .unwrap(),
        b"hello world, 17b"
    );
    let big: Vec<u8> = (0..65_536u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(host.call("vowels", "echo", &big).await.unwrap(), big);
    assert_eq!(host.call("vowels", "echo", b"").await.unwrap(), b"");
    assert_eq!(
        u64_reply(
            &host
                .call("vowels", "count_vowels", b"Hello, World")
                .await
                .unwrap()
        ),
        3
    );
    assert_eq!(
        host.call("vowels", "greet", b"Ada").await.unwrap(),
        b"Hi, Ada"
    );
    let first = u64_reply(&host.call("vowels", "counter", b"").await.unwrap());
    let second = u64_reply(&host.call("vowels", "counter", b"").await.unwrap());
    assert_eq!((first, second), (1, 2), "variables outlive calls");

    let e = host.call("vowels", "fail", b"").await.unwrap_err();
    assert_eq!(e, CallError::plugin("vowels", "boom: this call fails"));
    match host.call("vowels", "nope", b"").await.unwrap_err() {
        CallError::UnknownMethod { known, .. } => {
            assert!(
                known.contains(&"echo".to_owned()) && known.contains(&"greet".to_owned()),
                "{known:?}"
            );
        }
        other => panic!("{other}"),
    }
    let log = host.read_log("vowels").unwrap();
    assert!(log.contains("hello from the guest log"), "{log}");
    host.stop().await;
    assert!(matches!(
        host.state("vowels"),
        Some(PluginState::Stopped | PluginState::Unloaded)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn host_functions_reach_storage_config_events_health_and_a_builtin_plugin() {
    let f = Fixture::new();
    f.extism(
        "api",
        "host_api",
        "permissions: { storage: true }\nrequires:\n  base-utils: '^1'\n",
    );
    f.config("plugins:\n  - id: api\n    config: { colour: blue }\n");
    let host = f
        .start_with(|b| b.plugin(base_utils_manifest(), BaseUtils::default))
        .await;
    assert_eq!(
        host.call("api", "store", b"value-1").await.unwrap(),
        b"value-1"
    );
    assert_eq!(host.call("api", "load", b"").await.unwrap(), b"value-1");
    assert_eq!(
        host.call("api", "delete", b"").await.unwrap(),
        b"",
        "deleted keys read as nothing"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&host.call("api", "config", b"").await.unwrap()).unwrap();
    assert_eq!(config["colour"], "blue");

    let mut sub = host.subscribe("wasm.out");
    host.call("api", "publish", b"news").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (event.topic.as_str(), event.payload.as_slice()),
        ("wasm.out", &b"news"[..])
    );
    assert_eq!(event.source.as_ref().map(|s| s.as_str()), Some("api"));

    assert_eq!(
        host.call("api", "normalize", b"  a   wasm  plugin ")
            .await
            .unwrap(),
        b"a wasm plugin",
        "a wasm plugin calls a builtin plugin through the host API"
    );

    host.call("api", "health", b"").await.unwrap();
    let status = host.status("api").unwrap();
    assert_eq!(status.health, Some(Health::Degraded));
    assert_eq!(status.health_message.as_deref(), Some("tired"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_on_subscribed_topics_reach_on_event() {
    let f = Fixture::new();
    f.extism("api", "host_api", "subscribes: [app.ping]\n");
    let host = f.start().await;
    let mut seen = host.subscribe("wasm.seen");
    host.publish("app.ping", b"x1".to_vec());
    let event = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.payload, b"app.ping\0x1");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_without_the_permission_is_denied_and_logged() {
    let f = Fixture::new();
    f.extism("api", "host_api", "");
    let host = f.start().await;
    let e = host.call("api", "store", b"v").await.unwrap_err();
    assert!(
        matches!(e, CallError::Denied(ref m) if m.contains("permissions: { storage: true }")),
        "{e}"
    );
    assert!(host
        .read_log("api")
        .unwrap()
        .contains("storage is not permitted"));
    assert!(
        host.call("api", "config", b"").await.is_ok(),
        "the plugin still works"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_are_served_by_a_pool_of_instances() {
    let f = Fixture::new();
    f.extism("vowels", "kernel", "");
    let host = std::sync::Arc::new(f.start().await);
    let mut tasks = Vec::new();
    for t in 0..8u8 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u8 {
                let payload = vec![t, i, t ^ i];
                assert_eq!(
                    host.call("vowels", "echo", &payload).await.unwrap(),
                    payload
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    host.stop().await;
}
