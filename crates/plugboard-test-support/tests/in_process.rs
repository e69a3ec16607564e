//! The probe and the test host, in-process, as a plugin author would use them.

use std::time::{Duration, Instant};

use plugboard::{BuiltinPlugin, CallError, PluginState};
use plugboard_test_support::{ManifestBuilder as M, PluginTree, TestHost};
use serde_json::{json, Value};

#[test]
fn hooks_run_in_dependency_order_and_are_journaled() {
    let tree = PluginTree::new()
        .external(M::builtin("b", "1.0.0").requires("a", "^1"))
        .bundled(M::builtin("a", "1.0.0"))
        .probe("a", json!({}))
        .probe("b", json!({}));
    let host = TestHost::start(&tree).unwrap();
    assert_eq!(host.state("a"), Some(PluginState::Active));
    assert_eq!(host.state("b"), Some(PluginState::Active));
    host.stop();
    assert_eq!(host.state("a"), Some(PluginState::Unloaded));
    let journal = tree.journal();
    journal.assert_order(&[
        ("a", "boot"),
        ("a", "start"),
        ("b", "boot"),
        ("b", "start"),
        ("b", "stop"),
        ("a", "stop"),
    ]);
    assert_eq!(journal.entries().len(), 6, "{journal}");
}

#[test]
fn a_hanging_hook_times_out_without_hanging_the_test() {
    let began = Instant::now();
    let tree = PluginTree::new()
        .external(M::builtin("stuck", "1.0.0"))
        .external(M::builtin("slow-stop", "1.0.0"))
        .plugin_config("stuck", json!({"hang_boot": true}))
        .plugin_config("slow-stop", json!({"hang_stop": true, "hang_ms": 5000}))
        .hook_timeout("200ms");
    let host = TestHost::start(&tree).unwrap();
    assert_eq!(host.state("stuck"), Some(PluginState::Failed));
    assert!(host
        .reason("stuck")
        .unwrap()
        .contains("boot timed out after 200ms"));
    assert_eq!(host.state("slow-stop"), Some(PluginState::Active));
    host.stop();
    assert_eq!(host.state("slow-stop"), Some(PluginState::Unloaded));
    assert!(
        host.reason("slow-stop")
            .unwrap()
            .contains("stop timed out after 200ms"),
        "{:?}",
        host.reason("slow-stop")
    );
    drop(host);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "took {:?}",
        began.elapsed()
    );
}

