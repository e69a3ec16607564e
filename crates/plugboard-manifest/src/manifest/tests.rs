//! Parsing `plugin.yaml`: the happy path, syntax and type errors, and hostile input.

use super::*;
use crate::{ByteSize, Duration, Problem, WasmAbi, MAX_DOCUMENT_BYTES};

pub(crate) const FULL: &str = r#"id: text-tools
name: Text tools
version: 1.2.0
description: Upper-cases and lower-cases text.
api: "^1"
runtime: wasm
entry: plugin.wasm
integrity: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
requires:
  base-utils: "^1.0"
optional:
  spell-check: ">=0.3"
provides:
  - point: text.transform
    methods: [upper, lower]
    priority: 10
extension_points:
  - id: text-tools.filter
    version: 1.1.0
    methods: [filter]
    cardinality: one
    codec: msgpack
subscribes: [host.started]
permissions:
  fs:
    read: [data]
    write: [cache/]
  net: ["api.example.com:443"]
  env: [HOME]
  storage: true
config:
  schema:
    type: object
    properties:
      level: {type: integer, default: 1}
activation: lazy
wasm:
  abi: extism
  memory_max: 64MiB
  timeout: 1s
  fuel: 1000000
"#;

pub(crate) fn problems(text: &str) -> Vec<Problem> {
    Manifest::from_yaml_str(text, "plugin.yaml")
        .expect_err("the manifest should be refused")
        .into_problems()
}

