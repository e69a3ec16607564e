//! The semantic checks of `plugin.yaml`, each at the position of what it concerns.

use crate::manifest::tests::{one_problem, problems};
use crate::{Manifest, Problem};

const HEAD: &str = "id: demo\nversion: 1.0.0\n";

fn wasm(rest: &str) -> String {
    format!("{HEAD}runtime: wasm\nentry: demo.wasm\n{rest}")
}

fn spot(p: &Problem) -> (&str, Option<usize>, Option<usize>) {
    (p.field.as_str(), p.line, p.column)
}

#[test]
fn every_problem_is_reported_at_once_in_document_order() {
    let text = "\
id: demo
version: 1.0.0
runtime: process
entry: /usr/bin/demo
requires:
  demo: '1'
  other: '^2'
optional:
  other: '^2'
provides:
  - point: ''
  - point: Text.Transform
  - point: a.b
    methods: [x, x]
  - point: a.b
subscribes: ['', ok]
wasm:
  fuel: 0
permissions:
  net: [example.com]
";
    let all = problems(text);
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("entry", Some(4), Some(8)),
            ("requires.demo", Some(6), Some(3)),
            ("optional.other", Some(9), Some(3)),
            ("provides[0].point", Some(11), Some(12)),
            ("provides[1].point", Some(12), Some(12)),
            ("provides[2].methods[1]", Some(14), Some(18)),
            ("provides[3].point", Some(15), Some(12)),
            ("subscribes[0]", Some(16), Some(14)),
            ("wasm", Some(18), Some(3)),
            ("wasm.fuel", Some(18), Some(9)),
            ("permissions.net[0]", Some(20), Some(9)),
        ],
        "{all:#?}"
    );
    let errors = Manifest::from_yaml_str(text, "plugin.yaml").unwrap_err();
    assert_eq!(errors.to_string().lines().count(), 11);
    assert_eq!(
        errors.problems()[8].to_string(),
        "plugin.yaml:18:3: wasm: `wasm:` settings apply to `runtime: wasm`, but this plugin has \
         `runtime: process` (hint: remove the `wasm:` section, or set `runtime: wasm`)"
    );
}

#[test]
fn the_entry_must_be_given() {
    for runtime in ["builtin", "wasm", "process", "native"] {
        let p = one_problem(&format!("{HEAD}runtime: {runtime}\nentry: ''\n"));
        assert_eq!(spot(&p), ("entry", Some(4), Some(8)));
        assert_eq!(p.message, "the entry is empty");
        assert!(p.hint.is_some());
    }
}

#[test]
fn artifact_entries_stay_inside_the_plugin_directory() {
    for (entry, fragment) in [
        ("/opt/demo.wasm", "absolute"),
        ("C:/demo.wasm", "absolute"),
        ("../demo.wasm", "climbs out"),
        ("lib/../../demo.wasm", "climbs out"),
        ("'bin\\demo.wasm'", "separator"),
        ("~/demo.wasm", "`~`"),
        ("bin/", "directory"),
    ] {
        let p = one_problem(&format!("{HEAD}runtime: wasm\nentry: {entry}\n"));
        assert_eq!(spot(&p), ("entry", Some(4), Some(8)), "{entry}");
        assert!(p.message.contains(fragment), "{entry}: {p}");
    }
    let ok = format!("{HEAD}runtime: process\nentry: bin/demo\n");
    assert!(Manifest::from_yaml_str(&ok, "p").is_ok());
    // A builtin entry is a registered name, not a path; only whitespace is suspicious.
    let p = one_problem(&format!("{HEAD}runtime: builtin\nentry: 'text tools'\n"));
    assert!(p.message.contains("whitespace"));
    let ok = format!("{HEAD}runtime: builtin\nentry: crate::Demo\n");
    assert!(Manifest::from_yaml_str(&ok, "p").is_ok());
}

