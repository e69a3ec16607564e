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
    /// Serve the web dashboard at ADDR (default: `ui.listen` from the configuration, else
    /// 127.0.0.1:7070) and print its URL with the access token. With a pipeline, the host
    /// keeps serving after it.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
    ui: Option<String>,
    /// Let the dashboard listen on an address other machines can reach (plain HTTP: put a
    /// TLS proxy in front of it).
    #[arg(long)]
    ui_allow_remote: bool,
}

/// Where the dashboard listens, if it is served: `--ui [ADDR]`, else `ui:` in config.yaml.
fn dashboard_options(
    args: &Args,
    config: &plugboard::manifest::HostConfig,
) -> Result<Option<plugboard_dashboard::DashboardOptions>, Failure> {
    let configured = config.ui.as_ref();
    let listen = match (&args.ui, configured) {
        (Some(addr), _) if !addr.is_empty() => addr.clone(),
        (Some(_), Some(ui)) => ui.listen.clone(),
        (Some(_), None) => plugboard::manifest::DEFAULT_UI_LISTEN.to_owned(),
        (None, Some(ui)) => ui.listen.clone(),
        (None, None) => return Ok(None),
    };
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        Failure::Input(anyhow!(
            "--ui {listen:?}: not an address `ip:port`; write for example --ui 127.0.0.1:7070"
        ))
    })?;
    let remote = args.ui_allow_remote || configured.is_some_and(|u| u.allow_remote);
    Ok(Some(
        plugboard_dashboard::DashboardOptions::new()
            .listen(addr)
            .allow_remote(remote),
    ))
}

pub(crate) async fn run(args: Args, global: Option<PathBuf>, register: Register) -> Outcome {
    let path = config_path(args.config.clone(), global)?;
    super::install::ensure_installed(&path).await?;
    let host = build_host(&path, register)?;
    let pipeline = host.config().pipeline.clone();
    let dashboard = dashboard_options(&args, host.config())?;
    let serving = (pipeline.is_none() || dashboard.is_some()) && !args.once;
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
    // The dashboard serves only a host that keeps running.
    let _dashboard = match dashboard.filter(|_| serving) {
        Some(options) => match plugboard_dashboard::Dashboard::serve(host.clone(), options).await {
            Ok(running) => {
                eprintln!("dashboard: {}", running.url());
                Some(running)
            }
            Err(e) => {
                host.stop().await;
                return Err(Failure::Input(anyhow!(e)));
            }
        },
        None => None,
    };
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
        match run_pipeline(&host, &p).await {
            Ok(()) if serving => serve(&host).await,
            done => done,
        }
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
