//! The semantic checks of `config.yaml`.

use std::collections::HashMap;
use std::path::Path;

use super::{check_id, check_permissions, env_name_problem, Report};
use crate::parse::suggestion;
use crate::values::quoted;
use crate::{AuthConfig, Endpoint, HostConfig, REGISTRY_SOURCE};

/// The placeholders a registry URL template may use.
pub(crate) const URL_PLACEHOLDERS: [&str; 7] = [
    "name",
    "repository",
    "tag",
    "plugin",
    "version",
    "os",
    "arch",
];

/// The URL schemes the registry understands.
const URL_SCHEMES: [&str; 4] = ["https", "http", "oci", "file"];

/// Runs every check on `c`.
pub(crate) fn check(c: &HostConfig, r: &mut Report<'_>) {
    check_registry_url(r, "registry.url", &c.registry.url);
    for (i, key) in c.registry.trusted_keys.iter().enumerate() {
        check_public_key(r, &format!("registry.trusted_keys[{i}]"), key);
    }
    if let Some(auth) = &c.registry.auth {
        check_auth(r, "registry.auth", auth);
    }
    check_sources(c, r);
    check_plugins(c, r);
    if let Some(bundled) = &c.directories.bundled {
        check_dir(r, "directories.bundled", bundled);
    }
    let mut seen: HashMap<&Path, usize> = HashMap::new();
    for (i, dir) in c.directories.external.iter().enumerate() {
        let at = format!("directories.external[{i}]");
        check_dir(r, &at, dir);
        if let Some(first) = seen.get(dir.as_path()) {
            r.value(&at, "the directory is listed twice")
                .set_hint(format!("it is already at directories.external[{first}]"));
        } else {
            seen.insert(dir, i);
        }
    }
    if let Some(state) = &c.state_dir {
        check_dir(r, "state_dir", state);
    }
    if c.hooks.timeout.0.is_zero() {
        r.value("hooks.timeout", "a timeout of 0 fails every hook")
            .set_hint("write for example `10s`");
    }
    check_pipeline(c, r);
    check_ui(c, r);
}

fn check_ui(c: &HostConfig, r: &mut Report<'_>) {
    let Some(ui) = &c.ui else { return };
    match ui.listen.parse::<std::net::SocketAddr>() {
        Err(_) => {
            r.value(
                "ui.listen",
                format!("{} is not an address `ip:port`", quoted(&ui.listen)),
            )
            .set_hint("write for example `127.0.0.1:7070` or `[::1]:7070`");
        }
        Ok(addr) if !addr.ip().is_loopback() && !ui.allow_remote => {
            r.value(
                "ui.listen",
                format!(
                    "{addr} is reachable from other machines, and the dashboard can stop plugins"
                ),
            )
            .set_hint("listen on 127.0.0.1, or add `allow_remote: true` if you mean it");
        }
        Ok(_) => {}
    }
}

fn check_dir(r: &mut Report<'_>, path: &str, dir: &Path) {
    let hint = "write a path relative to this file's directory, or an absolute path";
    if dir.as_os_str().is_empty() {
        r.value(path, "the directory is empty").set_hint(hint);
    } else if dir.to_string_lossy().starts_with('~') {
        r.value(path, "the directory starts with `~`, which is not expanded")
            .set_hint(hint);
    }
}

fn check_sources(c: &HostConfig, r: &mut Report<'_>) {
    for (name, source) in &c.sources {
        let at = format!("sources.{name}");
        if name == REGISTRY_SOURCE {
            r.key(
                &at,
                format!("the source name `{REGISTRY_SOURCE}` is taken by the `registry:` section"),
            )
            .set_hint("give this source another name, or move it to `registry:`");
        } else if let Err(e) = crate::id::validate_id(name) {
            r.key(
                &at,
                format!("invalid source name {}: {}", quoted(name), e.problem),
            )
            .set_hint("source names use lower-case letters, digits, '.', '_' and '-'");
        }
        if source.url.is_empty() {
            r.value(&format!("{at}.url"), "the source has no URL")
                .set_hint(
                "write for example `url: 'oci://registry.example.com/plugins/{plugin}:{version}'`",
            );
        }
        check_registry_url(r, &format!("{at}.url"), &source.url);
        for (i, key) in source.trusted_keys.iter().enumerate() {
            check_public_key(r, &format!("{at}.trusted_keys[{i}]"), key);
        }
        if let Some(auth) = &source.auth {
            check_auth(r, &format!("{at}.auth"), auth);
        }
    }
}

