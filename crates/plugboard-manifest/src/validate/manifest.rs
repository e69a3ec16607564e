//! The semantic checks of `plugin.yaml`.

use std::collections::HashMap;

use serde_json::Value;

use super::{check_id, check_names, check_permissions, relative_path_problem, Report};
use crate::values::quoted;
use crate::{Manifest, RuntimeKind};

/// Runs every check on `m`.
pub(crate) fn check(m: &Manifest, r: &mut Report<'_>) {
    if m.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        r.value("name", "the name is empty")
            .set_hint("remove `name` to show the id instead");
    }
    check_entry(m, r);
    if m.integrity.is_some() && m.runtime == RuntimeKind::Builtin {
        r.value(
            "integrity",
            "a builtin plugin has no file whose digest could be checked",
        )
        .set_hint("remove `integrity`");
    }
    check_dependencies(m, r);
    check_provides(m, r);
    check_extension_points(m, r);
    check_names(r, "subscribes", &m.subscribes, "topic");
    if let Some(schema) = &m.config.schema {
        check_schema(r, "config.schema", schema);
    }
    check_runtime_sections(m, r);
    check_permissions(r, "permissions", &m.permissions, true);
    check_ui(m, r);
}

/// `ui:` paths stay inside the plugin directory: the dashboard serves nothing else.
fn check_ui(m: &Manifest, r: &mut Report<'_>) {
    let Some(ui) = &m.ui else { return };
    if ui.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        r.value("ui.title", "the title is empty")
            .set_hint("remove `title` to show the plugin's name instead");
    }
    let paths = [("ui.entry", Some(&ui.entry)), ("ui.icon", ui.icon.as_ref())];
    for (at, path) in paths {
        let Some(path) = path else { continue };
        if let Some((message, hint)) = relative_path_problem(path) {
            r.value(at, message).set_hint(hint);
        } else if matches!(path.rsplit('/').next(), Some("" | ".")) {
            r.value(
                at,
                format!("{} names a directory, not a file", quoted(path)),
            )
            .set_hint("write the path of the file itself, like `ui/index.js`");
        }
    }
}

/// Operating systems and architectures as Rust names them (`std::env::consts`), for the keys
/// of `platforms:`.
const OSES: [&str; 11] = [
    "linux",
    "macos",
    "windows",
    "freebsd",
    "netbsd",
    "openbsd",
    "dragonfly",
    "illumos",
    "solaris",
    "android",
    "ios",
];
const ARCHES: [&str; 12] = [
    "x86_64",
    "aarch64",
    "x86",
    "arm",
    "riscv64",
    "powerpc64",
    "s390x",
    "loongarch64",
    "mips",
    "mips64",
    "powerpc",
    "sparc64",
];

/// Names other tools use (Go, Docker, uname) for what Rust calls otherwise.
fn rust_name(part: &str) -> Option<&'static str> {
    Some(match part {
        "darwin" | "osx" | "mac" => "macos",
        "win" | "win32" | "win64" => "windows",
        "amd64" | "x64" => "x86_64",
        "arm64" => "aarch64",
        "i386" | "i686" | "386" => "x86",
        _ => return None,
    })
}

fn check_platforms(m: &Manifest, r: &mut Report<'_>) {
    if m.platforms.is_empty() {
        return;
    }
    if m.runtime == RuntimeKind::Builtin {
        r.value(
            "platforms",
            "a builtin plugin is compiled into the application and has no per-platform entries",
        )
        .set_hint("remove `platforms`");
        return;
    }
    for (key, p) in &m.platforms {
        let at = format!("platforms.{key}");
        let (os, arch) = key.split_once('-').unwrap_or((key, ""));
        let known = OSES.contains(&os) && ARCHES.contains(&arch);
        if !known {
            let fixed = |part: &str| rust_name(part).unwrap_or(part).to_owned();
            let guess = format!("{}-{}", fixed(os), fixed(arch));
            let hint = if guess != *key && OSES.contains(&fixed(os).as_str()) {
                format!("write `{guess}`: the names Rust uses (`linux-x86_64`, `macos-aarch64`, `windows-x86_64`)")
            } else {
                "write `<os>-<arch>` as Rust names them, like `linux-x86_64`, `macos-aarch64` or `windows-x86_64`".to_owned()
            };
            r.key(&at, format!("{} is not a platform", quoted(key)))
                .set_hint(hint);
        }
        if let Some((message, hint)) = relative_path_problem(&p.entry) {
            r.value(&at, message).set_hint(hint);
        } else if matches!(p.entry.rsplit('/').next(), Some("" | ".")) {
            r.value(
                &at,
                format!("{} names a directory, not a file", quoted(&p.entry)),
            )
            .set_hint("write the path of the artifact itself");
        }
    }
}

