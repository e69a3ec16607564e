//! The subcommands, and what they share: finding the configuration and building the host.

pub(crate) mod call;
pub(crate) mod control;
pub(crate) mod info;
pub(crate) mod install;
pub(crate) mod list;
pub(crate) mod logs;
pub(crate) mod pack;
pub(crate) mod run;
pub(crate) mod validate;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use plugboard::manifest::LogLevel;
use plugboard::Host;

use crate::{Cli, Command, Failure, Outcome, Register};

pub(crate) async fn dispatch(cli: Cli, register: Register) -> Outcome {
    let global = cli.config;
    match cli.command {
        Command::Run(a) => run::run(a, global, register).await,
        Command::List(a) => list::run(a, global, register).await,
        Command::Info(a) => info::run(a, global, register).await,
        Command::Validate(a) => validate::run(a, global, register),
        Command::Call(a) => call::run(a, global, register).await,
        Command::Logs(a) => logs::run(a, global, register),
        Command::Install(a) => install::install(a, global).await,
        Command::Update(a) => install::update(a, global).await,
        Command::Uninstall(a) => install::uninstall(a, global),
        Command::Pack(a) => pack::pack(a),
        Command::Publish(a) => pack::publish(a, global).await,
        Command::Verify(a) => pack::verify(a, global),
        Command::Keygen(a) => pack::keygen(a),
    }
}

/// The configuration file a command uses: the positional argument, `--config`, or
/// `./config.yaml`, in that order.
pub(crate) fn config_path(
    positional: Option<PathBuf>,
    global: Option<PathBuf>,
) -> Result<PathBuf, Failure> {
    if let Some(p) = positional.or(global) {
        return Ok(p);
    }
    let here = PathBuf::from("config.yaml");
    if here.is_file() {
        return Ok(here);
    }
    Err(Failure::Input(anyhow!(
        "no config.yaml in the current directory and none given.\n\
         To start from the bundled example: plugboard run examples/config.yaml\n\
         (or pass a configuration: plugboard --config PATH <command>)"
    )))
}

/// Builds the host for `config` with the application's builtin plugins, and sets up the host
/// log on stderr at the configured level.
pub(crate) fn build_host(config: &Path, register: Register) -> Result<Host, Failure> {
    if !config.is_file() {
        return Err(Failure::Input(anyhow!(
            "{}: no such file; give the path of a config.yaml (the example is examples/config.yaml)",
            config.display()
        )));
    }
    let builder = Host::builder()
        .config_file(config)
        .map_err(|e| Failure::Input(anyhow!(e)))
        .map(with_runtimes)?;
    let host = register(builder)
        .build()
        .map_err(|e| Failure::Input(anyhow!(e)))
        .with_context_input(|| format!("cannot set up the host from {}", config.display()))?;
    init_logging(host.config().logging.level);
    Ok(host)
}

/// Registers the runtimes the `plugboard` command includes beyond the builtin one: native
/// plugins (`runtime: native`), whose library copies go to the temporary directory;
/// WebAssembly plugins (`runtime: wasm`), whose compiled modules are cached under the host's
/// state directory; process plugins (`runtime: process`). Native plugins under
/// `isolation: process` run in `plugboard-native-shim` (beside this executable, on `PATH`, or
/// named by `PLUGBOARD_NATIVE_SHIM`) under the same process runtime, with its OS sandbox.
pub(crate) fn with_runtimes(builder: plugboard::HostBuilder) -> plugboard::HostBuilder {
    let native =
        plugboard::native::NativeRuntime::new().with_process_runtime(process_runtime().clone());
    let builder = builder
        .runtime(std::sync::Arc::new(native))
        .runtime(std::sync::Arc::new(process_runtime().clone()));
    match plugboard::wasm::WasmRuntime::new() {
        Ok(wasm) => builder.runtime(std::sync::Arc::new(wasm)),
        Err(e) => {
            eprintln!("warning: {e}; WebAssembly plugins cannot run");
            builder
        }
    }
}

/// The process runtime every host of this command shares (clones share their plugins), so
/// that `call --proto` can reach a plugin's gRPC connection.
pub(crate) fn process_runtime() -> &'static plugboard::process::ProcessRuntime {
    static RUNTIME: std::sync::OnceLock<plugboard::process::ProcessRuntime> =
        std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| plugboard::process::ProcessRuntime::new().with_os_sandbox())
}

trait InputContext<T> {
    fn with_context_input(self, f: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T> InputContext<T> for Result<T, Failure> {
    fn with_context_input(self, f: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|e| match e {
            Failure::Input(e) => Failure::Input(e.context(f())),
            Failure::Runtime(e) => Failure::Runtime(e.context(f())),
        })
    }
}

/// Sends the host log (including plugins' records) to stderr. `PLUGBOARD_LOG` overrides the
/// configured level with a tracing filter (`debug`, `plugboard=trace`, ...).
fn init_logging(level: LogLevel) {
    let default = match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error | LogLevel::Critical => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PLUGBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Reads the payload of `call` from `--input` or `--input-file`.
pub(crate) fn read_input(text: Option<String>, file: Option<PathBuf>) -> Result<Vec<u8>, Failure> {
    match (text, file) {
        (Some(t), None) => Ok(t.into_bytes()),
        (None, Some(f)) => std::fs::read(&f)
            .with_context(|| format!("cannot read the input file {}", f.display()))
            .map_err(Failure::Input),
        (None, None) => Ok(Vec::new()),
        (Some(_), Some(_)) => Err(Failure::Input(anyhow!(
            "give either --input or --input-file, not both"
        ))),
    }
}
