//! The `plugboard` command line, as a library so that an application (or a test) can build its
//! own `plugboard` with its own builtin plugins: `main_with(|builder| builder.builtin(...))`.
//!
//! Exit codes: 0 on success, 1 on a runtime failure (a plugin failed, a call failed), 2 on
//! invalid input or usage.

/// `writeln!` for command output: a closed stdout (a pipe into `head`) is not an error worth
/// reporting, and a `Vec<u8>` (output sent over the control socket) cannot fail.
#[macro_export]
#[doc(hidden)]
macro_rules! out {
    ($o:expr, $($arg:tt)*) => {{
        let _ = writeln!($o, $($arg)*);
    }};
}

mod commands;
mod output;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use plugboard::HostBuilder;

/// How a command ended, mapped onto the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad input or usage: exit 2.
    Input(anyhow::Error),
    /// Something failed while running: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

pub(crate) type Outcome = Result<(), Failure>;

/// Registers an application's builtin plugins on a host builder.
pub type Register = fn(HostBuilder) -> HostBuilder;

#[derive(Debug, Parser)]
#[command(
    name = "plugboard",
    version,
    about = "Run, inspect and call plugins: builtin, WebAssembly, process and native.",
    propagate_version = true
)]
pub(crate) struct Cli {
    /// The host configuration (config.yaml). Default: ./config.yaml.
    #[arg(long, global = true, value_name = "CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the host, print a status table, run the pipeline or serve until interrupted.
    Run(commands::run::Args),
    /// List every discovered plugin without running plugin code (--start to start them).
    List(commands::list::Args),
    /// Show a plugin's manifest, dependencies, dependents, permissions and effective config.
    Info(commands::info::Args),
    /// Check manifests, plugin directories or a config.yaml; exit 2 on any problem.
    Validate(commands::validate::Args),
    /// Start a plugin and its dependencies, call a method, print the result bytes.
    Call(commands::call::Args),
    /// Print a plugin's log file.
    Logs(commands::logs::Args),
    /// Install plugins from the registry (default: those listed in config.yaml), with their
    /// dependencies; records them in plugboard.lock.
    Install(commands::install::InstallArgs),
    /// Move plugins to the newest version their requirement allows, ignoring plugboard.lock.
    Update(commands::install::UpdateArgs),
    /// Remove installed plugins and their plugboard.lock entries.
    Uninstall(commands::install::UninstallArgs),
    /// Pack a plugin directory into a reproducible .tar.gz package.
    Pack(commands::pack::PackArgs),
    /// Sign a package and publish it to an OCI registry or a registry directory.
    Publish(commands::pack::PublishArgs),
    /// Check a package's safety, digest and signature.
    Verify(commands::pack::VerifyArgs),
    /// Make a minisign key pair for `publish --key`.
    Keygen(commands::pack::KeygenArgs),
}

/// Parses the command line and runs the command, with `register` adding the application's
/// builtin plugins to every host it builds. Returns the process exit code.
pub fn main_with(register: Register) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(commands::dispatch(cli, register));
    // Plugins may leave blocking threads behind (a hook that never returned); do not wait.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
