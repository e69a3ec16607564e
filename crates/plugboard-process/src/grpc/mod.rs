//! go-plugin's gRPC protocol, host side: spawn with the handshake environment, read and check
//! the handshake line, dial, and drive Plugboard's `Plugin` service (or only go-plugin's own
//! services, for a plugin that serves an application service of its own).

mod broker;
mod host_service;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use plugboard_core::manifest::LogLevel;
use plugboard_core::{CallError, Event, HealthReport, HostApi, PluginError};
use plugboard_protocol::grpc::go_plugin::grpc_controller_client::GrpcControllerClient;
use plugboard_protocol::grpc::go_plugin::grpc_stdio_client::GrpcStdioClient;
use plugboard_protocol::grpc::go_plugin::stdio_data::Channel as StdioChannel;
use plugboard_protocol::grpc::health::health_check_response::ServingStatus;
use plugboard_protocol::grpc::health::health_client::HealthClient;
use plugboard_protocol::grpc::health::HealthCheckRequest;
use plugboard_protocol::grpc::plugboard as pb;
use plugboard_protocol::grpc::plugboard::plugin_client::PluginClient;
use plugboard_protocol::grpc::HEALTH_SERVICE_NAME;
use plugboard_protocol::handshake::{
    negotiate, plugin_env, Handshake, HandshakeEnv, Network, ReattachConfig,
};
use plugboard_protocol::mtls::Identity;
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::child::{self, describe_exit, read_line_capped, Child};
use crate::error::ProcessError;
use crate::session::{Launcher, Session};
use crate::settings::Settings;

pub(crate) use broker::Broker;
pub(crate) use host_service::health_of;

/// The broker id under which the host offers its `HostApi` service.
pub(crate) const HOST_API_BROKER_ID: u32 = 1;

/// Starts go-plugin processes for one plugin.
pub(crate) struct GrpcLauncher {
    pub(crate) host: HostApi,
    pub(crate) settings: Arc<Settings>,
    /// When set, the first launch reattaches to this running plugin instead of spawning.
    pub(crate) reattach: parking_lot::Mutex<Option<ReattachConfig>>,
    /// Set once a reattach was used: such a plugin is not ours to start again.
    pub(crate) reattached: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Launcher for GrpcLauncher {
    async fn launch(&self) -> Result<Box<dyn Session>, ProcessError> {
        let reattach = self.reattach.lock().take();
        if reattach.is_none() && self.reattached.load(std::sync::atomic::Ordering::Acquire) {
            return Err(ProcessError::Connect {
                plugin: self.id(),
                message: "it was reattached (not started by this host), so it is not started again after it exits; start it again and reattach".to_owned(),
                stderr: String::new(),
            });
        }
        if let Some(cfg) = reattach {
            self.reattached
                .store(true, std::sync::atomic::Ordering::Release);
            return self
                .reattach(cfg)
                .await
                .map(|s| Box::new(s) as Box<dyn Session>);
        }
        self.spawn().await.map(|s| Box::new(s) as Box<dyn Session>)
    }
}

impl GrpcLauncher {
    fn id(&self) -> String {
        self.host.id().to_string()
    }

