//! `plugboard validate` on manifests, plugin directories and host configurations.

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::json;

use crate::support::fault;

/// A problem line `file:line:column: field: message`, split into its parts.
#[derive(Debug, PartialEq)]
struct Located<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    field: &'a str,
    message: &'a str,
}

#[track_caller]
fn located(text: &str) -> Located<'_> {
    let parse = || {
        let (place, rest) = text.split_once(": ")?;
        let mut parts = place.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        let (field, message) = rest.split_once(": ")?;
        Some(Located {
            file,
            line,
            column,
            field,
            message,
        })
    };
    parse().unwrap_or_else(|| panic!("not a `file:line:column: field: message` line: {text}"))
}

fn good_tree() -> PluginTree {
    PluginTree::new()
        .bundled(M::builtin("base", "1.0.0"))
        .external(M::builtin("app", "1.0.0").requires("base", "^1").storage())
        .external(M::builtin("tool", "0.1.0").schema(json!({"type": "object"})))
        .plugin("base")
        .plugin_config("tool", json!({"anything": 1}))
}

#[test]
fn a_good_tree_validates() {
    let tree = good_tree();
    let out = fault(&tree, &["validate", "external"]);
    out.code(0);
    assert_eq!(out.stdout(), "ok: 2 file(s) checked, no problems\n");

    let out = fault(
        &tree,
        &["validate", "config.yaml", "bundled/base/plugin.yaml"],
    );
    out.code(0);
    assert!(out.stdout().starts_with("ok: "), "{}", out.stdout());
}

#[test]
fn every_problem_of_a_manifest_is_reported_with_its_position() {
    let tree = good_tree().raw_file(
        "external/broken/plugin.yaml",
        "id: broken\nversion: 1.0.0\nname: \"\"\nruntime: builtin\nentry: \"two words\"\nrequires:\n  broken: \"^1\"\n",
    );
    let out = fault(&tree, &["validate", "external/broken"]);
    out.code(2);
    let text = out.stdout();
    let lines: Vec<Located> = text.lines().map(located).collect();
    let file = "external/broken/plugin.yaml";
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.file, l.line, l.column, l.field))
            .collect::<Vec<_>>(),
        [
            (file, 3, 7, "name"),
            (file, 5, 8, "entry"),
            (file, 7, 3, "requires.broken"),
        ],
        "{text}"
    );
    assert!(lines[0].message.starts_with("the name is empty"), "{text}");
    assert!(lines[2].message.contains("depends on itself"), "{text}");
    assert!(
        out.stderr.contains("3 problem(s) in 1 file(s) checked"),
        "{}",
        out.stderr
    );

    // A directory of plugins reports the broken one among the good.
    let out = fault(&tree, &["validate", "external"]);
    out.code(2);
    assert_eq!(out.stdout().lines().count(), 3, "{}", out.stdout());
}

#[test]
fn a_mistyped_key_gets_a_hint() {
    let tree = PluginTree::new().raw_file(
        "typo.plugin.yaml",
        "id: t\nversion: 1.0.0\nruntime: builtin\nentry: probe\nrequries: {}\n",
    );
    let out = fault(&tree, &["validate", "typo.plugin.yaml"]);
    out.code(2);
    let text = out.stdout();
    let line = located(text.trim_end());
    assert_eq!(
        (line.file, line.line, line.column, line.field),
        ("typo.plugin.yaml", 5, 1, "requries")
    );
    assert_eq!(
        line.message,
        "unknown key `requries` (hint: did you mean `requires`?)"
    );
}

#[test]
fn a_config_with_errors_is_reported_with_positions() {
    let tree = PluginTree::new().log_level("LOUD").hook_timeout("0s");
    let out = fault(&tree, &["validate", "config.yaml"]);
    out.code(2);
    let text = out.stdout();
    let line = located(text.lines().next().unwrap_or_default());
    assert_eq!(line.file, "config.yaml");
    assert_eq!(line.field, "logging.level");
    assert!(
        line.message.contains("unknown log level \"LOUD\""),
        "{text}"
    );

    // Semantic problems are all reported at once.
    let tree = PluginTree::new().plugin("a").plugin("a").hook_timeout("0s");
    let out = fault(&tree, &["validate", "config.yaml"]);
    out.code(2);
    let text = out.stdout();
    let fields: Vec<&str> = text.lines().map(|l| located(l).field).collect();
    assert_eq!(fields, ["plugins[1].id", "hooks.timeout"], "{text}");
}

#[test]
fn a_config_is_checked_as_the_host_would_see_it() {
    let tree = good_tree()
        .external(M::builtin("orphan", "1.0.0").requires("ghost", "^1"))
        .external(
            M::builtin("strict", "1.0.0")
                .schema(json!({"type": "object", "properties": {"port": {"type": "integer"}}})),
        )
        .plugin_config("strict", json!({"port": "eighty"}))
        .plugin("nowhere");
    let out = fault(&tree, &["validate", "config.yaml"]);
    out.code(2);
    let text = out.stdout();
    let orphan = tree.external_dir().join("orphan");
    for expected in [
        format!(
            "{}: orphan: requires ghost ^1, which is not installed",
            orphan.display()
        ),
        "config.yaml: nowhere: listed under `plugins:`".to_owned(),
        "config.yaml: strict: invalid configuration: ".to_owned(),
        "/port: \"eighty\" is not of type \"integer\"".to_owned(),
    ] {
        assert!(text.contains(&expected), "no `{expected}` in:\n{text}");
    }
}

#[test]
fn a_missing_path_is_a_problem() {
    let out = fault(&PluginTree::new(), &["validate", "nothing-here"]);
    out.code(2);
    assert!(
        out.stdout()
            .contains("nothing-here: no such file or directory"),
        "{}",
        out.stdout()
    );
}

#[test]
fn a_directory_of_bare_artifacts_validates() {
    let tree = PluginTree::new().raw_file("external/upper.wasm", b"\0asm\x01\0\0\0");
    let out = fault(&tree, &["validate", "external"]);
    out.code(0);
    assert_eq!(out.stdout(), "ok: 1 file(s) checked, no problems\n");
}
