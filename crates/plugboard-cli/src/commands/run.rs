//! `plugboard run`: the reference host application.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use plugboard::manifest::{Endpoint, Pipeline};
use plugboard::{Host, PluginState};

use super::{build_host, config_path};
use crate::output::status_table;
use crate::progress::StartProgress;
use crate::{Failure, Outcome, Register};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The host configuration. Default: --config, or ./config.yaml.
    config: Option<PathBuf>,
    /// Start, print the status table (and run the pipeline), then stop.
    #[arg(long)]
    once: bool,
    /// Watch the external plugin directories and apply changes live (hot reload). On by
    /// default when serving.
    #[arg(long, conflicts_with = "no_watch")]
    watch: bool,
    /// Do not watch the plugin directories.
    #[arg(long)]
    no_watch: bool,
}

pub(crate) async fn run(args: Args, global: Option<PathBuf>, register: Register) -> Outcome {
    let path = config_path(args.config, global)?;
    super::install::ensure_installed(&path).await?;
    let host = build_host(&path, register)?;
    let pipeline = host.config().pipeline.clone();
    let serving = pipeline.is_none() && !args.once;
    // Claimed before anything starts: a second host on the same state directory is refused.
    let _control = if serving {
        Some(super::control::serve(&host)?)
    } else {
        None
    };
    // With a pipeline writing to stdout, keep stdout for the data.
    let table_to_stderr = matches!(&pipeline, Some(p) if p.output == Endpoint::Stdio);

    let progress = StartProgress::begin(&host, "starting");
    let started = host.start().await;
    progress.finish().await;
    started.map_err(|e| Failure::Runtime(anyhow!(e)))?;

    let table = status_table(&host.statuses(), false);
    if table_to_stderr {
        eprint!("{table}");
    } else {
        print!("{table}");
        let _ = std::io::stdout().flush();
    }
    let failed: Vec<String> = host
        .statuses()
        .into_iter()
        .filter(|s| s.state == PluginState::Failed)
        .map(|s| s.id)
        .collect();

    let watching =
        !args.no_watch && (args.watch || serving) && !host.config().directories.external.is_empty();
    let _monitor = if watching {
        host.on_reload(|e| eprintln!("reload: {e}"));
        let monitor = host
            .watch(plugboard::WatchOptions::default())
            .map_err(|e| Failure::Runtime(anyhow!(e)))?;
        eprintln!(
            "watching {} for plugin changes ({})",
            monitor
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            monitor.kind()
        );
        Some(monitor)
    } else {
        None
    };

    let outcome = if let Some(p) = pipeline {
        run_pipeline(&host, &p).await
    } else if args.once {
        Ok(())
    } else {
        serve(&host).await
    };

    let stop_failures = stop_and_collect_failures(&host).await;
    outcome?;
    if !failed.is_empty() {
        return Err(Failure::Runtime(anyhow!(
            "{} plugin(s) failed to start: {}; see `plugboard logs ID` for each",
            failed.len(),
            failed.join(", ")
        )));
    }
    if !stop_failures.is_empty() {
        return Err(Failure::Runtime(anyhow!(
            "{} plugin(s) did not stop cleanly: {}",
            stop_failures.len(),
            stop_failures.join("; ")
        )));
    }
    Ok(())
}

/// Stops the host and returns `id: reason` for each plugin whose `stop` hook failed or timed
/// out, as seen by a lifecycle listener.
async fn stop_and_collect_failures(host: &Host) -> Vec<String> {
    let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = failures.clone();
    host.on_state_change(move |change| {
        if change.to == PluginState::Failed {
            if let Ok(mut f) = sink.lock() {
                f.push(format!(
                    "{}: {}",
                    change.id,
                    change.reason.as_deref().unwrap_or("failed")
                ));
            }
        }
    });
    host.stop().await;
    let collected = failures.lock().map(|f| f.clone()).unwrap_or_default();
    collected
}

/// Waits for SIGINT or SIGTERM, checking health every 10 seconds meanwhile.
async fn serve(host: &Host) -> Outcome {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    // Announced only once SIGTERM is handled: a supervisor that signals as soon as it reads this
    // line must not kill the host before its plugins are stopped.
    eprintln!("serving; press Ctrl-C (or send SIGTERM) to stop");
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        #[cfg(unix)]
        let terminated = term.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminated => break,
            _ = ticker.tick() => host.check_health().await,
        }
    }
    eprintln!("stopping");
    Ok(())
}

/// Reads one JSON value per line, passes it through every step, writes the result per line.
async fn run_pipeline(host: &Host, pipeline: &Pipeline) -> Outcome {
    let input: Box<dyn BufRead> = match &pipeline.input {
        Endpoint::Stdio => Box::new(std::io::stdin().lock()),
        Endpoint::File(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p)
                .with_context(|| format!("cannot open the pipeline input {}", p.display()))
                .map_err(Failure::Input)?,
        )),
    };
    let mut output: Box<dyn Write> = match &pipeline.output {
        Endpoint::Stdio => Box::new(std::io::stdout().lock()),
        Endpoint::File(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create the pipeline output {}", p.display()))
                .map_err(Failure::Input)?,
        )),
    };
    let steps: Vec<(
        Option<plugboard::PointHandle>,
        &plugboard::manifest::PipelineStep,
    )> = pipeline
        .steps
        .iter()
        .map(|s| match &s.point {
            Some(p) => host
                .point(p)
                .map(|h| (Some(h), s))
                .map_err(|e| Failure::Input(anyhow!(e).context("pipeline step"))),
            None => Ok((None, s)),
        })
        .collect::<Result<_, _>>()?;
    for (n, line) in input.lines().enumerate() {
        let line = line.context("cannot read the pipeline input")?;
        if line.trim().is_empty() {
            continue;
        }
        let record = n + 1;
        serde_json::from_str::<serde_json::Value>(&line)
            .with_context(|| format!("pipeline input, line {record}: not a JSON value"))
            .map_err(Failure::Input)?;
        let mut payload = line.into_bytes();
        for (i, (point, step)) in steps.iter().enumerate() {
            let result = match (point, &step.plugin) {
                (Some(point), _) => point
                    .call_one(&step.method, &payload)
                    .await
                    .map(|(_, out)| out),
                (None, Some(plugin)) => host.call(plugin.as_str(), &step.method, &payload).await,
                (None, None) => {
                    unreachable!("the manifest crate checks each step names a plugin or a point")
                }
            };
            payload = result.map_err(|e| {
                Failure::Runtime(anyhow!(
                    "pipeline record {record}, step {} ({}.{}): {e}",
                    i + 1,
                    step.plugin
                        .as_ref()
                        .map_or_else(|| step.point.clone().unwrap_or_default(), |p| p.to_string()),
                    step.method
                ))
            })?;
        }
        output
            .write_all(&payload)
            .context("cannot write the pipeline output")?;
        output
            .write_all(b"\n")
            .context("cannot write the pipeline output")?;
    }
    output.flush().context("cannot write the pipeline output")?;
    Ok(())
}