#[test]
fn dependencies_on_itself_or_in_both_lists_are_refused() {
    let p = one_problem(&wasm("optional:\n  demo: '*'\n"));
    assert_eq!(spot(&p), ("optional.demo", Some(6), Some(3)));
    assert_eq!(p.message, "the plugin `demo` depends on itself");
    let p = one_problem(&wasm("requires:\n  a: '1'\noptional:\n  a: '1'\n"));
    assert_eq!(spot(&p), ("optional.a", Some(8), Some(3)));
    assert!(p.hint.unwrap().contains("requires:"));
}

#[test]
fn provided_points_are_valid_and_unique() {
    let p = one_problem(&wasm(
        "provides:\n  - point: a\n  - {point: b}\n  - point: a\n",
    ));
    assert_eq!(spot(&p), ("provides[2].point", Some(8), Some(12)));
    assert_eq!(
        p.hint.as_deref(),
        Some("it is already at provides[0]; list all its methods in one entry")
    );
    let p = one_problem(&wasm("provides:\n  - point: a\n    methods: [run, '']\n"));
    assert_eq!(spot(&p), ("provides[0].methods[1]", Some(7), Some(20)));
    assert_eq!(p.message, "the method is empty");
}

#[test]
fn declared_points_are_valid_and_unique() {
    let text = wasm(
        "extension_points:\n  - id: demo.x\n  - id: demo.x\n    methods: [a, a]\n  - id: -bad\n",
    );
    let all = problems(&text);
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("extension_points[1].id", Some(7), Some(9)),
            ("extension_points[1].methods[1]", Some(8), Some(18)),
            ("extension_points[2].id", Some(9), Some(9)),
        ]
    );
    assert!(all[2].message.contains("at the start"), "{}", all[2]);
}

#[test]
fn subscriptions_are_not_empty_or_repeated() {
    let all = problems(&wasm("subscribes:\n  - a\n  - ' '\n  - a\n"));
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("subscribes[1]", Some(7), Some(5)),
            ("subscribes[2]", Some(8), Some(5))
        ]
    );
}

#[test]
fn the_config_schema_describes_a_mapping() {
    let p = one_problem(&wasm("config:\n  schema: [1]\n"));
    assert_eq!(spot(&p), ("config.schema", Some(6), Some(11)));
    assert!(p.message.contains("is a list"), "{p}");
    let p = one_problem(&wasm("config:\n  schema:\n    type: string\n"));
    assert_eq!(spot(&p), ("config.schema.type", Some(7), Some(11)));
    assert_eq!(p.hint.as_deref(), Some("write `type: object`"));
    let all = problems(&wasm(
        "config:\n  schema:\n    properties:\n      a: 3\n    required: a\n    additionalProperties: 1\n    $schema: 2\n",
    ));
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("config.schema.properties.a", Some(8), Some(10)),
            ("config.schema.required", Some(9), Some(15)),
            ("config.schema.additionalProperties", Some(10), Some(27)),
            ("config.schema.$schema", Some(11), Some(14)),
        ]
    );
    for ok in [
        "true",
        "false",
        "{}",
        "{type: object, properties: {a: true}, required: [a]}",
    ] {
        let text = wasm(&format!("config:\n  schema: {ok}\n"));
        assert!(Manifest::from_yaml_str(&text, "p").is_ok(), "{ok}");
    }
}

#[test]
fn an_isolated_native_plugin_may_set_its_process() {
    let text = format!(
        "{HEAD}runtime: native\nentry: lib.so\nnative:\n  isolation: process\nprocess:\n  restart: {{policy: always, max: 3}}\n"
    );
    assert!(Manifest::from_yaml_str(&text, "p").is_ok());
    let p = one_problem(&format!(
        "{HEAD}runtime: native\nentry: lib.so\nprocess:\n  call_timeout: 5s\n"
    ));
    assert_eq!(
        p.hint.as_deref(),
        Some("remove the `process:` section, or set `runtime: process`")
    );
}