#[test]
fn faults_come_from_the_configuration() {
    let tree = PluginTree::new()
        .external(M::builtin("bad-start", "1.0.0"))
        .external(M::builtin("bad-stop", "1.0.0"))
        .external(M::builtin("bad-config", "1.0.0"))
        .external(M::builtin("panicky", "1.0.0"))
        .plugin_config("bad-start", json!({"fail_start": "port in use"}))
        .plugin_config("bad-stop", json!({"fail_stop": "cannot flush"}))
        .plugin_config("bad-config", json!({"fail_boot": 5}))
        .plugin_config("panicky", json!({"panic_call": true}));
    let host = TestHost::start(&tree).unwrap();
    assert_eq!(
        host.reason("bad-start").unwrap(),
        "start failed: port in use"
    );
    assert!(
        host.reason("bad-config")
            .unwrap()
            .contains("probe config `fail_boot` must be a string"),
        "{:?}",
        host.reason("bad-config")
    );
    match host.call("panicky", "echo", "x") {
        Err(CallError::Crashed { message, .. }) => {
            assert!(message.contains("panic_call"), "{message}")
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    // The host goes on after a panic.
    assert_eq!(host.state("panicky"), Some(PluginState::Active));
    host.stop();
    assert!(host
        .reason("bad-stop")
        .unwrap()
        .contains("stop failed: cannot flush"));
}

#[test]
fn methods_echo_count_log_forward_and_report() {
    let tree = PluginTree::new()
        .external(M::builtin("store", "1.0.0").storage().schema(json!({
            "type": "object",
            "properties": {"size": {"type": "integer", "default": 4}},
        })))
        .external(
            M::builtin("caller", "1.0.0")
                .requires("store", "^1")
                .subscribes("plugin.*"),
        )
        .plugin_config("store", json!({"boot_sets": {"size": 8}}))
        .plugin_config("caller", json!({"record": true}));
    let host = TestHost::start(&tree).unwrap();

    assert_eq!(
        host.call("store", "echo", b"\x00\xffraw").unwrap(),
        b"\x00\xffraw"
    );
    let identity: Value = host.call_json("store", "identity", &()).unwrap();
    assert_eq!(identity, json!({"id": "store", "version": "1.0.0"}));
    let config: Value = host.call_json("store", "config", &()).unwrap();
    assert_eq!(
        config["size"], 8,
        "boot_sets adjusted the configuration: {config}"
    );

    assert_eq!(host.call("store", "incr", "").unwrap(), b"1");
    assert_eq!(host.call("store", "incr", "other").unwrap(), b"1");
    assert_eq!(host.call("store", "incr", "").unwrap(), b"2");
    assert_eq!(host.call("store", "count", "").unwrap(), b"2");
    match host.call("caller", "incr", "") {
        Err(CallError::Denied(message)) => assert!(message.contains("storage is not permitted")),
        other => panic!("expected a denial, got {other:?}"),
    }

    let forwarded = host
        .call(
            "caller",
            "call",
            json!({"plugin": "store", "method": "count", "input": "other"}).to_string(),
        )
        .unwrap();
    assert_eq!(forwarded, b"1");

    assert_eq!(
        host.call("caller", "log", "written by caller").unwrap(),
        b"null"
    );
    let log = host.log("caller");
    assert!(log.contains("caller@1.0.0 written by caller"), "{log}");
    assert!(log.contains("caller@1.0.0 probe call log"), "{log}");
    assert!(host.log("store").is_empty(), "{}", host.log("store"));

    match host.call("store", "fail", "on purpose") {
        Err(CallError::Plugin { plugin, message }) => {
            assert_eq!((plugin.as_str(), message.as_str()), ("store", "on purpose"));
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    match host.call("store", "nope", "") {
        Err(CallError::UnknownMethod { known, .. }) => assert!(known.contains(&"echo".to_owned())),
        other => panic!("expected an unknown method, got {other:?}"),
    }

    // `caller` subscribed to plugin.* and has seen transitions since it started.
    host.stop();
    let seen: u64 = tree
        .read_log("caller")
        .lines()
        .filter(|l| l.contains("probe event plugin.state"))
        .count() as u64;
    assert!(seen > 0, "{}", tree.read_log("caller"));
}

/// A plugin of the author's own, tested beside probes.
#[derive(Default)]
struct Doubler;

impl BuiltinPlugin for Doubler {
    fn call(&self, _method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        Ok(payload.repeat(2))
    }
}

#[test]
fn an_authors_plugin_runs_beside_the_probe() {
    let tree = PluginTree::new()
        .external(M::builtin("doubler", "1.0.0").entry("doubler"))
        .external(
            M::builtin("user", "1.0.0")
                .requires("doubler", "^1")
                .requires("inline", "^1"),
        );
    let inline = M::builtin("inline", "1.0.0").entry("inline").build();
    let host = TestHost::with(&tree, |b| {
        b.builtin("doubler", Doubler::default)
            .plugin(inline, Doubler::default)
    })
    .unwrap();
    host.start_all().unwrap();
    assert_eq!(host.call("doubler", "any", "ab").unwrap(), b"abab");
    assert_eq!(host.call("inline", "any", "c").unwrap(), b"cc");
    let request = json!({"plugin": "doubler", "method": "x", "input": "yo"}).to_string();
    assert_eq!(host.call("user", "call", request).unwrap(), b"yoyo");
    let origins: Vec<(String, String)> = host
        .statuses()
        .into_iter()
        .map(|s| (s.id, s.origin))
        .collect();
    assert!(
        origins.contains(&("inline".into(), "application".into())),
        "{origins:?}"
    );
}

#[test]
fn an_invalid_tree_is_an_error_not_a_panic() {
    let tree = PluginTree::new().config_extra("logging:\n  level: LOUD");
    let error = TestHost::new(&tree).unwrap_err();
    assert!(error.to_string().contains("unknown log level"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_tests_drive_the_host_themselves() {
    let tree = PluginTree::new().external(M::builtin("p", "1.0.0"));
    let host = tree.host_builder().unwrap().build().unwrap();
    host.start().await.unwrap();
    assert_eq!(host.call("p", "echo", b"hi").await.unwrap(), b"hi");
    host.stop().await;
}
