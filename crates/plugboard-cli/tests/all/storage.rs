//! The key-value store: one namespace per plugin, kept on disk between runs.

use plugboard_test_support::{ManifestBuilder as M, PluginTree};

use crate::support::fault;

fn call(tree: &PluginTree, id: &str, method: &str) -> String {
    let out = fault(tree, &["call", id, method]);
    out.code(0);
    out.stdout()
}

#[test]
fn plugins_do_not_see_each_others_keys() {
    let tree = PluginTree::new()
        .external(M::builtin("alpha", "1.0.0").storage())
        .external(M::builtin("beta", "1.0.0").storage());
    // Both use the same key, `counter`.
    assert_eq!(call(&tree, "alpha", "incr"), "1");
    assert_eq!(call(&tree, "alpha", "incr"), "2");
    assert_eq!(call(&tree, "beta", "count"), "0");
    assert_eq!(call(&tree, "beta", "incr"), "1");
    assert_eq!(call(&tree, "alpha", "count"), "2");
    assert!(tree.state_dir().join("storage.redb").is_file());
}

#[test]
fn stored_values_survive_separate_runs() {
    let tree = PluginTree::new().external(M::builtin("keeper", "1.0.0").storage());
    for expected in ["1", "2", "3"] {
        let out = fault(&tree, &["call", "keeper", "incr", "--input", "visits"]);
        out.code(0);
        assert_eq!(out.stdout(), expected);
    }
    let out = fault(&tree, &["call", "keeper", "count", "--input", "visits"]);
    out.code(0);
    assert_eq!(out.stdout(), "3");
    // Another key of the same plugin starts from nothing.
    assert_eq!(call(&tree, "keeper", "count"), "0");
}

#[test]
fn storage_without_the_permission_is_denied() {
    let tree = PluginTree::new().external(M::builtin("nosy", "1.0.0"));
    let out = fault(&tree, &["call", "nosy", "incr"]);
    out.code(1);
    assert!(
        out.stderr.contains("storage is not permitted"),
        "{}",
        out.stderr
    );
    assert!(
        tree.read_log("nosy")
            .contains("nosy@1.0.0 plugin nosy: storage is not permitted"),
        "the denial is in the plugin's log:\n{}",
        tree.read_log("nosy")
    );
}
