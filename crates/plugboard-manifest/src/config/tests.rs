//! Parsing `config.yaml`.

use super::*;
use crate::Problem;

/// The host configuration of the original design notes, byte for byte.
pub(crate) const DESIGN: &str = "\
registry:
  url: 'https://github.com/{name}/{repository}/releases/download/{tag}'
  name: ''
  repository: ''
  tag: 'latest'
logging:
  level: 'DEBUG'            # CRITICAL, ERROR, WARNING, INFO, DEBUG (also the usual lower-case names)
plugins:
  - advance-plugin
  - sample-plugin
";

pub(crate) const EXTENDED: &str = "\
registry:
  url: 'oci://registry.example.com/plugins/{plugin}:{version}'
logging:
  level: info
directories:
  bundled: plugins
  external: [/opt/plugboard/plugins, ../shared-plugins]
state_dir: /var/lib/plugboard
plugins:
  - advance-plugin
  - id: sample-plugin
    version: '^1.2'
    enabled: false
    config:
      greeting: hello
      retries: 3
    grant:
      fs:
        read: [/srv/data]
      net: ['api.example.com:443']
      storage: true
  - 1234
hooks:
  timeout: 2s
pipeline:
  input: stdin
  steps:
    - plugin: sample-plugin
      method: transform
    - point: text.filter
      method: filter
  output: out/results.jsonl
";

pub(crate) fn config_problems(text: &str) -> Vec<Problem> {
    HostConfig::from_yaml_str(text, "config.yaml")
        .expect_err("the configuration should be refused")
        .into_problems()
}

