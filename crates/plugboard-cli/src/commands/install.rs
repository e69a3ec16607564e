//! `plugboard install`, `update` and `uninstall`, and the installs `plugboard run` makes for
//! listed plugins that are missing.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use plugboard::manifest::HostConfig;
use plugboard::registry::{InstallOptions, Installer, Progress, Report, Want};

use super::config_path;
use crate::{Failure, Outcome};

/// Arguments of `install`.
#[derive(Debug, clap::Args)]
pub(crate) struct InstallArgs {
    /// Plugins to install, as `ID` or `ID@REQUIREMENT` (`sample-plugin@^1.2`), or package
    /// files (`.tar.gz` or `.tar.zst`, signed by `<file>.minisig`). Default: every plugin
    /// listed in config.yaml's `plugins:`.
    plugins: Vec<String>,
    /// Use only plugboard.lock and the local package cache; never the network.
    #[arg(long)]
    offline: bool,
}

/// Arguments of `update`.
#[derive(Debug, clap::Args)]
pub(crate) struct UpdateArgs {
    /// Plugins to move to the newest version their requirement allows. Default: every listed
    /// plugin.
    plugins: Vec<String>,
}

/// Arguments of `uninstall`.
#[derive(Debug, clap::Args)]
pub(crate) struct UninstallArgs {
    /// Plugins to remove from the install directory and plugboard.lock.
    #[arg(required = true)]
    plugins: Vec<String>,
}

/// Reads and validates the configuration for the registry commands.
pub(crate) fn load_config(path: &Path) -> Result<HostConfig, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Input(anyhow!(
            "{}: {e}; give the path of a config.yaml with --config",
            path.display()
        ))
    })?;
    HostConfig::from_yaml_str(&text, &path.display().to_string())
        .map_err(|e| Failure::Input(anyhow!(e)))
}

fn installer(path: &Path, options: InstallOptions) -> Result<Installer, Failure> {
    let config = load_config(path)?;
    let mut options = options;
    options.fetch.progress = Some(Arc::new(Bars::new()));
    Installer::new(path, &config, options).map_err(|e| Failure::Input(anyhow!(e)))
}

fn parse_wants(args: &[String]) -> Result<Vec<Want>, Failure> {
    args.iter()
        .map(|a| {
            let (id, req) = match a.split_once('@') {
                Some((id, req)) => {
                    let req = req.parse().map_err(|e| {
                        Failure::Input(anyhow!("{a}: {req:?} is not a version requirement ({e})"))
                    })?;
                    (id, Some(req))
                }
                None => (a.as_str(), None),
            };
            Ok(Want {
                id: id.to_owned(),
                version: req,
                source: None,
            })
        })
        .collect()
}

/// Fills in requirements from `plugins:` entries for plugins named without one.
fn with_listed(installer: &Installer, mut wants: Vec<Want>) -> Vec<Want> {
    let listed: BTreeMap<String, Want> = installer
        .listed()
        .into_iter()
        .map(|w| (w.id.clone(), w))
        .collect();
    for w in &mut wants {
        if w.version.is_none() {
            w.version = listed.get(&w.id).and_then(|l| l.version.clone());
        }
        if w.source.is_none() {
            w.source = listed.get(&w.id).and_then(|l| l.source.clone());
        }
    }
    wants
}

pub(crate) async fn install(args: InstallArgs, global: Option<PathBuf>) -> Outcome {
    let path = config_path(None, global)?;
    let options = InstallOptions {
        offline: args.offline,
        ..InstallOptions::default()
    };
    let mut installer = installer(&path, options)?;
    let is_file = |a: &String| Path::new(a).is_file() && is_package_file(Path::new(a));
    let files: Vec<PathBuf> = args
        .plugins
        .iter()
        .filter(|a| is_file(a))
        .map(PathBuf::from)
        .collect();
    let report = if !files.is_empty() {
        if files.len() != args.plugins.len() {
            return Err(Failure::Input(anyhow!(
                "install package files and plugin ids in separate commands"
            )));
        }
        installer.install_packages(&files).await
    } else {
        let wants = if args.plugins.is_empty() {
            installer.listed()
        } else {
            with_listed(&installer, parse_wants(&args.plugins)?)
        };
        installer.install(wants).await
    }
    .map_err(|e| Failure::Runtime(anyhow!(e)))?;
    print_report(&report, installer.install_dir());
    Ok(())
}

/// Whether `path` holds a package: gzip or zstd data by its first bytes, whatever its name.
fn is_package_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    plugboard::registry::Format::detect(&head[..n]).is_some()
}

