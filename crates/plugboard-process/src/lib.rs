//! The Plugboard runtime for process plugins: programs that run beside the host and speak
//! HashiCorp go-plugin's gRPC protocol or Plugboard's stdio transport.
//!
//! ```no_run
//! use std::sync::Arc;
//! use plugboard_core::Host;
//! use plugboard_process::ProcessRuntime;
//!
//! # async fn demo() -> Result<(), plugboard_core::Error> {
//! let host = Host::builder()
//!     .config_file("config.yaml")?
//!     .runtime(Arc::new(ProcessRuntime::new()))
//!     .build()?;
//! host.start().await?;
//! let reply = host.call("greeter", "greet", b"\"world\"").await?;
//! # Ok(()) }
//! ```
//!
//! # The `grpc` protocol (go-plugin)
//! The runtime starts the plugin's executable in a process group of its own, with go-plugin's
//! environment (the magic cookie, `PLUGIN_PROTOCOL_VERSIONS`, the port range, and a private
//! `PLUGIN_UNIX_SOCKET_DIR`), reads its handshake line under `process.start_timeout`, checks
//! every field and the negotiated version, dials the address (Unix socket or TCP), and checks
//! `grpc.health.v1` for service `plugin`. A plugin that prints something else, prints nothing,
//! or exits first is refused with an error that quotes what it printed and its last stderr
//! lines. Its stderr (hclog JSON or `[LEVEL]` lines) and its `GRPCStdio` stream become
//! records in the plugin's log with their levels.
//!
//! The plugin serves Plugboard's `plugboard.v1.Plugin` service (`proto/` in the repository),
//! which `plugboard-pdk` and `sdk/python` implement; the host offers it the
//! `plugboard.v1.HostApi` service through go-plugin's `GRPCBroker` (broker id in
//! `BootRequest.host_api_broker_id`). A plugin that serves only an application service of its
//! own still loads: it is started, health-checked and stopped, and its service is called with
//! `plugboard call ID Service/Method --proto FILE`.
//!
//! Stopping asks `GRPCController.Shutdown`, then sends SIGTERM, then SIGKILL, to the whole
//! process group, so children the plugin forked go too.
//!
//! # AutoMTLS
//! With `process.auto_mtls: true`, go-plugin's AutoMTLS: every start makes a fresh key and
//! certificate (ECDSA P-256, `localhost`) for the host and passes the certificate in
//! `PLUGIN_CLIENT_CERT`; the plugin prints its own in the handshake line. The host dials with
//! TLS trusting exactly that certificate (go-plugin's P-521 ones included) and presenting its
//! own, and serves the host API on the broker behind the same pair. A plugin that prints no
//! certificate, prints one that cannot be used, or serves another than it printed is refused
//! with an error that names it ([`ProcessError::MissingServerCert`],
//! [`ProcessError::ServerCert`], [`ProcessError::Tls`]). A reattached plugin is reached
//! without TLS (go-plugin's reattach configuration carries no certificate), with a warning.
//!
//! # The `stdio` protocol
//! JSON messages on stdin and stdout (`docs/protocol.md`), for scripts with no gRPC library.
//!
//! # Supervision
//! The runtime notices an exit at once: calls in flight fail with
//! [`CallError::Crashed`](plugboard_core::CallError) quoting the exit and the last stderr
//! lines, never hang (each call also has `process.call_timeout`). Under
//! `process.restart` (default: `on-failure`, at most 5 restarts per minute) the process is
//! started again after an exponential backoff with jitter, and `boot`/`start` run again with
//! the same configuration. Past the limit the plugin becomes `failed` through
//! [`HostApi::report_failure`](plugboard_core::HostApi::report_failure), with the last stderr
//! lines in the reason.
//!
//! # Reattach
//! [`ProcessRuntime::reattach`] connects to a plugin that is already running (under a
//! debugger, or on another machine) from its go-plugin [`ReattachConfig`] instead of starting
//! it; `PLUGBOARD_REATTACH` may hold a JSON object of plugin id to configuration, as
//! Terraform's `TF_REATTACH_PROVIDERS`.
#![deny(missing_docs)]

