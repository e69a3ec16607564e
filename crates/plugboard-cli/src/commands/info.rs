//! `plugboard info`.

use std::path::PathBuf;

use anyhow::anyhow;
use serde_json::json;

use super::{build_host, config_path};
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
    let host = build_host(&path, register)?;
    let Some(d) = host.descriptor(&args.id) else {
        // Refused at discovery, or listed in the configuration but not installed: `list` shows
        // such rows, so `info` explains them too.
        if let Some(row) = host.statuses().into_iter().find(|s| s.id == args.id) {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&row).map_err(|e| Failure::Runtime(e.into()))?
                );
            } else {
                println!("{} ({} {})", row.id, row.origin, row.source);
                println!(
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
        "config": config,
        "shadowed": status.shadowed,
        "warnings": status.warnings,
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).map_err(|e| Failure::Runtime(e.into()))?
        );
        return Ok(());
    }
    println!("{} {} ({})", m.id, m.version, m.display_name());
    if let Some(desc) = &m.description {
        println!("  {desc}");
    }
    println!("runtime:     {} (entry {})", m.runtime, m.entry);
    println!("api:         {}", m.api);
    println!("source:      {} {}", status.origin, status.source);
    match &status.reason {
        Some(r) => println!("state:       {} ({r})", status.state),
        None => println!("state:       {}", status.state),
    }
    println!("activation:  {:?}", m.activation);
    section("dependencies", info["dependencies"].as_array(), |d| {
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
    section("dependents", info["dependents"].as_array(), |d| {
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
    section("provides", info["provides"].as_array(), |p| {
        format!(
            "{} {} priority {}",
            p["point"].as_str().unwrap_or_default(),
            p["methods"],
            p["priority"]
        )
    });
    if !m.extension_points.is_empty() {
        println!("extension points:");
        for p in &m.extension_points {
            println!(
                "  {} {} ({:?}, {:?})",
                p.id, p.version, p.cardinality, p.codec
            );
        }
    }
    if !m.subscribes.is_empty() {
        println!("subscribes:  {}", m.subscribes.join(", "));
    }
    println!(
        "permissions: requested {}",
        serde_json::to_string(&m.permissions).unwrap_or_default()
    );
    println!(
        "             granted   {}",
        serde_json::to_string(&granted).unwrap_or_default()
    );
    match host.effective_config(&args.id) {
        Ok(v) => println!(
            "config:      {}",
            serde_json::to_string_pretty(&v)
                .unwrap_or_default()
                .replace('\n', "\n             ")
        ),
        Err(e) => println!(
            "config:      INVALID\n  {}",
            e.to_string().replace('\n', "\n  ")
        ),
    }
    for n in status.shadowed.iter().chain(&status.warnings) {
        println!("note:        {n}");
    }
    Ok(())
}

fn section(
    title: &str,
    items: Option<&Vec<serde_json::Value>>,
    line: impl Fn(&serde_json::Value) -> String,
) {
    let items = items.map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        println!("{title}: none");
        return;
    }
    println!("{title}:");
    for i in items {
        println!("  {}", line(i));
    }
}
