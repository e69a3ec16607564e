//! Dependency resolution as `run` and `list` report it: start order, cycles, missing and
//! mismatched dependencies, optional ones, the API version, and the host configuration's say.

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::json;

use crate::support::{fault, list, reason, state, status};

fn ids(statuses: &[serde_json::Value]) -> Vec<&str> {
    statuses.iter().filter_map(|s| s["id"].as_str()).collect()
}

#[test]
fn a_chain_starts_dependencies_first_and_stops_them_last() {
    // Declared in reverse, so that directory order cannot pass for start order.
    let tree = PluginTree::new()
        .external(M::builtin("c", "1.0.0").requires("b", "^1"))
        .external(M::builtin("b", "1.0.0").requires("a", "^1"))
        .external(M::builtin("a", "1.0.0"))
        .probe("c", json!({}))
        .probe("b", json!({}))
        .probe("a", json!({}));
    assert_eq!(
        ids(&list(&tree, false)),
        ["a", "b", "c"],
        "list shows start order"
    );

    let out = fault(&tree, &["run", "--once"]);
    out.code(0);
    for id in ["a", "b", "c"] {
        assert_eq!(out.row(&out.stdout(), id)[3], "active");
    }
    tree.journal().assert_order(&[
        ("a", "boot"),
        ("a", "start"),
        ("b", "boot"),
        ("b", "start"),
        ("c", "boot"),
        ("c", "start"),
        ("c", "stop"),
        ("b", "stop"),
        ("a", "stop"),
    ]);
}

#[test]
fn a_diamond_starts_the_shared_dependency_once_and_first() {
    let tree = PluginTree::new()
        .external(
            M::builtin("top", "1.0.0")
                .requires("left", "^1")
                .requires("right", "^1"),
        )
        .external(M::builtin("left", "1.0.0").requires("base", "^1"))
        .external(M::builtin("right", "1.0.0").requires("base", "^1"))
        .bundled(M::builtin("base", "1.0.0"))
        .probe("top", json!({}))
        .probe("left", json!({}))
        .probe("right", json!({}))
        .probe("base", json!({}));
    fault(&tree, &["run", "--once"]).code(0);
    let journal = tree.journal();
    assert_eq!(
        journal.events_of("base"),
        ["boot", "start", "stop"],
        "{journal}"
    );
    for side in ["left", "right"] {
        journal.assert_order(&[
            ("base", "start"),
            (side, "boot"),
            (side, "start"),
            ("top", "boot"),
        ]);
        journal.assert_order(&[("top", "stop"), (side, "stop"), ("base", "stop")]);
    }
}

#[test]
fn a_cycle_disables_every_member_and_shows_its_path() {
    let tree = PluginTree::new()
        .external(M::builtin("a", "1.0.0").requires("b", "^1"))
        .external(M::builtin("b", "1.0.0").requires("a", "^1"))
        .external(M::builtin("x", "1.0.0").requires("y", "^1"))
        .external(M::builtin("y", "1.0.0").requires("z", "^1"))
        .external(M::builtin("z", "1.0.0").requires("x", "^1"))
        .external(M::builtin("user", "1.0.0").requires("a", "^1"))
        .external(M::builtin("free", "1.0.0"));
    let statuses = list(&tree, true);
    for (id, path) in [
        ("a", "a -> b -> a"),
        ("b", "b -> a -> b"),
        ("x", "x -> y -> z -> x"),
        ("y", "y -> z -> x -> y"),
        ("z", "z -> x -> y -> z"),
    ] {
        assert_eq!(state(&statuses, id), "disabled", "{id}");
        let why = reason(&statuses, id);
        assert!(
            why.contains(&format!("dependency cycle: {path}")),
            "{id}: {why}"
        );
        assert!(
            why.contains("optional"),
            "the reason says how to break it: {why}"
        );
    }
    assert_eq!(state(&statuses, "user"), "disabled");
    assert!(
        reason(&statuses, "user").contains("requires a"),
        "{}",
        reason(&statuses, "user")
    );
    assert_eq!(state(&statuses, "free"), "active");
}

#[test]
fn a_missing_dependency_is_named_with_its_requirement() {
    let tree = PluginTree::new()
        .external(M::builtin("app", "1.0.0").requires("ghost", "^1.2"))
        .external(M::builtin("other", "1.0.0"));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "app"), "disabled");
    let why = reason(&statuses, "app");
    assert!(
        why.contains("requires ghost ^1.2, which is not installed"),
        "{why}"
    );
    assert_eq!(state(&statuses, "other"), "active");

    // A disabled plugin is not a failure of `run`.
    let out = fault(&tree, &["run", "--once"]);
    out.code(0);
    assert!(
        out.stdout().contains("app (disabled): requires ghost ^1.2"),
        "{}",
        out.stdout()
    );
}

