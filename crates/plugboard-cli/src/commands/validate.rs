//! `plugboard validate`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plugboard::manifest::{is_bare_artifact_name, HostConfig, Manifest};
use plugboard::{Host, MANIFEST_FILE};

use crate::{Failure, Outcome, Register};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// plugin.yaml files, plugin directories, directories of plugins, or config.yaml files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Default)]
struct Report {
    checked: usize,
    problems: Vec<String>,
}

pub(crate) fn run(args: Args, _global: Option<PathBuf>, register: Register) -> Outcome {
    let mut report = Report::default();
    for path in &args.paths {
        check_path(path, register, &mut report);
    }
    if report.problems.is_empty() {
        println!("ok: {} file(s) checked, no problems", report.checked);
        return Ok(());
    }
    for p in &report.problems {
        println!("{p}");
    }
    Err(Failure::Input(anyhow!(
        "{} problem(s) in {} file(s) checked",
        report.problems.len(),
        report.checked
    )))
}

fn check_path(path: &Path, register: Register, report: &mut Report) {
    if path.is_dir() {
        let manifest = path.join(MANIFEST_FILE);
        if manifest.is_file() {
            check_manifest(&manifest, report);
            return;
        }
        let mut found = false;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for sub in entries {
            let m = sub.join(MANIFEST_FILE);
            if m.is_file() {
                found = true;
                check_manifest(&m, report);
                continue;
            }
            // A bare artifact (`foo.wasm`, `libfoo.so`) is a plugin described by defaults.
            let name = sub.file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(name) = name.filter(|n| sub.is_file() && is_bare_artifact_name(n)) {
                found = true;
                report.checked += 1;
                if let Err(errors) = Manifest::for_bare_artifact(&name) {
                    report
                        .problems
                        .extend(errors.to_string().lines().map(str::to_owned));
                }
            }
        }
        if !found {
            report.problems.push(format!(
                "{}: no {MANIFEST_FILE} here nor in any subdirectory; give a plugin directory, a directory of plugins, or a file",
                path.display()
            ));
        }
        return;
    }
    if !path.exists() {
        report
            .problems
            .push(format!("{}: no such file or directory", path.display()));
        return;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == MANIFEST_FILE || name.ends_with(".plugin.yaml") {
        check_manifest(path, report);
    } else {
        check_config(path, register, report);
    }
}

fn read(path: &Path, report: &mut Report) -> Option<String> {
    report.checked += 1;
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            report
                .problems
                .push(format!("{}: cannot read: {e}", path.display()));
            None
        }
    }
}

fn check_manifest(path: &Path, report: &mut Report) {
    let Some(text) = read(path, report) else {
        return;
    };
    if let Err(errors) = Manifest::from_yaml_str(&text, &path.display().to_string()) {
        report
            .problems
            .extend(errors.to_string().lines().map(str::to_owned));
    }
}

/// A configuration is checked itself, then as a host would see it: every plugin it would
/// discover, every resolution problem, and every plugin's values against its schema, without
/// running plugin code.
fn check_config(path: &Path, register: Register, report: &mut Report) {
    let Some(text) = read(path, report) else {
        return;
    };
    if let Err(errors) = HostConfig::from_yaml_str(&text, &path.display().to_string()) {
        report
            .problems
            .extend(errors.to_string().lines().map(str::to_owned));
        return;
    }
    let host = match Host::builder()
        .config_file(path)
        .map(register)
        .map(super::with_runtimes)
        .and_then(|b| b.build())
    {
        Ok(h) => h,
        Err(e) => {
            report.problems.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    for s in host.statuses() {
        report.checked += usize::from(s.origin != "missing");
        if let Some(reason) = s.reason {
            let at = if s.origin == "missing" {
                path.display().to_string()
            } else {
                s.source.clone()
            };
            report.problems.push(format!(
                "{at}: {}: {}",
                s.id,
                reason.replace('\n', "\n    ")
            ));
        }
    }
    // Each plugin's values are checked against its schema as starting it would, which runs no
    // plugin code: a value that would fail the plugin is a problem of this file.
    for id in host.plugin_ids() {
        if let Err(e) = host.effective_config(id.as_str()) {
            let e = e.to_string().replace('\n', "\n    ");
            report.problems.push(format!(
                "{}: {id}: invalid configuration: {e}",
                path.display()
            ));
        }
    }
}
