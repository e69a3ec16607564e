//! The host table over the plugin's `HostApi`: log, config, storage, calls, permissions.

use serde_json::{json, Value};

use crate::plugins::rust_plugins;
use crate::support::{base_utils_manifest, BaseUtils, Fixture};

const WORD_COUNT: &str = "permissions:\n  storage: true\noptional:\n  base-utils: '^1'\nconfig:\n  schema:\n    type: object\n    properties:\n      label: { type: string, default: words }\n";

async fn count(host: &plugboard_core::Host, method: &str, text: &str) -> Value {
    let out = host
        .call("word-count", method, text.as_bytes())
        .await
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_word_counter_logs_stores_reads_its_config_and_calls_a_builtin() {
    let (_, example) = rust_plugins(false);
    let f = Fixture::new();
    f.native("word-count", "1.0.0", &example, WORD_COUNT);
    f.config("plugins:\n  - id: word-count\n    config: { label: prose }\n");
    let with_base = |b: plugboard_core::HostBuilder| b.plugin(base_utils_manifest(), || BaseUtils);

    let host = f.start_with(with_base).await;
    assert_eq!(
        count(&host, "count", "one two three").await,
        json!({"words": 3, "total": 3})
    );
    assert_eq!(
        count(&host, "count", "four five").await,
        json!({"words": 2, "total": 5})
    );
    // A call to another plugin through the host table, then back into storage.
    assert_eq!(
        count(&host, "normalize-count", "  six \n seven  ").await,
        json!({"words": 2, "total": 7})
    );
    // The configuration the plugin sees: the operator's value, validated.
    let config = host.call("word-count", "config", b"").await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&config).unwrap(),
        json!({"label": "prose"})
    );
    host.stop().await;

    let log = host.read_log("word-count").unwrap();
    assert!(log.contains("booted"), "{log}");
    assert!(log.contains("prose: counted 3 words, 3 in all"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(log.contains("retired"), "{log}");

    // Storage persists across hosts.
    drop(host);
    let host = f.start_with(with_base).await;
    assert_eq!(
        count(&host, "count", "eight").await,
        json!({"words": 1, "total": 8})
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_requests_are_denied_as_the_manifest_says() {
    let (_, example) = rust_plugins(false);
    let f = Fixture::new();
    // No storage permission, no dependency on base-utils.
    f.native("word-count", "1.0.0", &example, "");
    let host = f
        .start_with(|b| b.plugin(base_utils_manifest(), || BaseUtils))
        .await;
    let e = host
        .call("word-count", "count", b"a b")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("storage is not permitted"), "{e}");
    let e = host
        .call("word-count", "normalize-count", b"a b")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("may not call base-utils"), "{e}");
    host.stop().await;
}