    async fn spawn(&self) -> Result<GrpcSession, ProcessError> {
        let s = &self.settings;
        let socket_dir =
            SocketDir::new(self.host.id().as_str()).map_err(|e| ProcessError::Connect {
                plugin: self.id(),
                message: format!("cannot create a socket directory: {e}"),
                stderr: String::new(),
            })?;
        // AutoMTLS: a key and certificate of the host's for this start only; the plugin gets
        // the certificate in PLUGIN_CLIENT_CERT and answers with its own in the handshake.
        let identity = if s.auto_mtls {
            Some(Identity::generate().map_err(|e| ProcessError::Tls {
                plugin: self.id(),
                message: e.to_string(),
                stderr: String::new(),
            })?)
        } else {
            None
        };
        let (key, value) = s.cookie();
        let mut env = HandshakeEnv::builder(key, value)
            .protocol_versions(s.versions())
            .unix_socket_dir(socket_dir.path.to_string_lossy().into_owned());
        if let Some(identity) = &identity {
            env = env.client_cert_pem(identity.cert_pem());
        }
        let env = env
            .build()
            .map_err(|source| ProcessError::HandshakeConfig {
                plugin: self.id(),
                source,
            })?;
        let mut vars = plugin_env(&env);
        // go-plugin before 1.4 ignores PLUGIN_UNIX_SOCKET_DIR and makes its socket under
        // TMPDIR: point both at the private directory (the one the sandbox lets it write).
        vars.push((
            "TMPDIR".to_owned(),
            socket_dir.path.to_string_lossy().into_owned(),
        ));
        vars.extend(s.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let pre_exec = s.pre_exec_for(&self.id(), Some(&socket_dir.path))?;
        let (child, pipes) = child::spawn(&self.host, &s.entry, &s.args, &vars, false, pre_exec)?;
        let handshake = match self.read_handshake(&child, pipes.stdout).await {
            Ok(h) => h,
            Err(e) => {
                child.terminate(Duration::from_millis(500)).await;
                return Err(e);
            }
        };
        match self
            .connect(child, handshake, Some(socket_dir), identity)
            .await
        {
            Ok(s) => Ok(s),
            Err((e, child)) => {
                child.terminate(Duration::from_millis(500)).await;
                Err(e)
            }
        }
    }

    async fn reattach(&self, cfg: ReattachConfig) -> Result<GrpcSession, ProcessError> {
        let line = Handshake::grpc(cfg.protocol_version, cfg.addr.network, cfg.addr.string);
        let child = Child::reattached(cfg.pid);
        if self.settings.auto_mtls {
            // go-plugin's reattach configuration carries no certificate: the plugin's TLS
            // trust was bound to the host that started it. go-plugin's host dials such a
            // plugin without TLS too.
            self.host.log(
                LogLevel::Warning,
                "process.auto_mtls does not apply to a reattached plugin (a reattach configuration carries no certificate): connecting without TLS",
            );
        }
        self.host.log(
            LogLevel::Info,
            &format!(
                "reattaching to the running plugin at {} {} (pid {})",
                line.network.as_str(),
                line.address,
                cfg.pid
            ),
        );
        self.connect(child, line, None, None)
            .await
            .map_err(|(e, _)| e)
    }

    /// Reads the first stdout line under the start timeout, watching for an early exit.
    async fn read_handshake(
        &self,
        child: &Child,
        stdout: tokio::process::ChildStdout,
    ) -> Result<Handshake, ProcessError> {
        let s = &self.settings;
        let mut reader = BufReader::new(stdout);
        let expected = "print its go-plugin handshake";
        let read = tokio::time::timeout(s.start_timeout, async {
            tokio::select! {
                line = read_line_capped(&mut reader) => Ok(line),
                status = child.wait() => Err(status),
            }
        })
        .await;
        let line = match read {
            Err(_) => {
                return Err(ProcessError::StartTimeout {
                    plugin: self.id(),
                    expected,
                    millis: millis(s.start_timeout),
                    stderr: child.stderr.render(),
                })
            }
            Ok(Ok(Ok(Some(line)))) => line,
            Ok(Ok(Ok(None) | Err(_))) => {
                // Stdout closed: the process is exiting. Give it a moment to be reaped.
                let status = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
                let what = match status {
                    Ok(st) => describe_exit(&st),
                    Err(_) => "closed its stdout".to_owned(),
                };
                child.drain_stderr(Duration::from_millis(500)).await;
                return Err(self.early_exit(child, what, expected));
            }
            Ok(Err(status)) => {
                child.drain_stderr(Duration::from_millis(500)).await;
                return Err(self.early_exit(child, describe_exit(&status), expected));
            }
        };
        // Later stdout lines are the plugin's business; go-plugin reads and drops them. Keep
        // them in the debug log.
        let host = self.host.clone();
        tokio::spawn(async move {
            while let Ok(Some(l)) = read_line_capped(&mut reader).await {
                if !l.trim().is_empty() && host.log_enabled(LogLevel::Debug) {
                    host.log(LogLevel::Debug, &format!("stdout: {l}"));
                }
            }
        });
        let handshake = Handshake::parse(&line).map_err(|source| ProcessError::Handshake {
            plugin: self.id(),
            source,
            stderr: child.stderr.render(),
        })?;
        negotiate(&s.versions(), handshake.app_version).map_err(|source| {
            ProcessError::Handshake {
                plugin: self.id(),
                source,
                stderr: child.stderr.render(),
            }
        })?;
        Ok(handshake)
    }

    fn early_exit(&self, child: &Child, what: String, expected: &'static str) -> ProcessError {
        ProcessError::EarlyExit {
            plugin: self.id(),
            what,
            expected,
            entry: self.settings.entry.clone(),
            stderr: child.stderr.render(),
        }
    }

    /// Dials the handshake's address and checks health; on failure the child comes back so
    /// that the caller can stop it.
    async fn connect(
        &self,
        child: Child,
        handshake: Handshake,
        socket_dir: Option<SocketDir>,
        identity: Option<Identity>,
    ) -> Result<GrpcSession, (ProcessError, Child)> {
        let fail = |message: String, child: Child| {
            let stderr = child.stderr.render();
            (
                ProcessError::Connect {
                    plugin: self.id(),
                    message,
                    stderr,
                },
                child,
            )
        };
        let mtls = match tls::for_start(&self.id(), &handshake, identity.as_ref(), &child) {
            Ok(m) => m,
            Err(e) => return Err((e, child)),
        };
        let channel = match dial(
            &handshake,
            self.settings.start_timeout,
            mtls.as_ref().map(|m| m.client.clone()),
        )
        .await
        {
            Ok(c) => c,
            Err(DialError::Tls(reason)) => {
                let stderr = child.stderr.render();
                return Err((
                    ProcessError::Tls {
                        plugin: self.id(),
                        message: format!(
                            "the TLS handshake with its process at {} {} failed: {reason}; with process.auto_mtls the plugin must serve TLS with the certificate it printed in its handshake line and accept the host's PLUGIN_CLIENT_CERT (go-plugin's AutoMTLS)",
                            handshake.network.as_str(),
                            handshake.address
                        ),
                        stderr,
                    },
                    child,
                ));
            }
            Err(DialError::Other(e)) => return Err(fail(e, child)),
        };
        // go-plugin's health ping: service "plugin" must be SERVING.
        let mut health = HealthClient::new(channel.clone());
        let check = tokio::time::timeout(
            self.settings.start_timeout,
            health.check(HealthCheckRequest {
                service: HEALTH_SERVICE_NAME.to_owned(),
            }),
        )
        .await;
        match check {
            Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => {}
            Ok(Ok(r)) => {
                return Err(fail(
                    format!(
                        "its health service reports {:?} for service \"plugin\" instead of SERVING",
                        ServingStatus::try_from(r.get_ref().status)
                            .unwrap_or(ServingStatus::Unknown)
                    ),
                    child,
                ))
            }
            Ok(Err(status)) if status.code() == Code::Unimplemented => {
                self.host.log(
                    LogLevel::Warning,
                    "the plugin does not serve grpc.health.v1.Health; go-plugin plugins do, and Plugboard uses it as the health check",
                );
            }
            Ok(Err(status)) => {
                return Err(fail(
                    format!("its health check failed: {}", status.message()),
                    child,
                ))
            }
            Err(_) => {
                return Err(fail(
                    format!(
                        "its health check did not answer within {} ms",
                        millis(self.settings.start_timeout)
                    ),
                    child,
                ))
            }
        }
        forward_stdio(&self.host, channel.clone());
        let broker = match Broker::start(
            &self.host,
            channel.clone(),
            socket_dir.as_ref().map(|d| d.path.clone()),
            mtls.as_ref().map(|m| m.server.clone()),
        )
        .await
        {
            Ok(b) => Some(b),
            Err(e) => {
                self.host.log(
                    LogLevel::Warning,
                    &format!(
                        "the plugin's GRPCBroker is unusable, so it cannot call the host API: {e}"
                    ),
                );
                None
            }
        };
        self.host.log(
            LogLevel::Debug,
            &format!(
                "connected over {} {}{} (application protocol {}, pid {})",
                handshake.network.as_str(),
                handshake.address,
                if mtls.is_some() {
                    " with TLS (AutoMTLS)"
                } else {
                    ""
                },
                handshake.app_version,
                child.pid
            ),
        );
        Ok(GrpcSession {
            id: self.id(),
            host: self.host.clone(),
            child,
            plugin: PluginClient::new(channel.clone()),
            health: HealthClient::new(channel.clone()),
            controller: GrpcControllerClient::new(channel.clone()),
            channel,
            broker: parking_lot::Mutex::new(broker),
            serves_plugboard: parking_lot::Mutex::new(true),
            _socket_dir: socket_dir,
        })
    }
}

/// Why [`dial`] failed.
pub(crate) enum DialError {
    /// The TLS handshake failed (AutoMTLS): the reason.
    Tls(String),
    /// Anything else: the message.
    Other(String),
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Dials a handshake's address: a Unix socket or `host:port`, with TLS when `tls` is given.
pub(crate) async fn dial(
    handshake: &Handshake,
    limit: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Channel, DialError> {
    let address = handshake.address.clone();
    let connect = async {
        match (handshake.network, tls) {
            (Network::Unix, Some(tls)) => {
                let path = PathBuf::from(&address);
                Endpoint::from_static("http://plugin.invalid")
                    .connect_with_connector(tower::service_fn(move |_| {
                        let (path, tls) = (path.clone(), tls.clone());
                        async move { tls::connect(UnixStream::connect(path).await, tls).await }
                    }))
                    .await
            }
            (Network::Tcp, Some(tls)) => {
                let addr = address.clone();
                Endpoint::from_static("http://plugin.invalid")
                    .connect_with_connector(tower::service_fn(move |_| {
                        let (addr, tls) = (addr.clone(), tls.clone());
                        async move {
                            tls::connect(tokio::net::TcpStream::connect(addr).await, tls).await
                        }
                    }))
                    .await
            }
            (Network::Unix, None) => {
                let path = PathBuf::from(&address);
                Endpoint::from_static("http://plugin.invalid")
                    .connect_with_connector(tower::service_fn(move |_| {
                        let path = path.clone();
                        async move { UnixStream::connect(path).await.map(TokioIo::new) }
                    }))
                    .await
            }
            (Network::Tcp, None) => {
                Endpoint::from_shared(format!("http://{address}"))?
                    .connect()
                    .await
            }
        }
    };
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => match tls::handshake_failure(&e) {
            Some(reason) => Err(DialError::Tls(reason)),
            None => Err(DialError::Other(format!(
                "cannot connect to {} {address}: {}",
                handshake.network.as_str(),
                source_chain(&e)
            ))),
        },
        Err(_) => Err(DialError::Other(format!(
            "connecting to {} {address} did not finish within {} ms",
            handshake.network.as_str(),
            millis(limit)
        ))),
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Forwards go-plugin's `GRPCStdio` stream into the plugin's log; plugins without it (go-plugin
/// before 1.1, other languages) are fine.
fn forward_stdio(host: &HostApi, channel: Channel) {
    let host = host.clone();
    tokio::spawn(async move {
        let mut client = GrpcStdioClient::new(channel);
        let Ok(stream) = client.stream_stdio(()).await else {
            return;
        };
        let mut stream = stream.into_inner();
        while let Ok(Some(data)) = stream.message().await {
            let text = String::from_utf8_lossy(&data.data);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match StdioChannel::try_from(data.channel) {
                    Ok(StdioChannel::Stdout) => host.log(LogLevel::Info, line),
                    _ => child::log_line(&host, line),
                }
            }
        }
    });
}

/// A per-plugin directory (mode 0700) for the plugin's and the broker's sockets; removed with
/// the session.
#[derive(Debug)]
pub(crate) struct SocketDir {
    pub(crate) path: PathBuf,
}

impl SocketDir {
    fn new(plugin: &str) -> std::io::Result<SocketDir> {
        use std::os::unix::fs::DirBuilderExt;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Short: a Unix socket path must fit in 108 bytes.
        let short: String = plugin.chars().take(24).collect();
        let path = std::env::temp_dir().join(format!("pb-{}-{short}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(SocketDir { path })
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A connected go-plugin process.
pub(crate) struct GrpcSession {
    id: String,
    host: HostApi,
    child: Child,
    channel: Channel,
    plugin: PluginClient<Channel>,
    health: HealthClient<Channel>,
    controller: GrpcControllerClient<Channel>,
    broker: parking_lot::Mutex<Option<Broker>>,
    /// False once the plugin answered `Unimplemented` to Plugboard's `Plugin` service: it
    /// serves only its own application service (drive it with `plugboard call --proto`).
    serves_plugboard: parking_lot::Mutex<bool>,
    _socket_dir: Option<SocketDir>,
}

impl GrpcSession {
    fn hook_error(&self, hook: &str, status: &tonic::Status) -> PluginError {
        let message = status.message();
        if message.is_empty() {
            PluginError::new(format!("the plugin's {hook} answered {:?}", status.code()))
        } else {
            PluginError::new(message)
        }
    }

    fn unimplemented(&self, status: &tonic::Status) -> bool {
        if status.code() == Code::Unimplemented {
            *self.serves_plugboard.lock() = false;
            true
        } else {
            false
        }
    }
}

#[async_trait]
impl Session for GrpcSession {
    fn child(&self) -> &Child {
        &self.child
    }

    fn channel(&self) -> Option<Channel> {
        Some(self.channel.clone())
    }

    async fn boot(
        &self,
        config: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError> {
        let broker_id = self
            .broker
            .lock()
            .as_ref()
            .map_or(0, |_| HOST_API_BROKER_ID);
        let request = pb::BootRequest {
            plugin_id: self.id.clone(),
            config_json: serde_json::to_vec(config).unwrap_or_default(),
            host_api_broker_id: broker_id,
        };
        match self.plugin.clone().boot(request).await {
            Ok(r) => {
                let adjusted = r.into_inner().adjusted_config_json;
                if adjusted.is_empty() {
                    return Ok(None);
                }
                serde_json::from_slice(&adjusted).map(Some).map_err(|e| {
                    PluginError::new(format!(
                        "boot returned an adjusted configuration that is not JSON: {e}"
                    ))
                })
            }
            Err(s) if self.unimplemented(&s) => {
                self.host.log(
                    LogLevel::Info,
                    "the plugin does not serve plugboard.v1.Plugin: it is driven through its own gRPC service only (`plugboard call ID Service/Method --proto FILE`)",
                );
                Ok(None)
            }
            Err(s) => Err(self.hook_error("boot", &s)),
        }
    }

    async fn start(&self) -> Result<(), PluginError> {
        if !*self.serves_plugboard.lock() {
            return Ok(());
        }
        match self.plugin.clone().start(pb::Empty {}).await {
            Ok(_) => Ok(()),
            Err(s) if self.unimplemented(&s) => Ok(()),
            Err(s) => Err(self.hook_error("start", &s)),
        }
    }

    async fn stop(&self) -> Result<(), PluginError> {
        if !*self.serves_plugboard.lock() || self.child.exited().is_some() {
            return Ok(());
        }
        match self.plugin.clone().stop(pb::Empty {}).await {
            Ok(_) => Ok(()),
            Err(s) if self.unimplemented(&s) => Ok(()),
            Err(s) => Err(self.hook_error("stop", &s)),
        }
    }

    async fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let request = pb::CallRequest {
            extension_point: String::new(),
            method: method.to_owned(),
            payload: payload.to_vec(),
        };
        let response = self.plugin.clone().call(request).await.map_err(|s| {
            if s.code() == Code::Unimplemented {
                CallError::plugin(
                    &self.id,
                    format!("it does not serve plugboard.v1.Plugin, so {method:?} cannot be called through the host; call its own service with `plugboard call {} SERVICE/METHOD --proto FILE`", self.id),
                )
            } else {
                CallError::plugin(&self.id, format!("call {method:?} failed: {}", s.message()))
            }
        })?;
        match response.into_inner().outcome {
            Some(pb::call_response::Outcome::Payload(p)) => Ok(p),
            None => Ok(Vec::new()),
            Some(pb::call_response::Outcome::Error(e)) => Err(call_error(&self.id, method, e)),
        }
    }

    async fn event(&self, event: &Event) {
        if !*self.serves_plugboard.lock() {
            return;
        }
        let request = pb::EventRequest {
            topic: event.topic.clone(),
            payload: event.payload.clone(),
            source: event
                .source
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        if let Err(s) = self.plugin.clone().on_event(request).await {
            if !self.unimplemented(&s) {
                self.host.log(
                    LogLevel::Warning,
                    &format!("event {} was not delivered: {}", event.topic, s.message()),
                );
            }
        }
    }

    async fn ping(&self) -> bool {
        let check = self
            .health
            .clone()
            .check(HealthCheckRequest {
                service: HEALTH_SERVICE_NAME.to_owned(),
            })
            .await;
        match check {
            Ok(_) => true,
            Err(s) => s.code() == Code::Unimplemented,
        }
    }

    async fn health(&self) -> Option<HealthReport> {
        use plugboard_core::Health;
        let check = self
            .health
            .clone()
            .check(HealthCheckRequest {
                service: HEALTH_SERVICE_NAME.to_owned(),
            })
            .await;
        match check {
            Ok(r) if r.get_ref().status != ServingStatus::Serving as i32 => {
                return Some(HealthReport::new(
                    Health::Unhealthy,
                    "its gRPC health service reports NOT_SERVING",
                ))
            }
            Err(s) if s.code() != Code::Unimplemented => {
                return Some(HealthReport::new(
                    Health::Unhealthy,
                    format!("its gRPC health check failed: {}", s.message()),
                ))
            }
            _ => {}
        }
        if !*self.serves_plugboard.lock() {
            return Some(HealthReport::new(Health::Healthy, "SERVING"));
        }
        match self.plugin.clone().health(pb::Empty {}).await {
            Ok(r) => {
                let r = r.into_inner();
                health_of(r.status).map(|h| HealthReport::new(h, r.message))
            }
            Err(_) => Some(HealthReport::new(Health::Healthy, "SERVING")),
        }
    }

    async fn shutdown(&self) {
        // As go-plugin's host: close the broker, then ask the plugin to exit.
        if let Some(b) = self.broker.lock().take() {
            b.close();
        }
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.controller
                .clone()
                .shutdown(plugboard_protocol::grpc::go_plugin::Empty {}),
        )
        .await;
    }
}

/// The core's error for a plugin's in-band call error.
pub(crate) fn call_error(plugin: &str, method: &str, e: pb::Error) -> CallError {
    match pb::ErrorCode::try_from(e.code).unwrap_or(pb::ErrorCode::Failed) {
        pb::ErrorCode::UnknownMethod => CallError::UnknownMethod {
            plugin: plugin.to_owned(),
            method: method.to_owned(),
            known: Vec::new(),
        },
        pb::ErrorCode::Denied => CallError::Denied(format!("plugin {plugin}: {}", e.message)),
        pb::ErrorCode::InvalidPayload => CallError::Codec {
            method: method.to_owned(),
            message: e.message,
        },
        pb::ErrorCode::Failed => CallError::plugin(plugin, e.message),
    }
}
