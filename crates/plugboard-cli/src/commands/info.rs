//! `plugboard info`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use serde_json::json;

use super::{build_host, config_path, control};
use crate::{Failure, Outcome, Register};

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plugin's id.
    id: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args, global: Option<PathBuf>, register: Register) -> Outcome {
    let path = config_path(None, global)?;
    let request = control::Request::Info {
        id: args.id.clone(),
        json: args.json,
    };
    if let Some(done) = control::forward(&path, &request) {
        return done;
    }
    let host = build_host(&path, register)?;
    render(&host, &args.id, args.json, &mut std::io::stdout().lock())
}

/// Writes what `info` shows about plugin `id` of `host` to `o`.
pub(crate) fn render(host: &plugboard::Host, id: &str, json: bool, o: &mut dyn Write) -> Outcome {
    let args = Args {
        id: id.to_owned(),
        json,
    };
    let Some(d) = host.descriptor(&args.id) else {
        // Refused at discovery, or listed in the configuration but not installed: `list` shows
        // such rows, so `info` explains them too.
        if let Some(row) = host.statuses().into_iter().find(|s| s.id == args.id) {
            if args.json {
                out!(
                    o,
                    "{}",
                    serde_json::to_string_pretty(&row).map_err(|e| Failure::Runtime(e.into()))?
                );
            } else {
                out!(o, "{} ({} {})", row.id, row.origin, row.source);
                out!(
                    o,
                    "state:       {} ({})",
                    row.state,
                    row.reason.as_deref().unwrap_or("no reason recorded")
                );
            }
            return Ok(());
        }
        return Err(Failure::Input(anyhow!(
            "no plugin {:?} in this host; `plugboard list` shows the plugins it knows",
            args.id
        )));
    };
    let m = &d.manifest;
    let status = host.status(&args.id).expect("the plugin exists");
    let dep = |id: &plugboard::manifest::PluginId, req: &semver::VersionReq, optional: bool| {
        let found = host.descriptor(id.as_str());
        json!({
            "id": id.as_str(),
            "requirement": req.to_string(),
            "optional": optional,
            "found": found.map(|f| f.version().to_string()),
            "state": host.state(id.as_str()).map(|s| s.to_string()),
        })
    };
    let dependencies: Vec<_> = m
        .dependencies()
        .map(|(id, req, opt)| dep(id, req, opt))
        .collect();
    let dependents: Vec<_> = host
        .plugin_ids()
        .iter()
        .filter_map(|other| host.descriptor(other.as_str()))
        .filter(|o| o.manifest.requires.contains_key(m.id.as_str()) || o.manifest.optional.contains_key(m.id.as_str()))
        .map(|o| json!({ "id": o.id().as_str(), "optional": !o.manifest.requires.contains_key(m.id.as_str()) }))
        .collect();
    let provides: Vec<_> = host
        .provided_by(&args.id)
        .into_iter()
        .map(|(point, i)| json!({ "point": point, "methods": i.methods, "priority": i.priority }))
        .collect();
    let config = match host.effective_config(&args.id) {
        Ok(v) => json!({ "valid": true, "value": v }),
        Err(e) => json!({ "valid": false, "problems": e.to_string() }),
    };
    let granted = host.effective_permissions(&args.id);
    let sandbox = (m.runtime == plugboard::manifest::RuntimeKind::Process).then(|| {
        let off = m
            .process
            .as_ref()
            .is_some_and(|p| p.sandbox == plugboard::manifest::Toggle::Off);
        let support = plugboard::process::ProcessRuntime::sandbox_support();
        json!({
            "on": !off,
            "kernel": support.to_string(),
            "enforced": support.enforced(),
            "missing": support.missing(),
        })
    });
    let info = json!({
        "id": m.id.as_str(),
        "name": m.display_name(),
        "version": m.version.to_string(),
        "description": m.description,
        "api": m.api.to_string(),
        "runtime": m.runtime.to_string(),
        "entry": m.entry,
        "activation": m.activation,
        "source": status.source,
        "origin": status.origin,
        "bare": d.bare,
        "state": status.state,
        "reason": status.reason,
        "dependencies": dependencies,
        "dependents": dependents,
        "provides": provides,
        "extension_points": m.extension_points,
        "subscribes": m.subscribes,
        "permissions": { "requested": m.permissions, "granted": granted },
        "sandbox": sandbox,
        "config": config,
        "shadowed": status.shadowed,
        "warnings": status.warnings,
    });
    if args.json {
        out!(
            o,
            "{}",
            serde_json::to_string_pretty(&info).map_err(|e| Failure::Runtime(e.into()))?
        );
        return Ok(());
    }
    out!(o, "{} {} ({})", m.id, m.version, m.display_name());
    if let Some(desc) = &m.description {
        out!(o, "  {desc}");
    }
    out!(o, "runtime:     {} (entry {})", m.runtime, m.entry);
    out!(o, "api:         {}", m.api);
    if let Some(sb) = &sandbox {
        let kernel = sb["kernel"].as_str().unwrap_or_default();
        if sb["on"].as_bool() == Some(true) {
            out!(o, "sandbox:     on; this kernel enforces {kernel}");
        } else {
            out!(
                o,
                "sandbox:     OFF (`process.sandbox: off`); this kernel could enforce {kernel}"
            );
        }
    }
    out!(o, "source:      {} {}", status.origin, status.source);
    match &status.reason {
        Some(r) => out!(o, "state:       {} ({r})", status.state),
        None => out!(o, "state:       {}", status.state),
    }
    out!(o, "activation:  {:?}", m.activation);
    section(o, "dependencies", info["dependencies"].as_array(), |d| {
        format!(
            "{} {}{} -> {}",
            d["id"].as_str().unwrap_or_default(),
            d["requirement"].as_str().unwrap_or_default(),
            if d["optional"].as_bool() == Some(true) {
                " (optional)"
            } else {
                ""
            },
            d["found"]
                .as_str()
                .map_or("not installed".to_owned(), |v| format!(
                    "{v}, {}",
                    d["state"].as_str().unwrap_or("-")
                ))
        )
    });
    section(o, "dependents", info["dependents"].as_array(), |d| {
        format!(
            "{}{}",
            d["id"].as_str().unwrap_or_default(),
            if d["optional"].as_bool() == Some(true) {
                " (optional)"
            } else {
                ""
            }
        )
    });
    section(o, "provides", info["provides"].as_array(), |p| {
        format!(
            "{} {} priority {}",
            p["point"].as_str().unwrap_or_default(),
            p["methods"],
            p["priority"]
        )
    });
    if !m.extension_points.is_empty() {
        out!(o, "extension points:");
        for p in &m.extension_points {
            out!(
                o,
                "  {} {} ({:?}, {:?})",
                p.id,
                p.version,
                p.cardinality,
                p.codec
            );
        }
    }
    if !m.subscribes.is_empty() {
        out!(o, "subscribes:  {}", m.subscribes.join(", "));
    }
    out!(
        o,
        "permissions: requested {}",
        serde_json::to_string(&m.permissions).unwrap_or_default()
    );
    out!(
        o,
        "             granted   {}",
        serde_json::to_string(&granted).unwrap_or_default()
    );
    match host.effective_config(&args.id) {
        Ok(v) => out!(
            o,
            "config:      {}",
            serde_json::to_string_pretty(&v)
                .unwrap_or_default()
                .replace('\n', "\n             ")
        ),
        Err(e) => out!(
            o,
            "config:      INVALID\n  {}",
            e.to_string().replace('\n', "\n  ")
        ),
    }
    for n in status.shadowed.iter().chain(&status.warnings) {
        out!(o, "note:        {n}");
    }
    Ok(())
}

fn section(
    o: &mut dyn Write,
    title: &str,
    items: Option<&Vec<serde_json::Value>>,
    line: impl Fn(&serde_json::Value) -> String,
) {
    let items = items.map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        out!(o, "{title}: none");
        return;
    }
    out!(o, "{title}:");
    for i in items {
        out!(o, "  {}", line(i));
    }
}
