//! `plugboard call`: payloads pass unchanged, `--json` wraps the result, failures exit 1.

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::json;

use crate::support::fault;

fn tree() -> PluginTree {
    PluginTree::new()
        .external(M::builtin("echo", "1.0.0"))
        .external(M::builtin("front", "1.0.0").requires("echo", "^1"))
        .external(M::builtin("loner", "1.0.0"))
        .external(M::builtin("sleepy", "1.0.0").lazy())
        .external(M::builtin("off", "1.0.0"))
        .plugin_entry("{id: off, enabled: false}")
}

#[test]
fn input_bytes_pass_unchanged() {
    let tree = tree();
    let text = "  spaces, \"quotes\", ünïcödé and a trailing newline\n";
    let out = fault(&tree, &["call", "echo", "echo", "--input", text]);
    out.code(0);
    assert_eq!(out.stdout, text.as_bytes());

    let bytes: Vec<u8> = (0..=255u8)
        .rev()
        .chain([0xff, 0xfe, 0x00, b'\n', 0xc3])
        .collect();
    let tree = tree.raw_file("payload.bin", &bytes);
    let out = fault(
        &tree,
        &["call", "echo", "echo", "--input-file", "payload.bin"],
    );
    out.code(0);
    assert_eq!(out.stdout, bytes, "non-UTF-8 bytes come back unchanged");

    let out = fault(&tree, &["call", "echo", "echo"]);
    out.code(0);
    assert!(out.stdout.is_empty(), "no input is an empty payload");
}

#[test]
fn json_output_wraps_the_result() {
    let tree = tree();
    let out = fault(
        &tree,
        &[
            "call",
            "echo",
            "echo",
            "--input",
            r#"{"n": [1, 2]}"#,
            "--json",
        ],
    );
    out.code(0);
    assert_eq!(
        out.json(),
        json!({"plugin": "echo", "method": "echo", "ok": true, "output": {"n": [1, 2]}})
    );
    // A result that is not JSON is given as a string.
    let out = fault(
        &tree,
        &["call", "echo", "echo", "--input", "plain words", "--json"],
    );
    out.code(0);
    assert_eq!(out.json()["output"], "plain words");

    let out = fault(
        &tree,
        &["call", "echo", "fail", "--input", "it broke", "--json"],
    );
    out.code(1);
    let body = out.json();
    assert_eq!(body["ok"], false);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("it broke"),
        "{body}"
    );
}

#[test]
fn a_plugin_calls_its_dependency_through_the_host() {
    let tree = tree();
    let request = json!({"plugin": "echo", "method": "echo", "input": "via front"}).to_string();
    let out = fault(&tree, &["call", "front", "call", "--input", &request]);
    out.code(0);
    assert_eq!(out.stdout(), "via front");

    // A plugin may only call what it declares.
    let request = json!({"plugin": "loner", "method": "echo"}).to_string();
    let out = fault(&tree, &["call", "front", "call", "--input", &request]);
    out.code(1);
    assert!(
        out.stderr
            .contains("plugin front may not call loner: declare it under `requires` or `optional`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_lazy_plugin_is_started_by_its_first_call() {
    let tree = tree();
    let statuses = crate::support::list(&tree, true);
    assert_eq!(
        crate::support::state(&statuses, "sleepy"),
        "resolved",
        "lazy plugins wait"
    );
    let out = fault(&tree, &["call", "sleepy", "identity"]);
    out.code(0);
    assert_eq!(out.json(), json!({"id": "sleepy", "version": "1.0.0"}));
}

#[test]
fn failed_calls_exit_1_with_the_reason() {
    let tree = tree().plugin_config("loner", json!({"panic_call": true}));
    for (args, expected) in [
        (
            vec!["call", "echo", "fail", "--input", "no luck"],
            "no luck",
        ),
        (
            vec!["call", "echo", "nope"],
            "has no method \"nope\"; it has: call, config",
        ),
        (vec!["call", "loner", "echo"], "crashed during \"echo\""),
        (
            vec!["call", "off", "echo"],
            "plugin off is disabled: disabled in the host configuration",
        ),
    ] {
        let out = fault(&tree, &args);
        out.code(1);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn input_mistakes_are_usage_errors() {
    let tree = tree();
    for (args, expected) in [
        (
            vec!["call", "ghost", "echo"],
            "no plugin \"ghost\" in this host",
        ),
        (
            vec!["call", "echo", "echo", "--input-file", "missing.bin"],
            "cannot read the input file",
        ),
        (
            vec!["call", "echo", "echo", "--input", "x", "--input-file", "y"],
            "cannot be used with",
        ),
        (vec!["call", "echo"], "required"),
    ] {
        let out = fault(&tree, &args);
        out.code(2);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
}