pub(crate) fn one_config_problem(text: &str) -> Problem {
    let mut all = config_problems(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

#[test]
fn the_design_config_parses() {
    let c = HostConfig::from_yaml_str(DESIGN, "config.yaml").unwrap();
    assert_eq!(
        c.registry.url,
        "https://github.com/{name}/{repository}/releases/download/{tag}"
    );
    assert_eq!(c.registry.name, "");
    assert_eq!(c.registry.tag, "latest");
    assert_eq!(c.logging.level, LogLevel::Debug);
    let ids: Vec<&str> = c.plugins.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["advance-plugin", "sample-plugin"]);
    assert!(c.plugins.iter().all(|p| p.enabled && p.version.is_none()));
    assert_eq!(c.hooks, HookSettings::default());
    assert_eq!(c.pipeline, None);
}

#[test]
fn the_extended_config_parses() {
    let c = HostConfig::from_yaml_str(EXTENDED, "config.yaml").unwrap();
    assert_eq!(c.directories.bundled.as_deref(), Some(Path::new("plugins")));
    assert_eq!(c.directories.external.len(), 2);
    assert_eq!(
        c.state_dir.as_deref(),
        Some(Path::new("/var/lib/plugboard"))
    );
    let sample = c.plugin("sample-plugin").unwrap();
    assert!(!sample.enabled);
    assert_eq!(sample.version, Some(VersionReq::parse("^1.2").unwrap()));
    assert_eq!(sample.config.as_ref().unwrap()["retries"], 3);
    let grant = sample.grant.as_ref().unwrap();
    assert_eq!(grant.fs.read, ["/srv/data"]);
    assert!(grant.storage);
    assert!(
        c.plugin("1234").is_some(),
        "an all-digit id reads as a number"
    );
    assert_eq!(c.hooks.timeout, Duration(std::time::Duration::from_secs(2)));
    let pipeline = c.pipeline.as_ref().unwrap();
    assert_eq!(pipeline.input, Endpoint::Stdio);
    assert_eq!(pipeline.output, Endpoint::File("out/results.jsonl".into()));
    assert_eq!(pipeline.steps[1].point.as_deref(), Some("text.filter"));

    let again = HostConfig::from_yaml_str(&c.to_yaml_string(), "again.yaml").unwrap();
    assert_eq!(again, c);
}

#[test]
fn log_levels_take_every_spelling() {
    for (text, level) in [
        ("CRITICAL", LogLevel::Critical),
        ("fatal", LogLevel::Critical),
        ("ERROR", LogLevel::Error),
        ("WARNING", LogLevel::Warning),
        ("warn", LogLevel::Warning),
        ("Info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ] {
        let c = HostConfig::from_yaml_str(&format!("logging: {{level: {text}}}\n"), "c").unwrap();
        assert_eq!(c.logging.level, level, "{text}");
    }
    let p = one_config_problem("logging:\n  level: DEBG\n");
    assert_eq!(
        p.to_string(),
        "config.yaml:2:10: logging.level: unknown log level \"DEBG\" (hint: did you mean `DEBUG`?)"
    );
}

#[test]
fn errors_inside_a_plugin_entry_keep_their_field_and_position() {
    let p = one_config_problem("plugins:\n  - id: a\n    enabeld: false\n");
    assert_eq!(
        p.to_string(),
        "config.yaml:3:5: plugins[0].enabeld: unknown key `enabeld` (hint: did you mean `enabled`?)"
    );
    let p = one_config_problem("plugins:\n  - a\n  - id: b\n    version: 'x y'\n");
    assert_eq!(p.field, "plugins[1].version");
    assert_eq!((p.line, p.column), (Some(4), Some(14)));
    let p = one_config_problem("plugins:\n  - id: b\n    grant:\n      net: 3\n");
    assert_eq!(p.field, "plugins[0].grant.net");
    assert_eq!((p.line, p.column), (Some(4), Some(12)));
    let p = one_config_problem("plugins:\n  - id: B\n");
    assert_eq!(p.field, "plugins[0].id");
    assert_eq!((p.line, p.column), (Some(2), Some(9)));
    let p = one_config_problem("plugins:\n  - Bad\n");
    assert_eq!(p.field, "plugins[0]");
    assert_eq!((p.line, p.column), (Some(2), Some(5)));
    let p = one_config_problem("plugins:\n  - version: '1'\n");
    assert_eq!(p.field, "plugins[0].id");
    assert_eq!(p.message, "missing required key `id`");
    let p = one_config_problem("plugins:\n  - id: a\n    id: b\n");
    assert_eq!((p.line, p.column), (Some(3), Some(5)));
    let p = one_config_problem("plugins:\n  - [a]\n");
    assert!(
        p.message.contains("expected a plugin id, or a mapping"),
        "{p}"
    );
}

#[test]
fn unknown_top_level_keys_get_a_hint() {
    let p = one_config_problem("plugin:\n  - a\n");
    assert_eq!(p.hint.as_deref(), Some("did you mean `plugins`?"));
    let p = one_config_problem("hooks:\n  timout: 1s\n");
    assert_eq!(p.field, "hooks.timout");
    assert_eq!(p.hint.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn empty_and_odd_documents_are_refused() {
    let p = one_config_problem("");
    assert_eq!(p.message, "the document is empty");
    assert_eq!(
        p.hint.as_deref(),
        Some("write `{}` to accept every default")
    );
    assert_eq!(
        HostConfig::from_yaml_str("{}", "c").unwrap(),
        HostConfig::default()
    );
    assert!(one_config_problem("- a\n")
        .message
        .ends_with("expected a mapping"));
    let p = one_config_problem("pipeline:\n  input: stdin\n");
    assert_eq!(p.field, "pipeline.steps");
}

#[test]
fn paths_resolve_against_the_file_directory() {
    let mut c = HostConfig::from_yaml_str(EXTENDED, "config.yaml").unwrap();
    c.resolve_paths(Path::new("/etc/app"));
    assert_eq!(
        c.directories.bundled.as_deref(),
        Some(Path::new("/etc/app/plugins"))
    );
    assert_eq!(
        c.state_dir.as_deref(),
        Some(Path::new("/var/lib/plugboard"))
    );
    let mut d = HostConfig::default();
    d.resolve_paths(Path::new("/etc/app"));
    assert_eq!(
        d.state_dir.as_deref(),
        Some(Path::new("/etc/app/.plugboard"))
    );
}

#[test]
fn plugin_entries_serialize_compactly() {
    let c = HostConfig::from_yaml_str(DESIGN, "config.yaml").unwrap();
    let text = c.to_yaml_string();
    assert!(
        text.contains("plugins:\n- advance-plugin\n- sample-plugin\n"),
        "{text}"
    );
    assert_eq!(HostConfig::from_yaml_str(&text, "again").unwrap(), c);
}