#[test]
fn a_wrong_version_dependency_shows_the_version_found() {
    let tree = PluginTree::new()
        .external(M::builtin("app", "1.0.0").requires("db", ">=2"))
        .external(M::builtin("db", "1.4.0"));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "app"), "disabled");
    let why = reason(&statuses, "app");
    assert!(
        why.contains("requires db >=2, but version 1.4.0 is installed"),
        "{why}"
    );
    assert_eq!(state(&statuses, "db"), "active");
}

#[test]
fn an_optional_dependency_that_is_present_starts_first() {
    let tree = PluginTree::new()
        .external(M::builtin("app", "1.0.0").optional("metrics", ">=0.3"))
        .external(M::builtin("metrics", "0.3.1"))
        .probe("app", json!({}))
        .probe("metrics", json!({}));
    fault(&tree, &["run", "--once"]).code(0);
    tree.journal().assert_order(&[
        ("metrics", "start"),
        ("app", "boot"),
        ("app", "stop"),
        ("metrics", "stop"),
    ]);
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "app"), "active");
    assert_eq!(state(&statuses, "metrics"), "active");
}

#[test]
fn an_optional_dependency_that_is_absent_or_mismatched_is_not_a_reason_to_stop() {
    let tree = PluginTree::new()
        .external(M::builtin("absent", "1.0.0").optional("ghost", "^1"))
        .external(M::builtin("mismatched", "1.0.0").optional("old", "^2"))
        .external(M::builtin("old", "1.0.0"));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "absent"), "active");
    assert_eq!(reason(&statuses, "absent"), "");
    assert_eq!(state(&statuses, "mismatched"), "active");
    let warnings = status(&statuses, "mismatched")["warnings"].to_string();
    assert!(
        warnings.contains("optional dependency old ^2 is installed as 1.0.0; it will not be used"),
        "{warnings}"
    );
}

#[test]
fn an_api_mismatch_disables_the_plugin() {
    let tree = PluginTree::new()
        .external(M::builtin("future", "1.0.0").api(">=2"))
        .external(M::builtin("present", "1.0.0").api("^1"));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "future"), "disabled");
    let why = reason(&statuses, "future");
    assert!(
        why.contains("needs plugin API >=2, but this host implements 1.0.0"),
        "{why}"
    );
    assert_eq!(state(&statuses, "present"), "active");
}

#[test]
fn enabled_false_disables_the_plugin_and_its_dependents() {
    let tree = PluginTree::new()
        .external(M::builtin("off", "1.0.0"))
        .external(M::builtin("needs-off", "1.0.0").requires("off", "^1"))
        .plugin_entry("{id: off, enabled: false}")
        .probe("needs-off", json!({}));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "off"), "disabled");
    assert!(
        reason(&statuses, "off").contains("disabled in the host configuration (enabled: false)"),
        "{}",
        reason(&statuses, "off")
    );
    assert_eq!(state(&statuses, "needs-off"), "disabled");
    assert!(reason(&statuses, "needs-off").contains("requires off"));
    assert!(
        tree.journal().entries().is_empty(),
        "no hook ran:\n{}",
        tree.journal()
    );
}

#[test]
fn a_plugin_listed_in_the_config_but_not_installed_is_reported() {
    let tree = PluginTree::new()
        .external(M::builtin("here", "1.0.0"))
        .plugin("here")
        .plugin_entry("{id: nowhere, version: \"^3\"}");
    let statuses = list(&tree, false);
    let missing = status(&statuses, "nowhere");
    assert_eq!(missing["state"], "disabled");
    assert_eq!(missing["origin"], "missing");
    assert_eq!(missing["version"], "^3");
    assert!(
        reason(&statuses, "nowhere").contains("not installed"),
        "{missing}"
    );

    let out = fault(&tree, &["run", "--once"]);
    out.code(0);
    assert!(
        out.stdout()
            .contains("nowhere (disabled): listed under `plugins:`"),
        "{}",
        out.stdout()
    );
}

#[test]
fn a_version_requirement_in_the_config_is_enforced() {
    let tree = PluginTree::new()
        .external(M::builtin("pinned", "1.0.0"))
        .plugin_entry("{id: pinned, version: \"^2\"}");
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "pinned"), "disabled");
    let why = reason(&statuses, "pinned");
    assert!(
        why.contains("the host configuration requires version ^2, but 1.0.0 is installed"),
        "{why}"
    );
}
