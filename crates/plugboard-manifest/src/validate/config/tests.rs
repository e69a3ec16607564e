//! The semantic checks of `config.yaml`, each at the position of what it concerns.

use crate::config::tests::{config_problems, one_config_problem};
use crate::{HostConfig, PluginEntry, PluginId, Problem};

fn spot(p: &Problem) -> (&str, Option<usize>, Option<usize>) {
    (p.field.as_str(), p.line, p.column)
}

#[test]
fn every_problem_is_reported_at_once_in_document_order() {
    let text = "\
registry:
  url: 'ftp://example.com/{name}/{tga}'
plugins:
  - a
  - id: b
    config: [1]
    grant:
      net: [nowhere]
  - id: a
directories:
  external: ['', x, x]
state_dir: '~/state'
hooks:
  timeout: 0s
pipeline:
  steps:
    - {plugin: a, point: p, method: run}
    - {method: ''}
    - {point: Bad, method: m}
  input: data.jsonl
  output: data.jsonl
";
    let all = config_problems(text);
    let spots: Vec<_> = all.iter().map(spot).collect();
    assert_eq!(
        spots,
        [
            ("registry.url", Some(2), Some(8)),
            ("registry.url", Some(2), Some(8)),
            ("plugins[1].config", Some(6), Some(13)),
            ("plugins[1].grant.net[0]", Some(8), Some(13)),
            ("plugins[2].id", Some(9), Some(9)),
            ("directories.external[0]", Some(11), Some(14)),
            ("directories.external[2]", Some(11), Some(21)),
            ("state_dir", Some(12), Some(12)),
            ("hooks.timeout", Some(14), Some(12)),
            ("pipeline.steps[0]", Some(17), Some(7)),
            ("pipeline.steps[1]", Some(18), Some(7)),
            ("pipeline.steps[1].method", Some(18), Some(16)),
            ("pipeline.steps[2].point", Some(19), Some(15)),
            ("pipeline.output", Some(21), Some(11)),
        ],
        "{all:#?}"
    );
    assert_eq!(all[0].message, "the URL scheme \"ftp\" is not supported");
    assert_eq!(all[1].message, "unknown placeholder \"{tga}\"");
    assert_eq!(all[1].hint.as_deref(), Some("did you mean `{tag}`?"));
    assert_eq!(
        all[4].to_string(),
        "config.yaml:9:9: plugins[2].id: the plugin `a` is listed twice \
         (hint: it is already at plugins[0]; merge the two entries)"
    );
}

#[test]
fn a_bare_duplicate_is_reported_at_the_list_element() {
    let p = one_config_problem("plugins:\n  - a\n  - b\n  - a\n");
    assert_eq!(spot(&p), ("plugins[2].id", Some(4), Some(5)));
}

#[test]
fn registry_urls() {
    for ok in [
        "https://github.com/{name}/{repository}/releases/download/{tag}",
        "http://localhost:8080/{plugin}-{version}-{os}-{arch}.tar.gz",
        "oci://ghcr.io/acme/{plugin}:{version}",
        "file:///srv/plugins/{plugin}.tar.gz",
        "HTTPS://EXAMPLE.COM/x",
    ] {
        let text = format!("registry:\n  url: '{ok}'\n");
        assert!(HostConfig::from_yaml_str(&text, "c").is_ok(), "{ok}");
    }
    for (bad, message) in [
        ("github.com/{name}", "is not a URL"),
        ("https:///x", "no host"),
        ("file://", "no path"),
        ("https://x/{name", "without a matching `}`"),
        ("https://x/name}", "without a matching `{`"),
        ("https://x/{nam}", "unknown placeholder"),
        ("https://x/a b", "whitespace"),
    ] {
        let text = format!("registry:\n  url: '{bad}'\n");
        let p = one_config_problem(&text);
        assert!(p.message.contains(message), "{bad}: {p}");
        assert_eq!(spot(&p), ("registry.url", Some(2), Some(8)));
    }
}

#[test]
fn a_pipeline_needs_steps() {
    let p = one_config_problem("pipeline:\n  steps: []\n");
    assert_eq!(spot(&p), ("pipeline.steps", Some(2), Some(10)));
    let p = one_config_problem("pipeline:\n  steps: [{plugin: a, method: m}]\n  input: ''\n");
    assert_eq!(spot(&p), ("pipeline.input", Some(3), Some(10)));
    assert_eq!(p.hint.as_deref(), Some("write a file path, or `stdin`"));
}