fn check_entry(m: &Manifest, r: &mut Report<'_>) {
    check_platforms(m, r);
    let entry = &m.entry;
    if entry.is_empty() && !m.platforms.is_empty() && m.runtime != RuntimeKind::Builtin {
        // Every platform the plugin runs on has its entry in `platforms`.
        return;
    }
    if entry.is_empty() && !r.has("entry") {
        r.value("entry", "missing required key `entry`").set_hint(
            "write the entry, or list one per platform under `platforms:` (`linux-x86_64: bin/my-plugin`)",
        );
        return;
    }
    if entry.trim().is_empty() {
        let hint = match m.runtime {
            RuntimeKind::Builtin => {
                "write the name under which the application registers the plugin"
            }
            RuntimeKind::Wasm => {
                "write the module's path in the plugin directory, like `plugin.wasm`"
            }
            RuntimeKind::Process => {
                "write the executable's path in the plugin directory, like `bin/my-plugin`"
            }
            RuntimeKind::Native => {
                "write the library's path in the plugin directory, like `libmy_plugin.so`"
            }
        };
        r.value("entry", "the entry is empty").set_hint(hint);
        return;
    }
    if m.runtime == RuntimeKind::Builtin {
        if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
            r.value(
                "entry",
                format!("the builtin name {} contains whitespace", quoted(entry)),
            )
            .set_hint("write the name exactly as the application registers it");
        }
        return;
    }
    if let Some((message, hint)) = relative_path_problem(entry) {
        r.value("entry", message).set_hint(hint);
    } else if matches!(entry.rsplit('/').next(), Some("" | ".")) {
        r.value(
            "entry",
            format!("{} names a directory, not a file", quoted(entry)),
        )
        .set_hint("write the path of the artifact itself");
    }
}

fn check_dependencies(m: &Manifest, r: &mut Report<'_>) {
    for (section, deps) in [("requires", &m.requires), ("optional", &m.optional)] {
        if deps.contains_key(&m.id) {
            r.key(
                &format!("{section}.{}", m.id),
                format!("the plugin `{}` depends on itself", m.id),
            )
            .set_hint("remove this entry");
        }
    }
    for id in m.optional.keys() {
        if m.requires.contains_key(id) && *id != m.id {
            r.key(
                &format!("optional.{id}"),
                format!("`{id}` is both required and optional"),
            )
            .set_hint("keep it under `requires:` if the plugin cannot work without it, else under `optional:`");
        }
    }
}

fn check_provides(m: &Manifest, r: &mut Report<'_>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, provide) in m.provides.iter().enumerate() {
        let at = format!("provides[{i}].point");
        check_id(r, &at, &provide.point, "extension point id");
        if !provide.point.is_empty() {
            if let Some(first) = seen.get(provide.point.as_str()) {
                r.value(
                    &at,
                    format!("the extension point `{}` is provided twice", provide.point),
                )
                .set_hint(format!(
                    "it is already at provides[{first}]; list all its methods in one entry"
                ));
            } else {
                seen.insert(&provide.point, i);
            }
        }
        check_names(
            r,
            &format!("provides[{i}].methods"),
            &provide.methods,
            "method",
        );
    }
}

fn check_extension_points(m: &Manifest, r: &mut Report<'_>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, point) in m.extension_points.iter().enumerate() {
        let at = format!("extension_points[{i}].id");
        check_id(r, &at, &point.id, "extension point id");
        if !point.id.is_empty() {
            if let Some(first) = seen.get(point.id.as_str()) {
                r.value(
                    &at,
                    format!("the extension point `{}` is declared twice", point.id),
                )
                .set_hint(format!(
                    "it is already declared at extension_points[{first}]"
                ));
            } else {
                seen.insert(&point.id, i);
            }
        }
        check_names(
            r,
            &format!("extension_points[{i}].methods"),
            &point.methods,
            "method",
        );
    }
}