mod child;
mod dynamic;
mod error;
mod grpc;
mod instance;
mod session;
mod settings;
mod stdio;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use plugboard_core::manifest::{ProcessProtocol, RuntimeKind};
use plugboard_core::{Descriptor, HostApi, PluginInstance, Runtime, RuntimeError};
pub use plugboard_protocol::handshake::ReattachConfig;

pub use dynamic::{DynamicCallError, DynamicMethod};
pub use error::ProcessError;
pub use settings::{PreExec, DEFAULT_COOKIE_KEY, DEFAULT_COOKIE_VALUE};
/// The gRPC connection type [`ProcessRuntime::grpc_channel`] hands out.
pub use tonic::transport::Channel;

use instance::ProcessInstance;
use settings::Settings;

/// The environment variable [`ProcessRuntime::new`] reads reattach configurations from: a JSON
/// object of plugin id to go-plugin reattach configuration.
pub const ENV_REATTACH: &str = "PLUGBOARD_REATTACH";

/// Makes the hook that confines one plugin's process (the OS sandbox), or `None` to run it
/// unconfined.
pub type SandboxHook = Arc<dyn Fn(&Descriptor) -> Result<Option<PreExec>, String> + Send + Sync>;

/// The runtime for `runtime: process`.
///
/// Register it once per host with [`HostBuilder::runtime`](plugboard_core::HostBuilder::runtime).
#[derive(Clone, Default)]
pub struct ProcessRuntime {
    reattach: Arc<Mutex<HashMap<String, ReattachConfig>>>,
    sandbox: Option<SandboxHook>,
    os_sandbox: bool,
    instances: Arc<Mutex<HashMap<String, instance::InstanceHandle>>>,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("reattach", &self.reattach.lock().keys().collect::<Vec<_>>())
            .field("sandbox", &self.sandbox.is_some())
            .field("os_sandbox", &self.os_sandbox)
            .finish()
    }
}

impl ProcessRuntime {
    /// A runtime; plugins named in `PLUGBOARD_REATTACH` are reattached instead of started.
    ///
    /// An unreadable `PLUGBOARD_REATTACH` is reported on stderr and ignored.
    pub fn new() -> Self {
        let rt = Self::default();
        if let Ok(json) = std::env::var(ENV_REATTACH) {
            match ReattachConfig::parse_map(&json) {
                Ok(map) => rt.reattach.lock().extend(map),
                Err(e) => eprintln!("plugboard: ignoring {ENV_REATTACH}: {e}"),
            }
        }
        rt
    }

    /// Connects to plugin `id`'s already-running process from `config` instead of starting
    /// it. A reattached process is never signalled: stopping the host disconnects from it.
    pub fn reattach(self, id: impl Into<String>, config: ReattachConfig) -> Self {
        self.reattach.lock().insert(id.into(), config);
        self
    }

    /// The gRPC connection to plugin `id`'s running process, to call its own services (see
    /// [`DynamicMethod`]); `None` when it is not loaded by this runtime, not running, or on
    /// the stdio protocol.
    pub fn grpc_channel(&self, id: &str) -> Option<Channel> {
        self.instances.lock().get(id)?.channel()
    }

    /// Confines every process with `hook`'s pre-exec function (the OS sandbox), except those
    /// whose manifest says `process.sandbox: off` (logged as a warning). An error from `hook`
    /// refuses the plugin with that message.
    pub fn with_sandbox(mut self, hook: SandboxHook) -> Self {
        self.sandbox = Some(hook);
        self
    }

    /// Confines every process with Plugboard's Linux sandbox ([`plugboard_sandbox`]): the
    /// plugin's effective [`permissions`](HostApi::permissions) become Landlock rules (its own
    /// directory, its `fs.read`/`fs.write` paths, its `net` ports, the system's libraries), plus
    /// the seccomp deny-list and `no_new_privs`; each start's private socket directory (also its
    /// `TMPDIR`) is writable. What the kernel cannot enforce is logged as a warning in the
    /// plugin's log. A manifest with `process.sandbox: off` runs unconfined, with a warning.
    /// A hook given to [`with_sandbox`](Self::with_sandbox) takes precedence.
    pub fn with_os_sandbox(mut self) -> Self {
        self.os_sandbox = true;
        self
    }

