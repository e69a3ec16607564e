//! Per-plugin log files and `plugboard logs`.

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::json;

use crate::support::fault;

fn two_recording_plugins() -> PluginTree {
    PluginTree::new()
        .external(M::builtin("alpha", "1.0.0"))
        .external(M::builtin("beta", "2.0.0"))
        .plugin_config("alpha", json!({"record": true}))
        .plugin_config("beta", json!({"record": true}))
}

#[test]
fn each_plugin_writes_its_own_records_to_its_own_file() {
    let tree = two_recording_plugins();
    fault(&tree, &["run", "--once"]).code(0);
    fault(
        &tree,
        &["call", "alpha", "log", "--input", "note from alpha"],
    )
    .code(0);
    fault(&tree, &["call", "beta", "log", "--input", "note from beta"]).code(0);

    for (id, version, other) in [("alpha", "1.0.0", "beta"), ("beta", "2.0.0", "alpha")] {
        let path = tree.state_dir().join("logs").join(format!("{id}.log"));
        assert!(path.is_file(), "{} is missing", path.display());
        let log = std::fs::read_to_string(&path).unwrap();
        let tag = format!(" {id}@{version} ");
        assert!(
            log.lines().all(|l| l.contains(&tag)),
            "every record is tagged {tag}:\n{log}"
        );
        for record in [
            "probe boot",
            "probe start",
            "probe stop",
            &format!("note from {id}"),
        ] {
            assert!(log.contains(record), "{id}'s log lacks `{record}`:\n{log}");
        }
        assert!(!log.contains(other), "{id}'s log mentions {other}:\n{log}");
    }
}

#[test]
fn a_record_cannot_forge_another_line() {
    let tree = PluginTree::new()
        .external(M::builtin("alpha", "1.0.0"))
        .external(M::builtin("beta", "2.0.0"));
    let forged = "harmless\n2026-01-01T00:00:00.000Z INFO  beta@2.0.0 forged";
    fault(&tree, &["call", "alpha", "log", "--input", forged]).code(0);
    let log = tree.read_log("alpha");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.contains(r"alpha@1.0.0 harmless\n2026-01-01T00:00:00.000Z INFO"),
        "{log}"
    );
    assert_eq!(tree.read_log("beta"), "");
}

#[test]
fn transitions_are_logged_at_debug_level_only() {
    let quiet = two_recording_plugins();
    fault(&quiet, &["run", "--once"]).code(0);
    assert!(
        !quiet.read_log("alpha").contains("state "),
        "{}",
        quiet.read_log("alpha")
    );

    let verbose = two_recording_plugins().log_level("DEBUG");
    fault(&verbose, &["run", "--once"]).code(0);
    let log = verbose.read_log("alpha");
    for t in [
        "state resolved -> loaded",
        "state booted -> active",
        "state stopped -> unloaded",
    ] {
        assert!(log.contains(t), "{log}");
    }
}

#[test]
fn the_logs_command_prints_a_plugins_log() {
    let tree = two_recording_plugins().external(M::builtin("silent", "1.0.0"));
    fault(
        &tree,
        &["call", "alpha", "log", "--input", "hello, operator"],
    )
    .code(0);

    let out = fault(&tree, &["logs", "alpha"]);
    out.code(0);
    assert_eq!(out.stdout(), tree.read_log("alpha"));
    assert!(
        out.stdout().contains("alpha@1.0.0 hello, operator"),
        "{}",
        out.stdout()
    );

    let out = fault(&tree, &["logs", "silent"]);
    out.code(0);
    assert_eq!(out.stdout(), "");
    assert!(
        out.stderr.contains("silent has not written a log yet"),
        "{}",
        out.stderr
    );

    let out = fault(&tree, &["logs", "ghost"]);
    out.code(2);
    assert!(out.stderr.contains("no plugin \"ghost\""), "{}", out.stderr);
}