#[test]
fn runtime_sections_match_the_runtime() {
    let p = one_problem(&format!(
        "{HEAD}runtime: process\nentry: bin/x\nwasm:\n  fuel: 5\n"
    ));
    assert_eq!(spot(&p), ("wasm", Some(6), Some(3)));
    assert_eq!(
        p.hint.as_deref(),
        Some("remove the `wasm:` section, or set `runtime: wasm`")
    );
    let p = one_problem(&format!("{HEAD}runtime: builtin\nentry: x\nnative: {{}}\n"));
    assert_eq!(spot(&p), ("native", Some(5), Some(9)));
    let p = one_problem(&format!(
        "{HEAD}runtime: builtin\nentry: x\nintegrity: sha256:{}\n",
        "0".repeat(64)
    ));
    assert_eq!(spot(&p), ("integrity", Some(5), Some(12)));
}

#[test]
fn runtime_settings_are_usable() {
    let all = problems(&wasm("wasm:\n  memory_max: 0\n  timeout: 0s\n"));
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("wasm.memory_max", Some(6), Some(15)),
            ("wasm.timeout", Some(7), Some(12))
        ]
    );
    let text = format!(
        "{HEAD}runtime: process\nentry: bin/x\nprocess:\n  env: {{'A-B': x}}\n  handshake:\n    cookie_key: ''\n    cookie_value: ''\n    versions: []\n  restart: {{policy: on-failure, window: 0s}}\n  start_timeout: 0s\n  call_timeout: 0ms\n"
    );
    let all = problems(&text);
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("process.env.A-B", Some(6), Some(9)),
            ("process.handshake.cookie_key", Some(8), Some(17)),
            ("process.handshake.cookie_value", Some(9), Some(19)),
            ("process.handshake.versions", Some(10), Some(15)),
            ("process.restart.window", Some(11), Some(41)),
            ("process.start_timeout", Some(12), Some(18)),
            ("process.call_timeout", Some(13), Some(17)),
        ]
    );
}

#[test]
fn process_keys_are_suggested_when_misspelt() {
    let text = format!("{HEAD}runtime: process\nentry: bin/x\nprocess:\n  start_timout: 5s\n");
    let err = Manifest::from_yaml_str(&text, "plugin.yaml").unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("start_timeout"), "{shown}");
    assert!(shown.contains("plugin.yaml:6:3"), "{shown}");
}

#[test]
fn permissions_are_relative_and_well_formed() {
    let text = wasm(
        "permissions:\n  fs:\n    read: [/etc/passwd, data]\n    write: ['../up']\n  net: ['example.com:99999', '*:*']\n  env: ['1X']\n",
    );
    let all = problems(&text);
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("permissions.fs.read[0]", Some(7), Some(12)),
            ("permissions.fs.write[0]", Some(8), Some(13)),
            ("permissions.net[0]", Some(9), Some(9)),
            ("permissions.env[0]", Some(10), Some(9)),
        ]
    );
    assert!(all[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("relative to the plugin directory"));
}

#[test]
fn validate_checks_a_manifest_built_in_code() {
    let mut m = Manifest::for_bare_artifact("demo.wasm").unwrap();
    assert!(m.validate("built").is_ok());
    m.entry = "/abs.wasm".into();
    let errors = m.validate("built").unwrap_err();
    assert_eq!(errors.first().line, None);
    assert_eq!(
        errors.to_string(),
        "built: entry: \"/abs.wasm\" is an absolute path (hint: write it relative to the plugin directory, like `data/cache`)"
    );
}

#[test]
fn ui_panel_paths_stay_inside_the_plugin_directory() {
    let ok = wasm("ui: { entry: ui/index.js, title: Text tools, icon: ui/icon.svg }\n");
    let m = Manifest::from_yaml_str(&ok, "p").expect("a valid ui section");
    let ui = m.ui.expect("the ui section is kept");
    assert_eq!(ui.entry, "ui/index.js");
    assert_eq!(ui.title.as_deref(), Some("Text tools"));
    assert_eq!(ui.icon.as_deref(), Some("ui/icon.svg"));
    for (ui, field, line, column, fragment) in [
        ("ui:\n  entry: ../x.js\n", "ui.entry", 6, 10, "climbs out"),
        ("ui:\n  entry: /x.js\n", "ui.entry", 6, 10, "absolute"),
        (
            "ui:\n  entry: a.js\n  icon: ui/\n",
            "ui.icon",
            7,
            9,
            "directory",
        ),
        (
            "ui:\n  entry: a.js\n  title: ' '\n",
            "ui.title",
            7,
            10,
            "empty",
        ),
    ] {
        let p = one_problem(&wasm(ui));
        assert_eq!(spot(&p), (field, Some(line), Some(column)), "{ui}");
        assert!(p.message.contains(fragment), "{ui}: {p}");
    }
}