    /// What the running kernel enforces for a sandboxed process plugin, for `plugboard info`.
    pub fn sandbox_support() -> plugboard_sandbox::SandboxSupport {
        plugboard_sandbox::probe()
    }
}

/// A program the process runtime runs for a plugin in place of its manifest's `entry:`, with
/// [`ProcessRuntime::load_program`]: how another runtime borrows this one's supervision (the
/// native runtime runs its isolation shim this way).
///
/// The program must serve go-plugin's gRPC protocol with Plugboard's default handshake
/// ([`DEFAULT_COOKIE_KEY`], protocol version 1), as `plugboard-pdk`'s `serve` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    path: std::path::PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    read: Vec<std::path::PathBuf>,
}

impl Program {
    /// The executable at `path`, with no arguments.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            path: path.into(),
            args: Vec::new(),
            env: Vec::new(),
            read: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable, after the manifest's `process.env`.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Lets the program read `path` under the OS sandbox, beyond what the plugin's permissions
    /// allow (a file the program needs that lives outside the plugin directory).
    pub fn allow_read(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.read.push(path.into());
        self
    }

    /// The executable.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Prepares the OS sandbox for one plugin from its effective permissions.
fn prepare_os_sandbox(
    descriptor: &Descriptor,
    host: &HostApi,
    entry: &std::path::Path,
    read: &[std::path::PathBuf],
) -> Result<plugboard_sandbox::PreparedPolicy, ProcessError> {
    let fail = |message: String| ProcessError::Sandbox {
        plugin: descriptor.id().to_string(),
        message,
    };
    let dir = descriptor
        .dir
        .clone()
        .ok_or_else(|| fail("it has no plugin directory".to_owned()))?;
    let mut policy = plugboard_sandbox::SandboxPolicy::for_plugin(&dir, host.permissions())
        .map_err(|e| fail(e.to_string()))?;
    // An entry that is a symbolic link out of the plugin directory is executed where it points.
    if let Ok(real) = std::fs::canonicalize(entry) {
        if !real.starts_with(&dir) {
            policy = policy.allow_exec(real);
        }
    }
    for path in read {
        policy = policy.allow_read(path.clone());
    }
    let prepared = policy.prepare().map_err(|e| fail(e.to_string()))?;
    for warning in prepared.warnings() {
        host.log(
            plugboard_core::manifest::LogLevel::Warning,
            &format!("sandbox: {warning}"),
        );
    }
    host.log(
        plugboard_core::manifest::LogLevel::Debug,
        &format!("sandbox: {}", prepared.support()),
    );
    Ok(prepared)
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Process
    }

    /// Checks that the entry exists and is executable, and that `auto_mtls` is asked only of
    /// a gRPC plugin.
    fn check(&self, descriptor: &Descriptor) -> Result<(), RuntimeError> {
        let id = descriptor.id().to_string();
        if self.reattach.lock().contains_key(&id) {
            return Ok(());
        }
        let settings = Settings::of(descriptor)?;
        check_executable(
            &id,
            &settings.entry,
            "its entry",
            "check `entry:` in its plugin.yaml",
        )?;
        if settings.auto_mtls && settings.protocol == ProcessProtocol::Stdio {
            return Err(ProcessError::Manifest {
                plugin: id,
                message: "process.auto_mtls is go-plugin's AutoMTLS, for `protocol: grpc`; a stdio plugin talks over its own pipes, which need no TLS: remove `auto_mtls`".to_owned(),
            }
            .into());
        }
        Ok(())
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        let id = descriptor.id().to_string();
        let reattach = self.reattach.lock().get(&id).cloned();
        if reattach.is_none() {
            self.check(&descriptor)?;
        }
        let settings = Settings::of(&descriptor)?;
        self.launch(descriptor, host, settings, reattach, &[]).await
    }
}