fn check_auth(r: &mut Report<'_>, at: &str, auth: &AuthConfig) {
    let vars = [
        ("username_env", &auth.username_env),
        ("password_env", &auth.password_env),
        ("token_env", &auth.token_env),
    ];
    for (key, var) in vars {
        if let Some(problem) = var.as_deref().and_then(env_name_problem) {
            r.value(&format!("{at}.{key}"), problem).set_hint(
                "name the environment variable that holds the secret, like `REGISTRY_PASSWORD`",
            );
        }
    }
    let user = auth.username.is_some() || auth.username_env.is_some();
    if auth.username.is_some() && auth.username_env.is_some() {
        r.value(
            &format!("{at}.username_env"),
            "both `username` and `username_env` are set",
        )
        .set_hint("keep one of them");
    }
    match (&auth.token_env, user, &auth.password_env) {
        (Some(_), true, _) | (Some(_), _, Some(_)) => {
            r.value(at, "a token and a user name or password are both set")
                .set_hint("use `token_env` alone for a bearer token, or `username` and `password_env` for a login");
        }
        (None, true, None) => {
            r.value(at, "a user name without a password").set_hint(
                "add `password_env: VARIABLE`, the environment variable that holds the password",
            );
        }
        (None, false, Some(_)) => {
            r.value(at, "a password without a user name")
                .set_hint("add `username: NAME` (or `username_env`)");
        }
        (None, false, None) => {
            r.value(at, "no credentials").set_hint(
                "write `username` and `password_env`, or `token_env`; or remove `auth` to use Docker's config.json",
            );
        }
        _ => {}
    }
}

/// Checks a registry URL template at `at`: a supported scheme, a host, and known placeholders.
pub(crate) fn check_registry_url(r: &mut Report<'_>, at: &str, url: &str) {
    if url.is_empty() {
        return;
    }
    let example =
        "write for example `https://github.com/{name}/{repository}/releases/download/{tag}`";
    if url.chars().any(char::is_whitespace) {
        r.value(at, "the URL contains whitespace").set_hint(example);
    }
    match url.split_once("://") {
        None => {
            r.value(at, format!("{} is not a URL", quoted(url)))
                .set_hint(example);
        }
        Some((scheme, rest)) => {
            let scheme = scheme.to_ascii_lowercase();
            if !URL_SCHEMES.contains(&scheme.as_str()) {
                r.value(
                    at,
                    format!("the URL scheme {} is not supported", quoted(&scheme)),
                )
                .set_hint("use https, http, oci or file");
            } else if scheme != "file" && rest.split(['/', '?', '#']).next() == Some("") {
                r.value(at, "the URL has no host").set_hint(example);
            } else if scheme == "file" && rest.is_empty() {
                r.value(at, "the URL has no path")
                    .set_hint("write for example `file:///srv/plugins/{name}-{tag}.tar.gz`");
            }
        }
    }
    let mut rest = url;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            r.value(at, "the URL has a `}` without a matching `{`");
            break;
        }
        let Some(close) = rest[open..].find('}') else {
            r.value(at, "the URL has a `{` without a matching `}`");
            break;
        };
        let name = &rest[open + 1..open + close];
        if !URL_PLACEHOLDERS.contains(&name) {
            let known: Vec<String> = URL_PLACEHOLDERS
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect();
            let hint = suggestion(&format!("{{{name}}}"), &known, "known placeholders");
            r.value(
                at,
                format!("unknown placeholder {}", quoted(&format!("{{{name}}}"))),
            )
            .set_hint(hint);
        }
        rest = &rest[open + close + 1..];
    }
}