pub(crate) async fn update(args: UpdateArgs, global: Option<PathBuf>) -> Outcome {
    let path = config_path(None, global)?;
    let wants = parse_wants(&args.plugins)?;
    let options = InstallOptions {
        update_all: wants.is_empty(),
        update: wants.iter().map(|w| w.id.clone()).collect(),
        ..InstallOptions::default()
    };
    let mut installer = installer(&path, options)?;
    let wants = if wants.is_empty() {
        installer.listed()
    } else {
        with_listed(&installer, wants)
    };
    let report = installer
        .install(wants)
        .await
        .map_err(|e| Failure::Runtime(anyhow!(e)))?;
    print_report(&report, installer.install_dir());
    Ok(())
}

pub(crate) fn uninstall(args: UninstallArgs, global: Option<PathBuf>) -> Outcome {
    let path = config_path(None, global)?;
    let mut installer = installer(&path, InstallOptions::default())?;
    let removed = installer
        .uninstall(&args.plugins)
        .map_err(|e| Failure::Input(anyhow!(e)))?;
    for id in removed {
        println!("removed {id}");
    }
    Ok(())
}

/// Before `plugboard run`: installs the listed plugins that no directory holds, when a
/// registry is configured. Offline, it says what to run instead.
pub(crate) async fn ensure_installed(path: &Path) -> Outcome {
    let Ok(config) = load_config(path) else {
        return Ok(()); // `run` reports the configuration's problems itself.
    };
    if config.all_sources().is_empty() || config.directories.external.is_empty() {
        return Ok(());
    }
    let mut installer = installer(path, InstallOptions::default())?;
    let missing = installer.missing();
    if missing.is_empty() {
        return Ok(());
    }
    if config.registry.offline {
        let ids: Vec<&str> = missing.iter().map(|w| w.id.as_str()).collect();
        return Err(Failure::Input(anyhow!(
            "{} listed in {} but not installed, and the registry is offline; run \
             `plugboard install` (or add them to plugboard.lock and the cache) first",
            ids.join(", "),
            path.display()
        )));
    }
    // A failed install installs nothing; the host then reports the plugins as missing, and
    // the rest of it still runs.
    match installer.install(missing).await {
        Ok(report) => {
            for p in &report.installed {
                eprintln!("installed {} {} from {}", p.id, p.version, p.source);
            }
        }
        Err(e) => eprintln!("warning: cannot install the missing plugins: {e}"),
    }
    Ok(())
}

fn print_report(report: &Report, dir: &Path) {
    for p in &report.installed {
        let signed = p
            .key
            .as_ref()
            .map_or("unsigned".to_owned(), |k| format!("signed by {k}"));
        let cache = if p.from_cache { ", from cache" } else { "" };
        let platform = p
            .platform
            .as_ref()
            .map(|pl| format!(", {pl} entry"))
            .unwrap_or_default();
        let source = p
            .source_name
            .as_ref()
            .map(|s| format!(", source {s}"))
            .unwrap_or_default();
        let by = p
            .required_by
            .as_ref()
            .map(|b| format!(", required by {b}"))
            .unwrap_or_default();
        println!(
            "installed {} {} ({}, {signed}{source}{platform}{cache}{by})",
            p.id, p.version, p.digest
        );
    }
    for (id, v) in &report.unchanged {
        println!("unchanged {id} {v}");
    }
    if report.installed.is_empty() && report.unchanged.is_empty() {
        println!("nothing to install (no plugins listed in config.yaml or named)");
    } else if !report.installed.is_empty() {
        println!("into {}", dir.display());
    }
}

/// Download progress: bars on a terminal, a line per finished download otherwise.
struct Bars {
    tty: bool,
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            multi: MultiProgress::new(),
            bars: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Progress for Bars {
    fn started(&self, label: &str, total: Option<u64>) {
        if !self.tty {
            return;
        }
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        let style = ProgressStyle::with_template("{msg:30} {bar:30} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = self
            .multi
            .add(bar.with_style(style).with_message(label.to_owned()));
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.to_owned(), bar);
    }

    fn advanced(&self, label: &str, bytes: u64) {
        if let Some(bar) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(label)
        {
            bar.inc(bytes);
        }
    }

    fn finished(&self, label: &str) {
        let bar = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(label);
        match bar {
            Some(bar) => bar.finish_and_clear(),
            None if !self.tty && !label.ends_with("signature") && label != "index.json" => {
                eprintln!("downloaded {label}");
            }
            None => {}
        }
    }
}