#[test]
fn ui_panel_keys_are_checked_with_a_hint() {
    let p = one_problem(&wasm("ui:\n  entry: a.js\n  titel: Demo\n"));
    assert_eq!(p.line, Some(7));
    assert!(p.message.contains("unknown key `titel`"), "{p}");
    assert_eq!(p.hint.as_deref(), Some("did you mean `title`?"));
}

#[test]
fn platforms_give_an_entry_per_os_and_arch() {
    let text = "id: hash\nversion: 1.0.0\nruntime: native\nplatforms:\n  linux-x86_64: lib/linux-x86_64/libhash.so\n  macos-aarch64: {entry: lib/macos/libhash.dylib, integrity: 'sha256:0000000000000000000000000000000000000000000000000000000000000000'}\n";
    let m = Manifest::from_yaml_str(text, "plugin.yaml").unwrap();
    assert_eq!(m.entry, "", "no portable entry");
    let mac = m.for_platform("macos-aarch64").unwrap();
    assert_eq!(mac.entry, "lib/macos/libhash.dylib");
    assert!(mac.integrity.is_some());
    let err = m.for_platform("windows-x86_64").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hash 1.0.0 has no entry for this platform, windows-x86_64; it is built for \
         linux-x86_64, macos-aarch64. Install a build for windows-x86_64, or ask its publisher \
         for one"
    );
    // Written out and read back unchanged.
    let again = Manifest::from_yaml_str(&m.to_yaml_string(), "again.yaml").unwrap();
    assert_eq!(again, m);
    // A portable entry is the fallback.
    let m = Manifest::from_yaml_str(
        &format!(
            "{}entry: hash.wasm\n",
            text.replace("runtime: native", "runtime: wasm")
        ),
        "plugin.yaml",
    )
    .unwrap();
    assert_eq!(m.for_platform("windows-x86_64").unwrap().entry, "hash.wasm");
}

#[test]
fn platform_keys_and_paths_are_checked() {
    let head = "id: hash\nversion: 1.0.0\nruntime: process\nplatforms:\n";
    let p = one_problem(&format!("{head}  darwin-arm64: bin/tool\n"));
    assert_eq!(spot(&p), ("platforms.darwin-arm64", Some(5), Some(3)));
    assert_eq!(p.message, "\"darwin-arm64\" is not a platform");
    assert!(
        p.hint
            .as_deref()
            .unwrap()
            .starts_with("write `macos-aarch64`"),
        "{p}"
    );
    let p = one_problem(&format!("{head}  linux-x86_64: ../tool\n"));
    assert_eq!(p.field, "platforms.linux-x86_64");
    let digest = format!("sha256:{}", "0".repeat(64));
    let p = one_problem(&format!(
        "{head}  linux-x86_64: {{integrity: '{digest}'}}\n"
    ));
    assert!(p.message.contains("missing required key `entry`"), "{p}");
    let p = one_problem(
        "id: b\nversion: 1.0.0\nruntime: builtin\nentry: b\nplatforms:\n  linux-x86_64: x\n",
    );
    assert_eq!(p.field, "platforms");
    // Neither an entry nor platforms: the entry is missing, with a hint about both.
    let p = one_problem("id: b\nversion: 1.0.0\nruntime: process\n");
    assert_eq!(p.message, "missing required key `entry`");
    assert!(p.hint.unwrap().contains("platforms:"));
}