#[test]
fn operators_may_grant_any_path() {
    let text = "plugins:\n  - id: a\n    grant:\n      fs: {read: [/etc/ssl, ../x], write: ['']}\n";
    let p = one_config_problem(text);
    assert_eq!(
        spot(&p),
        ("plugins[0].grant.fs.write[0]", Some(4), Some(44))
    );
}

#[test]
fn validate_checks_a_configuration_built_in_code() {
    let mut c = HostConfig::default();
    assert!(c.validate("built").is_ok());
    let a = PluginEntry::new(PluginId::new("a").unwrap());
    c.plugins = vec![a.clone(), a];
    let errors = c.validate("built").unwrap_err();
    assert_eq!(
        errors.to_string(),
        "built: plugins[1].id: the plugin `a` is listed twice (hint: it is already at plugins[0]; merge the two entries)"
    );
}

#[test]
fn registry_keys_and_switches() {
    let text = "registry:\n  url: 'oci://127.0.0.1:5000/p/{plugin}:{version}'\n  trusted_keys:\n    - RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3\n    - nope\n  allow_unsigned: true\n  offline: true\n";
    let p = one_config_problem(text);
    assert_eq!(spot(&p), ("registry.trusted_keys[1]", Some(5), Some(7)));
    assert!(p.message.contains("minisign public key"), "{p}");
    let ok = text.replace("    - nope\n", "");
    let config = HostConfig::from_yaml_str(&ok, "config.yaml").unwrap();
    assert!(config.registry.allow_unsigned && config.registry.offline);
    assert_eq!(config.registry.trusted_keys.len(), 1);
    let again = HostConfig::from_yaml_str(&config.to_yaml_string(), "again.yaml").unwrap();
    assert_eq!(again, config);
}

#[test]
fn the_dashboard_listens_on_loopback_unless_allowed() {
    let c = HostConfig::from_yaml_str("ui: {}\n", "config.yaml").expect("defaults");
    assert_eq!(c.ui.expect("present").listen, crate::DEFAULT_UI_LISTEN);
    let c = HostConfig::from_yaml_str("ui: { listen: '[::1]:8080' }\n", "c").expect("v6");
    assert_eq!(c.ui.expect("present").listen, "[::1]:8080");
    let p = one_config_problem("ui:\n  listen: 0.0.0.0:7070\n");
    assert_eq!(spot(&p), ("ui.listen", Some(2), Some(11)));
    assert!(
        p.hint
            .as_deref()
            .is_some_and(|h| h.contains("allow_remote")),
        "{p}"
    );
    let ok = "ui:\n  listen: 0.0.0.0:7070\n  allow_remote: true\n";
    assert!(HostConfig::from_yaml_str(ok, "c").is_ok());
    let p = one_config_problem("ui:\n  listen: localhost\n");
    assert!(p.message.contains("ip:port"), "{p}");
    let p = one_config_problem("ui:\n  lisen: 127.0.0.1:1\n");
    assert_eq!(p.hint.as_deref(), Some("did you mean `listen`?"));
}

/// The issue's single `registry:` plus named sources, each with its own trust and login.
const SOURCES: &str = "\
registry:
  url: 'https://github.com/{name}/{repository}/releases/download/{tag}'
  name: 'acme'
  repository: 'plugins'
  tag: 'latest'
sources:
  corp:
    url: 'oci://registry.corp.example/plugins/{plugin}:{version}'
    trusted_keys: ['RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3']
    auth:
      username: ci
      password_env: CORP_REGISTRY_PASSWORD
  ghcr:
    url: 'oci://ghcr.io/acme/{plugin}'
    allow_unsigned: true
    auth: {token_env: GHCR_TOKEN}
plugins:
  - advance-plugin
  - {id: corp-plugin, source: corp}
";