pub(crate) fn one_problem(text: &str) -> Problem {
    let mut all = problems(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

const MINIMAL: &str = "id: demo\nversion: 1.0.0\nruntime: builtin\nentry: demo\n";

#[test]
fn a_full_manifest_parses_into_every_field() {
    let m = Manifest::from_yaml_str(FULL, "plugin.yaml").unwrap();
    assert_eq!(m.id.as_str(), "text-tools");
    assert_eq!(m.display_name(), "Text tools");
    assert_eq!(m.version, Version::new(1, 2, 0));
    assert!(m.api.matches(&PLUGIN_API_VERSION));
    assert_eq!(m.runtime, RuntimeKind::Wasm);
    assert_eq!(m.entry, "plugin.wasm");
    assert!(m.integrity.is_some());
    assert_eq!(m.dependencies().count(), 2);
    assert_eq!(m.provides[0].methods, ["upper", "lower"]);
    assert_eq!(m.provides[0].priority, 10);
    assert_eq!(m.extension_points[0].cardinality, Cardinality::One);
    assert_eq!(m.extension_points[0].codec, Codec::Msgpack);
    assert_eq!(m.extension_points[0].version, Version::new(1, 1, 0));
    assert_eq!(m.subscribes, ["host.started"]);
    assert_eq!(m.permissions.fs.write, ["cache/"]);
    assert!(m.permissions.storage);
    assert_eq!(m.activation, Activation::Lazy);
    let wasm = m.wasm.unwrap();
    assert_eq!(wasm.abi, WasmAbi::Extism);
    assert_eq!(wasm.memory_max, Some(ByteSize(64 << 20)));
    assert_eq!(
        wasm.timeout,
        Some(Duration(std::time::Duration::from_secs(1)))
    );
}

#[test]
fn a_minimal_manifest_takes_the_defaults() {
    let m = Manifest::from_yaml_str(MINIMAL, "plugin.yaml").unwrap();
    assert_eq!(m.display_name(), "demo");
    assert_eq!(m.api, VersionReq::STAR);
    assert_eq!(m.activation, Activation::Eager);
    assert_eq!(m.permissions, Permissions::default());
    assert_eq!(
        m.to_yaml_string(),
        "id: demo\nversion: 1.0.0\napi: '*'\nruntime: builtin\nentry: demo\n"
    );
}

#[test]
fn an_api_the_host_does_not_implement_is_left_to_the_resolver() {
    let text = MINIMAL.replace("id: demo", "id: demo\napi: \"^99\"");
    assert!(Manifest::from_yaml_str(&text, "plugin.yaml").is_ok());
}

#[test]
fn unknown_keys_get_a_did_you_mean_hint_at_the_key() {
    let p = one_problem(&format!("{MINIMAL}requries:\n  base: '1'\n"));
    assert_eq!(
        p.to_string(),
        "plugin.yaml:5:1: requries: unknown key `requries` (hint: did you mean `requires`?)"
    );
    let text = format!("{MINIMAL}provides:\n  - point: a.b\n    prio: 3\n");
    let p = one_problem(&text);
    assert_eq!((p.line, p.column), (Some(7), Some(5)));
    assert_eq!(p.field, "provides[0].prio");
    assert_eq!(p.hint.as_deref(), Some("did you mean `priority`?"));
    let p = one_problem(&format!("{MINIMAL}zzzzzz: 1\n"));
    assert!(p
        .hint
        .unwrap()
        .starts_with("valid keys here: `id`, `name`, `version`"));
}

#[test]
fn unknown_values_get_a_did_you_mean_hint_at_the_value() {
    let p = one_problem("id: demo\nversion: 1.0.0\nruntime: procss\nentry: demo\n");
    assert_eq!(
        p.to_string(),
        "plugin.yaml:3:10: runtime: unknown value `procss` (hint: did you mean `process`?)"
    );
}

#[test]
fn type_errors_name_the_field_and_the_value() {
    let text = format!("{MINIMAL}provides:\n  - point: a.b\n    priority: three\n");
    let p = one_problem(&text);
    assert_eq!(p.field, "provides[0].priority");
    assert_eq!((p.line, p.column), (Some(7), Some(15)));
    assert_eq!(p.message, "invalid type: string \"three\", expected i32");

    let p = one_problem("id: demo\nversion: one\nruntime: builtin\nentry: demo\n");
    assert_eq!(p.field, "version");
    assert_eq!((p.line, p.column), (Some(2), Some(10)));

    let p = one_problem(&format!("{MINIMAL}requires:\n  base-utils: 'not a req'\n"));
    assert_eq!(p.field, "requires.base-utils");
    assert_eq!((p.line, p.column), (Some(6), Some(15)));
}

#[test]
fn invalid_ids_explain_the_rule_in_the_hint() {
    let p = one_problem("id: Text-Tools\nversion: 1.0.0\nruntime: builtin\nentry: x\n");
    assert_eq!(
        p.to_string(),
        "plugin.yaml:1:5: id: invalid id \"Text-Tools\": character 'T' at position 1 is not allowed (upper case) \
         (hint: ids use lower-case letters, digits, '.', '_' and '-', and start with a letter or digit)"
    );
    let p = one_problem(&format!("{MINIMAL}requires:\n  Base: '1'\n"));
    assert_eq!(p.field, "requires.Base");
    assert_eq!((p.line, p.column), (Some(6), Some(3)));
}

#[test]
fn value_types_explain_their_spelling() {
    let text = "id: demo\nversion: 1.0.0\nruntime: wasm\nentry: a.wasm\nwasm:\n  timeout: soon\n";
    let p = one_problem(text);
    assert_eq!(p.field, "wasm.timeout");
    assert_eq!((p.line, p.column), (Some(6), Some(12)));
    assert_eq!(p.hint.as_deref(), Some("write for example 500ms, 1s or 2m"));
    let p = one_problem(&text.replace("timeout: soon", "memory_max: lots"));
    assert_eq!(p.field, "wasm.memory_max");
    assert!(p.hint.unwrap().starts_with("write for example 64MiB"));
    let p = one_problem(&format!("{MINIMAL}integrity: md5:abc\n"));
    assert_eq!(p.field, "integrity");
    assert_eq!((p.line, p.column), (Some(5), Some(12)));
}

#[test]
fn missing_keys_are_named() {
    let p = one_problem("id: demo\nversion: 1.0.0\nruntime: builtin\n");
    assert_eq!(p.field, "entry");
    assert_eq!(p.message, "missing required key `entry`");
    assert_eq!((p.line, p.column), (Some(1), Some(1)));
    let p = one_problem(&format!("{MINIMAL}extension_points:\n  - methods: [a]\n"));
    assert_eq!(p.field, "extension_points[0].id");
}

#[test]
fn syntax_errors_have_a_position() {
    let p = one_problem("id: demo\nversion: [1.0.0\nruntime: builtin\n");
    assert!(p.line.is_some() && p.column.is_some(), "{p}");
    assert!(!p.message.contains(" at line "), "{p}");
    let p = one_problem("id: demo\n\tversion: 1.0.0\n");
    assert!(p.line.is_some(), "{p}");
}

#[test]
fn empty_and_non_mapping_documents_are_refused() {
    for text in ["", "   \n", "# only a comment\n", "---\n", "~\n", "null"] {
        let p = one_problem(text);
        assert_eq!(p.message, "the document is empty", "{text:?}");
        assert!(p
            .hint
            .unwrap()
            .contains("`id`, `version`, `runtime` and `entry`"));
    }
    for text in ["hello", "[1, 2]", "42", "- id: demo\n"] {
        let p = one_problem(text);
        assert!(p.message.ends_with("expected a mapping"), "{text:?}: {p}");
        assert_eq!(p.field, "");
        assert!(p.hint.is_some());
    }
}

#[test]
fn duplicate_keys_are_reported_where_they_are_repeated() {
    let p = one_problem(&format!("{MINIMAL}id: other\n"));
    assert_eq!(p.field, "id");
    assert_eq!((p.line, p.column), (Some(5), Some(1)));
    assert!(p.message.contains("first at line 1"), "{p}");
    let p = one_problem(&format!("{MINIMAL}requires:\n  a: '1'\n  a: '2'\n"));
    assert_eq!(p.field, "requires.a");
    assert_eq!((p.line, p.column), (Some(7), Some(3)));
}

#[test]
fn hostile_input_is_refused_without_panicking() {
    let huge = format!(
        "{MINIMAL}description: '{}'\n",
        "x".repeat(MAX_DOCUMENT_BYTES)
    );
    let p = one_problem(&huge);
    assert!(p.message.contains("larger than 1 MiB"), "{p}");

    let deep = format!(
        "{MINIMAL}config:\n  schema: {}{}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let p = one_problem(&deep);
    assert!(p.line.is_some(), "{p}");

    let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                  g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    assert!(Manifest::from_yaml_str(laughs, "plugin.yaml").is_err());

    assert!(Manifest::from_yaml_str(&format!("{MINIMAL}---\n{MINIMAL}"), "p").is_err());
    assert!(Manifest::from_yaml_str("\u{feff}id: x\0", "p").is_err());
    assert!(Manifest::from_yaml_str("*unknown", "p").is_err());
    assert!(Manifest::from_yaml_str("!!binary AAAA", "p").is_err());
}

#[test]
fn aliases_and_a_byte_order_mark_are_understood() {
    let text = "\u{feff}id: &id demo\nversion: 1.0.0\nruntime: builtin\nentry: *id\n";
    let m = Manifest::from_yaml_str(text, "plugin.yaml").unwrap();
    assert_eq!(m.entry, "demo");
}

#[test]
fn the_full_manifest_round_trips() {
    let m = Manifest::from_yaml_str(FULL, "plugin.yaml").unwrap();
    let text = m.to_yaml_string();
    assert_eq!(Manifest::from_yaml_str(&text, "again.yaml").unwrap(), m);
    assert!(text.contains("memory_max: 64MiB"), "{text}");
    assert!(!text.contains("null"), "{text}");
}
