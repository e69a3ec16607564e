//! `plugboard list`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;

use super::{build_host, config_path, control};
use crate::output::status_table;
use crate::progress::StartProgress;
use crate::{Failure, Outcome, Register};

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The host configuration. Default: --config, or ./config.yaml.
    config: Option<PathBuf>,
    /// Machine-readable output: an array of objects with id, version, runtime, state, health,
    /// reason, source (and more).
    #[arg(long)]
    json: bool,
    /// Also start the plugins, report state and health, then stop them.
    #[arg(long)]
    start: bool,
}

pub(crate) async fn run(args: Args, global: Option<PathBuf>, register: Register) -> Outcome {
    let path = config_path(args.config, global)?;
    // A running host answers with its live plugins (and versions, after hot reloads).
    if let Some(done) = control::forward(&path, &control::Request::List { json: args.json }) {
        return done;
    }
    let host = build_host(&path, register)?;
    if args.start {
        let progress = StartProgress::begin(&host, "starting");
        let started = host.start().await;
        progress.finish().await;
        started.map_err(|e| Failure::Runtime(anyhow!(e)))?;
        host.check_health().await;
    }
    let statuses = host.statuses();
    if args.start {
        host.stop().await;
    }
    render(&statuses, args.json, &mut std::io::stdout().lock())
}

/// Writes the `list` output for `statuses` to `o`.
pub(crate) fn render(
    statuses: &[plugboard::PluginStatus],
    json: bool,
    o: &mut dyn Write,
) -> Outcome {
    if json {
        out!(
            o,
            "{}",
            serde_json::to_string_pretty(statuses).map_err(|e| Failure::Runtime(e.into()))?
        );
    } else {
        let _ = write!(o, "{}", status_table(statuses, true));
    }
    Ok(())
}