#[test]
fn named_sources_parse_and_round_trip() {
    let c = HostConfig::from_yaml_str(SOURCES, "config.yaml").unwrap();
    assert_eq!(c.default_source(), Some("registry"));
    let all = c.all_sources();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["corp", "ghcr", "registry"]);
    assert_eq!(all["registry"].name, "acme");
    let corp = &c.sources["corp"];
    assert_eq!(
        corp.auth.as_ref().unwrap().password_env.as_deref(),
        Some("CORP_REGISTRY_PASSWORD")
    );
    assert!(c.sources["ghcr"].allow_unsigned);
    assert_eq!(
        c.plugin("corp-plugin").unwrap().source.as_deref(),
        Some("corp")
    );
    assert_eq!(c.plugin("advance-plugin").unwrap().source, None);
    let again = HostConfig::from_yaml_str(&c.to_yaml_string(), "again.yaml").unwrap();
    assert_eq!(again, c);

    // Without `registry:`, a single source is the default; several are not.
    let one = HostConfig::from_yaml_str("sources:\n  a: {url: 'file:///srv/p'}\n", "c").unwrap();
    assert_eq!(one.default_source(), Some("a"));
    let two = HostConfig::from_yaml_str(
        "sources:\n  a: {url: 'file:///srv/p'}\n  b: {url: 'file:///srv/q'}\n",
        "c",
    )
    .unwrap();
    assert_eq!(two.default_source(), None);
}

#[test]
fn sources_auth_and_plugin_sources_are_checked() {
    let p = one_config_problem("sources:\n  corp:\n    url: 'oci://r.example/{plugn}'\n");
    assert_eq!(spot(&p), ("sources.corp.url", Some(3), Some(10)));
    assert_eq!(p.hint.as_deref(), Some("did you mean `{plugin}`?"));
    let p = one_config_problem(
        "sources:\n  corp:\n    url: 'oci://r.example/x'\n    alow_unsigned: true\n",
    );
    assert_eq!(p.field, "sources.corp.alow_unsigned");
    assert_eq!(p.hint.as_deref(), Some("did you mean `allow_unsigned`?"));
    let p = one_config_problem("sources:\n  registry:\n    url: 'oci://r.example/x'\n");
    assert!(
        p.message.contains("taken by the `registry:` section"),
        "{p}"
    );
    let p = one_config_problem("sources:\n  Corp:\n    url: 'oci://r.example/x'\n");
    assert!(p.message.starts_with("invalid source name"), "{p}");

    // Secrets are named by environment variables, never written in the file.
    let auth = |body: &str| {
        one_config_problem(&format!(
            "registry:\n  url: 'oci://r.example/{{plugin}}'\n  auth:\n{body}"
        ))
    };
    let p = auth("    username: ci\n    password: hunter2\n");
    assert_eq!(p.field, "registry.auth.password");
    assert_eq!(p.hint.as_deref(), Some("did you mean `password_env`?"));
    let p = auth("    username: ci\n");
    assert_eq!(p.message, "a user name without a password");
    let p = auth("    password_env: PW\n");
    assert_eq!(p.message, "a password without a user name");
    let p = auth("    token_env: T\n    username: ci\n");
    assert!(p.message.contains("both set"), "{p}");
    let p = auth("    token_env: 'not a var'\n");
    assert_eq!(p.field, "registry.auth.token_env");

    let p = one_config_problem(
        "sources:\n  corp: {url: 'oci://r.example/x'}\nplugins:\n  - {id: a, source: crop}\n",
    );
    assert_eq!(spot(&p), ("plugins[0].source", Some(4), Some(21)));
    assert_eq!(p.message, "no source named \"crop\"");
    assert_eq!(p.hint.as_deref(), Some("did you mean `corp`?"));
}

#[test]
fn the_issue_registry_form_is_unchanged() {
    let text = "registry:\n  url: 'https://github.com/{name}/{repository}/releases/download/{tag}'\n  name: 'acme'\n  repository: 'plugins'\n  tag: 'latest'\nplugins:\n  - advance-plugin\n  - sample-plugin\n";
    let c = HostConfig::from_yaml_str(text, "config.yaml").unwrap();
    assert!(c.sources.is_empty());
    assert_eq!(c.default_source(), Some("registry"));
    let _ = PluginEntry::new(PluginId::new("x").unwrap());
    assert!(config_problems("registry: {url: 'ftp://x/y'}\n").len() == 1);
}
