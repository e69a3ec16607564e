//! `plugboard info`: a plugin's manifest, dependencies, dependents, permissions and effective
//! configuration, as text and as JSON.

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::json;

use crate::support::fault;

fn tree() -> PluginTree {
    PluginTree::new()
        .bundled(M::builtin("base", "1.0.0").name("Base services"))
        .external(
            M::builtin("app", "1.2.0")
                .description("The application plugin.")
                .requires("base", "^1")
                .optional("extras", ">=0.1")
                .provides("text.transform", &["upper"], 5)
                .storage()
                .schema(json!({
                    "type": "object",
                    "properties": {
                        "greeting": {"type": "string", "default": "hello"},
                        "limit": {"type": "integer", "default": 10},
                    },
                })),
        )
        .plugin_config("app", json!({"limit": 99}))
}

#[test]
fn info_prints_a_readable_summary() {
    let tree = tree();
    let out = fault(&tree, &["info", "app"]);
    out.code(0);
    let text = out.stdout();
    for expected in [
        "app 1.2.0 (app)",
        "  The application plugin.",
        "runtime:     builtin (entry probe)",
        "source:      external ",
        "state:       resolved",
        "dependencies:\n  base ^1 -> 1.0.0, resolved\n  extras >=0.1 (optional) -> not installed",
        "dependents: none",
        "provides:\n  text.transform [\"upper\"] priority 5",
        "permissions: requested {\"storage\":true}",
        "\"greeting\": \"hello\"",
        "\"limit\": 99",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }

    let out = fault(&tree, &["info", "base"]);
    out.code(0);
    let text = out.stdout();
    assert!(text.contains("base 1.0.0 (Base services)"), "{text}");
    assert!(text.contains("dependents:\n  app\n"), "{text}");
    assert!(text.contains("source:      bundled "), "{text}");
}

#[test]
fn info_json_has_every_field() {
    let tree = tree();
    let out = fault(&tree, &["info", "app", "--json"]);
    out.code(0);
    let info = out.json();
    assert_eq!(info["id"], "app");
    assert_eq!(info["version"], "1.2.0");
    assert_eq!(info["runtime"], "builtin");
    assert_eq!(info["entry"], "probe");
    assert_eq!(info["origin"], "external");
    assert_eq!(info["state"], "resolved");
    assert_eq!(info["bare"], false);
    assert_eq!(
        info["dependencies"],
        json!([
            {"id": "base", "requirement": "^1", "optional": false, "found": "1.0.0", "state": "resolved"},
            {"id": "extras", "requirement": ">=0.1", "optional": true, "found": null, "state": null},
        ])
    );
    assert_eq!(
        info["provides"],
        json!([{"point": "text.transform", "methods": ["upper"], "priority": 5}])
    );
    assert_eq!(info["permissions"]["requested"]["storage"], true);
    assert_eq!(info["permissions"]["granted"]["storage"], true);
    assert_eq!(
        info["config"],
        json!({"valid": true, "value": {"greeting": "hello", "limit": 99}})
    );

    let out = fault(&tree, &["info", "base", "--json"]);
    out.code(0);
    assert_eq!(
        out.json()["dependents"],
        json!([{"id": "app", "optional": false}])
    );
}

#[test]
fn info_shows_an_invalid_config_with_its_pointer() {
    let tree = tree()
        .plugin_config("strict", json!({"limit": "many"}))
        .external(
            M::builtin("strict", "1.0.0")
                .schema(json!({"type": "object", "properties": {"limit": {"type": "integer"}}})),
        );
    let out = fault(&tree, &["info", "strict"]);
    out.code(0);
    assert!(
        out.stdout().contains("config:      INVALID"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout()
            .contains("/limit: \"many\" is not of type \"integer\""),
        "{}",
        out.stdout()
    );
    let out = fault(&tree, &["info", "strict", "--json"]);
    assert_eq!(out.json()["config"]["valid"], false);
}

#[test]
fn info_on_an_unknown_plugin_is_a_usage_error() {
    let out = fault(&tree(), &["info", "ghost"]);
    out.code(2);
    assert!(
        out.stderr.contains("no plugin \"ghost\" in this host"),
        "{}",
        out.stderr
    );
}

#[test]
fn info_explains_a_plugin_that_is_listed_but_not_installed() {
    let tree = PluginTree::new()
        .external(M::builtin("here", "1.0.0"))
        .plugin("elsewhere");
    let out = fault(&tree, &["info", "elsewhere"]);
    out.code(0);
    assert!(
        out.stdout().contains("elsewhere (missing -)"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("not installed"), "{}", out.stdout());
}