/// A minisign Ed25519 public key is 42 bytes in base64: 56 characters starting with `RW`.
fn check_public_key(r: &mut Report<'_>, at: &str, key: &str) {
    let key = key.trim();
    let base64 = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
    if key.len() != 56 || !key.starts_with("RW") || !base64 {
        r.value(at, "not a minisign public key").set_hint(
            "copy the second line of the key's .pub file (56 characters starting with `RW`)",
        );
    }
}

fn check_plugins(c: &HostConfig, r: &mut Report<'_>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, entry) in c.plugins.iter().enumerate() {
        // A bare name has no `id` key: its position is the list element itself.
        let at = format!("plugins[{i}]");
        let id_at = format!("plugins[{i}].id");
        if let Some(first) = seen.get(entry.id.as_str()) {
            r.value(&id_at, format!("the plugin `{}` is listed twice", entry.id))
                .set_hint(format!(
                    "it is already at plugins[{first}]; merge the two entries"
                ));
        } else {
            seen.insert(entry.id.as_str(), i);
        }
        if let Some(config) = &entry.config {
            if !config.is_object() {
                r.value(
                    &format!("{at}.config"),
                    "a plugin's configuration must be a mapping of settings",
                )
                .set_hint("write for example `config: {level: 3}`");
            }
        }
        if let Some(grant) = &entry.grant {
            check_permissions(r, &format!("{at}.grant"), grant, false);
        }
        if let Some(source) = &entry.source {
            let known: Vec<String> = c.all_sources().into_keys().collect();
            if !known.contains(source) {
                let hint = if known.is_empty() {
                    "configure it under `sources:` (or use `registry:`)".to_owned()
                } else {
                    suggestion(source, &known, "configured sources")
                };
                r.value(
                    &format!("{at}.source"),
                    format!("no source named {}", quoted(source)),
                )
                .set_hint(hint);
            }
        }
    }
}

fn check_pipeline(c: &HostConfig, r: &mut Report<'_>) {
    let Some(pipeline) = &c.pipeline else {
        return;
    };
    if pipeline.steps.is_empty() {
        r.value("pipeline.steps", "the pipeline has no steps")
            .set_hint("add a step such as `{plugin: my-plugin, method: transform}`");
    }
    for (i, step) in pipeline.steps.iter().enumerate() {
        let at = format!("pipeline.steps[{i}]");
        match (&step.plugin, &step.point) {
            (Some(_), Some(_)) => {
                r.value(&at, "the step names both `plugin` and `point`")
                    .set_hint("a step calls one plugin, or the implementation of one extension point; keep one of them");
            }
            (None, None) => {
                r.value(&at, "the step names neither `plugin` nor `point`")
                    .set_hint("add `plugin: <id>` or `point: <extension point id>`");
            }
            (None, Some(point)) => check_id(r, &format!("{at}.point"), point, "extension point id"),
            (Some(_), None) => {}
        }
        if step.method.trim().is_empty() {
            r.value(&format!("{at}.method"), "the method is empty")
                .set_hint("write the name of the method to call");
        }
    }
    let ends = [
        ("input", &pipeline.input, "stdin"),
        ("output", &pipeline.output, "stdout"),
    ];
    for (key, end, stdio) in ends {
        if let Endpoint::File(path) = end {
            if path.as_os_str().is_empty() {
                r.value(&format!("pipeline.{key}"), "the path is empty")
                    .set_hint(format!("write a file path, or `{stdio}`"));
            }
        }
    }
    if let (Endpoint::File(input), Endpoint::File(output)) = (&pipeline.input, &pipeline.output) {
        if input == output && !input.as_os_str().is_empty() {
            r.value(
                "pipeline.output",
                "the pipeline would overwrite its own input",
            )
            .set_hint("write the results to another file");
        }
    }
}

#[cfg(test)]
mod tests;