/// Refuses `path` unless it is an executable file.
fn check_executable(
    plugin: &str,
    path: &std::path::Path,
    what: &str,
    fix: &str,
) -> Result<(), ProcessError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| ProcessError::Manifest {
        plugin: plugin.to_owned(),
        message: format!("{what} {} cannot be read: {e}; {fix}", path.display()),
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(ProcessError::Manifest {
            plugin: plugin.to_owned(),
            message: format!(
                "{what} {} is not an executable file; run `chmod +x` on it (a script needs a `#!` line)",
                path.display()
            ),
        });
    }
    Ok(())
}

impl ProcessRuntime {
    /// Runs `program` for `descriptor`'s plugin instead of its manifest's `entry:`, under this
    /// runtime's supervision: the same spawn, handshake, health check, host API over the
    /// broker, call timeouts, restart policy (the manifest's `process.restart`, or the
    /// default) and OS sandbox (the plugin's permissions, plus what the program
    /// [`allows`](Program::allow_read)) as a `runtime: process` plugin.
    ///
    /// From the manifest's `process:` section, the restart policy, `start_timeout`,
    /// `call_timeout`, `env` and `sandbox` apply; `entry`, `args`, `protocol`, `handshake` and
    /// `auto_mtls` do not (the program is spoken to with go-plugin's gRPC protocol and
    /// Plugboard's default handshake). Reattach configurations are not consulted.
    ///
    /// # Errors
    /// When the program is not an executable file, the sandbox cannot be prepared, or the
    /// first start fails (the error quotes what the program printed).
    pub async fn load_program(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
        program: Program,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        let id = descriptor.id().to_string();
        check_executable(
            &id,
            &program.path,
            "the program",
            "check the path the runtime was given",
        )?;
        let mut settings = Settings::of(&descriptor)?;
        settings.entry = program.path;
        settings.args = program.args;
        settings.env.extend(program.env);
        settings.protocol = ProcessProtocol::Grpc;
        settings.handshake = None;
        settings.auto_mtls = false;
        self.launch(descriptor, host, settings, None, &program.read)
            .await
    }

    /// Starts a plugin's first process with `settings` (or reattaches) and supervises it.
    async fn launch(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
        mut settings: Settings,
        reattach: Option<ReattachConfig>,
        read: &[std::path::PathBuf],
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        let id = descriptor.id().to_string();
        let sandbox_off = descriptor
            .manifest
            .process
            .as_ref()
            .is_some_and(|p| p.sandbox == plugboard_core::manifest::Toggle::Off);
        match &self.sandbox {
            _ if sandbox_off && (self.sandbox.is_some() || self.os_sandbox) => host.log(
                plugboard_core::manifest::LogLevel::Warning,
                "the OS sandbox is off for this plugin (`process.sandbox: off` in its plugin.yaml): its process runs with the host's full rights",
            ),
            Some(hook) => {
                settings.pre_exec =
                    hook(&descriptor).map_err(|message| ProcessError::Manifest {
                        plugin: id.clone(),
                        message,
                    })?;
            }
            None if self.os_sandbox && reattach.is_none() => {
                settings.sandbox = Some(prepare_os_sandbox(
                    &descriptor,
                    &host,
                    &settings.entry,
                    read,
                )?);
            }
            None => {}
        }
        let settings = Arc::new(settings);
        let launcher: Box<dyn session::Launcher> = match (settings.protocol, reattach) {
            (_, Some(cfg)) => Box::new(grpc::GrpcLauncher {
                host: host.clone(),
                settings: settings.clone(),
                reattach: Mutex::new(Some(cfg)),
                reattached: Default::default(),
            }),
            (ProcessProtocol::Grpc, None) => Box::new(grpc::GrpcLauncher {
                host: host.clone(),
                settings: settings.clone(),
                reattach: Mutex::new(None),
                reattached: Default::default(),
            }),
            (ProcessProtocol::Stdio, None) => Box::new(stdio::StdioLauncher {
                host: host.clone(),
                settings: settings.clone(),
            }),
        };
        let instance = ProcessInstance::start(host, settings, launcher).await?;
        self.instances.lock().insert(id, instance.handle());
        Ok(Arc::new(instance))
    }
}

const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<ProcessRuntime>();
    shared::<ProcessError>();
};