/// The top level of a JSON Schema for a plugin's configuration, which is always a mapping.
/// Deeper levels are the schema validator's business when the host checks a configuration.
pub(crate) fn check_schema(r: &mut Report<'_>, path: &str, schema: &Value) {
    let map = match schema {
        Value::Bool(_) => return,
        Value::Object(map) => map,
        other => {
            r.value(
                path,
                format!(
                    "the schema is {}; a JSON Schema is a mapping or a boolean",
                    kind(other)
                ),
            )
            .set_hint("write for example `type: object` with `properties:`");
            return;
        }
    };
    if let Some(t) = map.get("type") {
        if t.as_str() != Some("object") {
            r.value(
                &format!("{path}.type"),
                format!("the schema's type is {t}, but a plugin's configuration is a mapping"),
            )
            .set_hint("write `type: object`");
        }
    }
    if let Some(properties) = map.get("properties") {
        match properties {
            Value::Object(props) => {
                for (name, sub) in props {
                    if !matches!(sub, Value::Object(_) | Value::Bool(_)) {
                        r.value(
                            &format!("{path}.properties.{name}"),
                            format!(
                                "the schema of property `{name}` is {}, not a mapping",
                                kind(sub)
                            ),
                        )
                        .set_hint("write for example `{type: string}`");
                    }
                }
            }
            other => {
                r.value(
                    &format!("{path}.properties"),
                    format!(
                        "`properties` is {}, not a mapping of names to schemas",
                        kind(other)
                    ),
                );
            }
        }
    }
    if let Some(required) = map.get("required") {
        let ok = required
            .as_array()
            .is_some_and(|names| names.iter().all(Value::is_string));
        if !ok {
            r.value(
                &format!("{path}.required"),
                "`required` must be a list of property names",
            );
        }
    }
    if let Some(extra) = map.get("additionalProperties") {
        if !matches!(extra, Value::Object(_) | Value::Bool(_)) {
            r.value(
                &format!("{path}.additionalProperties"),
                "`additionalProperties` must be a boolean or a schema",
            );
        }
    }
    if let Some(dialect) = map.get("$schema") {
        if !dialect.is_string() {
            r.value(&format!("{path}.$schema"), "`$schema` must be a URI");
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn check_runtime_sections(m: &Manifest, r: &mut Report<'_>) {
    let present = [
        ("wasm", RuntimeKind::Wasm, m.wasm.is_some()),
        ("process", RuntimeKind::Process, m.process.is_some()),
        ("native", RuntimeKind::Native, m.native.is_some()),
    ];
    // A native plugin under `isolation: process` runs in a supervised process: its `process:`
    // section sets the restart policy, timeouts, sandbox and environment of that process.
    let isolated = m.runtime == RuntimeKind::Native
        && m.native
            .as_ref()
            .is_some_and(|n| n.isolation == crate::NativeIsolation::Process);
    for (section, kind, is_present) in present {
        if is_present && m.runtime != kind && !(isolated && section == "process") {
            r.value(
                section,
                format!(
                    "`{section}:` settings apply to `runtime: {kind}`, but this plugin has `runtime: {}`",
                    m.runtime
                ),
            )
            .set_hint(format!(
                "remove the `{section}:` section, or set `runtime: {kind}`"
            ));
        }
    }
    if let Some(wasm) = &m.wasm {
        if wasm.memory_max.is_some_and(|b| b.0 == 0) {
            r.value(
                "wasm.memory_max",
                "a memory limit of 0 leaves no room to run",
            )
            .set_hint("write for example `64MiB`, or remove it for the host's limit");
        }
        if wasm.timeout.is_some_and(|d| d.0.is_zero()) {
            r.value("wasm.timeout", "a timeout of 0 fails every call")
                .set_hint("write for example `1s`, or remove it for the host's default");
        }
        if wasm.fuel == Some(0) {
            r.value("wasm.fuel", "a fuel budget of 0 allows no instruction")
                .set_hint("remove `fuel` for no budget");
        }
    }
    if let Some(process) = &m.process {
        for name in process.env.keys() {
            if let Some(message) = super::env_name_problem(name) {
                r.key(&format!("process.env.{name}"), message);
            }
        }
        if let Some(handshake) = &process.handshake {
            if let Some(message) = super::env_name_problem(&handshake.cookie_key) {
                r.value("process.handshake.cookie_key", message)
                    .set_hint("the magic cookie is passed in this environment variable");
            }
            if handshake.cookie_value.is_empty() {
                r.value(
                    "process.handshake.cookie_value",
                    "the magic cookie is empty",
                );
            }
            if handshake.versions.is_empty() {
                r.value(
                    "process.handshake.versions",
                    "no protocol version is offered",
                )
                .set_hint("write for example `[1]`");
            }
        }
        if let Some(restart) = &process.restart {
            if restart.window.is_some_and(|d| d.0.is_zero()) {
                r.value("process.restart.window", "a window of 0 counts no restart")
                    .set_hint("write for example `1m`");
            }
        }
        for (key, value) in [
            ("process.start_timeout", process.start_timeout),
            ("process.call_timeout", process.call_timeout),
        ] {
            if value.is_some_and(|d| d.0.is_zero()) {
                r.value(key, "a timeout of 0 lets nothing finish")
                    .set_hint("write for example `10s`");
            }
        }
    }
}

#[cfg(test)]
mod tests;
