//! Discovery: shadowing between the bundled and external directories, the bundled index, bare
//! artifacts, and directories that cannot become plugins.

use plugboard_test_support::{ManifestBuilder as M, PluginTree};

use crate::support::{fault, list, reason, state, status};

#[test]
fn the_higher_version_wins_and_list_shows_the_shadowed_copy() {
    let tree = PluginTree::new()
        .bundled(M::builtin("tools", "1.0.0"))
        .external(M::builtin("tools", "2.0.0"))
        .bundled(M::builtin("core", "3.0.0"))
        .external(M::builtin("core", "2.5.0"));
    let statuses = list(&tree, false);
    assert_eq!(statuses.iter().filter(|s| s["id"] == "tools").count(), 1);

    let tools = status(&statuses, "tools");
    assert_eq!(tools["version"], "2.0.0");
    assert_eq!(tools["origin"], "external");
    let shadowed = tools["shadowed"].to_string();
    let bundled_copy = tree.bundled_dir().join("tools");
    assert!(
        shadowed.contains(&format!(
            "tools 1.0.0 in {} is shadowed by external 2.0.0",
            bundled_copy.display()
        )),
        "{shadowed}"
    );
    // A newer bundled copy wins over an older external one.
    let core = status(&statuses, "core");
    assert_eq!(core["version"], "3.0.0");
    assert_eq!(core["origin"], "bundled");
    assert!(
        core["shadowed"].to_string().contains("core 2.5.0 in"),
        "{core}"
    );

    // The text table says it too, and the winner is the one that runs.
    let out = fault(&tree, &["list"]);
    out.code(0);
    assert!(
        out.stdout().contains("tools: tools 1.0.0 in"),
        "{}",
        out.stdout()
    );
    let out = fault(&tree, &["call", "tools", "identity"]);
    out.code(0);
    assert_eq!(out.json()["version"], "2.0.0");
}

#[test]
fn a_bundled_plugin_missing_from_the_index_is_refused() {
    let tree = PluginTree::new()
        .bundled(M::builtin("shipped", "1.0.0"))
        .bundled_unlisted(M::builtin("smuggled", "1.0.0"))
        .bundled_index_line("repinned 9.9.9")
        .bundled_unlisted(M::builtin("repinned", "1.0.0"));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "shipped"), "active");

    let smuggled = status(&statuses, "smuggled");
    assert_eq!(smuggled["state"], "disabled");
    assert_eq!(smuggled["origin"], "bundled");
    let why = reason(&statuses, "smuggled");
    assert!(
        why.contains("not in bundled.index") && why.contains("refused"),
        "{why}"
    );

    let why = reason(&statuses, "repinned");
    assert!(why.contains("shipped version 9.9.9; refused"), "{why}");

    let out = fault(&tree, &["call", "smuggled", "echo"]);
    out.code(2);
    assert!(
        out.stderr.contains("no plugin \"smuggled\""),
        "{}",
        out.stderr
    );
}

#[test]
fn a_bare_artifact_gets_the_default_descriptor_and_needs_its_runtime() {
    let tree = PluginTree::new()
        .raw_file("external/foo.wasm", b"\0asm\x01\0\0\0")
        .external(M::builtin("plain", "1.0.0"));
    let statuses = list(&tree, false);
    let foo = status(&statuses, "foo");
    assert_eq!(foo["bare"], true);
    assert_eq!(foo["version"], "0.0.0");
    assert_eq!(foo["runtime"], "wasm");
    assert_eq!(foo["origin"], "external");
    // The command includes the wasm runtime: a bare core module is taken as an Extism-ABI
    // module, and this empty one has nothing to call.
    assert_eq!(foo["state"], "resolved");
    let started = list(&tree, true);
    assert_eq!(state(&started, "foo"), "failed");
    let why = reason(&started, "foo");
    assert!(
        why.contains("plugin foo") && why.contains("exports no function"),
        "{why}"
    );

    let out = fault(&tree, &["list"]);
    out.code(0);
    let text = out.stdout();
    assert_eq!(out.row(&text, "foo")[2..4], ["wasm", "(bare)"]);
    assert!(
        text.contains("foo: a bare artifact with no plugin.yaml"),
        "{text}"
    );
    // It does not stop the others.
    assert_eq!(state(&list(&tree, true), "plain"), "active");
}

#[test]
fn directories_that_cannot_become_plugins_are_listed_with_the_reason() {
    let tree = PluginTree::new()
        .raw_file(
            "external/broken/plugin.yaml",
            "id: broken\nversion: one.two\nruntime: builtin\nentry: probe\n",
        )
        .raw_file("external/empty/README", "no manifest here")
        .external(M::builtin("fine", "1.0.0"));
    let statuses = list(&tree, true);
    let manifest = tree.external_dir().join("broken/plugin.yaml");
    let why = reason(&statuses, "broken");
    assert!(
        why.starts_with(&format!("{}:2:10: version: ", manifest.display())),
        "the reason is a file:line:column problem: {why}"
    );
    assert_eq!(state(&statuses, "broken"), "disabled");
    assert!(reason(&statuses, "empty").contains("no plugin.yaml in this directory"));
    assert_eq!(state(&statuses, "fine"), "active");
}

#[test]
fn paths_in_the_config_are_relative_to_its_directory_not_the_working_directory() {
    let tree = PluginTree::new()
        .external(M::builtin("found", "1.0.0"))
        .state_dir_at("var/state")
        .plugin_config("found", serde_json::json!({"record": true}));
    let config = tree.write();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = config.to_str().unwrap();
    let out = crate::support::run(
        &crate::support::fault_host(),
        elsewhere.path(),
        &[
            "--config", config, "call", "found", "log", "--input", "hello",
        ],
    );
    out.code(0);
    assert!(tree.path().join("var/state/logs/found.log").is_file());
    assert!(tree.read_log("found").contains("found@1.0.0 hello"));
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing in the cwd"
    );

    let out = crate::support::run(
        &crate::support::fault_host(),
        elsewhere.path(),
        &["list", "--json", config],
    );
    out.code(0);
    assert_eq!(out.json()[0]["id"], "found");
}
