//! Serving a process plugin: go-plugin's handshake and services, Plugboard's `Plugin` service,
//! and a client for the host API, in one call to [`serve`].
//!
//! ```no_run
//! use plugboard_pdk::process::{serve, ProcessHost, ProcessPlugin};
//! use plugboard_pdk::Error;
//!
//! struct Greeter;
//!
//! #[plugboard_pdk::process::async_trait]
//! impl ProcessPlugin for Greeter {
//!     async fn call(&self, host: &ProcessHost, method: &str, payload: Vec<u8>) -> Result<Vec<u8>, Error> {
//!         match method {
//!             "greet" => Ok([b"hello, ".as_slice(), &payload].concat()),
//!             _ => Err(Error::unknown_method(&["greet"])),
//!         }
//!     }
//! }
//!
//! fn main() {
//!     serve(Greeter);
//! }
//! ```
//!
//! The binary is then a go-plugin plugin: it checks the magic cookie ([`ServeConfig`]),
//! chooses the highest application protocol version both sides speak, listens on a Unix socket
//! in `PLUGIN_UNIX_SOCKET_DIR`, prints the handshake line, and serves `grpc.health.v1.Health`,
//! `plugin.GRPCController` (shutdown), `plugin.GRPCBroker` and `plugboard.v1.Plugin`. Any
//! go-plugin host can load it; Plugboard's host offers the host API through the broker, which
//! [`ProcessHost`] dials on first use.
//!
//! # AutoMTLS
//! When the host sends its certificate in `PLUGIN_CLIENT_CERT` (go-plugin's `AutoMTLS`,
//! Plugboard's `process.auto_mtls`), the plugin makes a key and certificate of its own (ECDSA
//! P-256, `localhost`), prints the certificate in the handshake line, serves gRPC over TLS
//! requiring exactly the host's certificate, and dials the host API with TLS too, trusting
//! exactly the host's. Nothing to configure: it follows the host.

mod tls;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use async_trait::async_trait;
use futures::FutureExt;
use hyper_util::rt::TokioIo;
use plugboard_protocol::grpc::go_plugin::grpc_broker_server::{GrpcBroker, GrpcBrokerServer};
use plugboard_protocol::grpc::go_plugin::grpc_controller_server::{
    GrpcController, GrpcControllerServer,
};
use plugboard_protocol::grpc::go_plugin::{self as gp, ConnInfo};
use plugboard_protocol::grpc::health::health_check_response::ServingStatus;
use plugboard_protocol::grpc::health::health_server::{Health, HealthServer};
use plugboard_protocol::grpc::health::{HealthCheckRequest, HealthCheckResponse};
use plugboard_protocol::grpc::plugboard as pb;
use plugboard_protocol::grpc::plugboard::host_api_client::HostApiClient;
use plugboard_protocol::grpc::plugboard::plugin_server::{Plugin, PluginServer};
use plugboard_protocol::handshake::{
    choose_version, parse_protocol_versions, Handshake, Network, ENV_CLIENT_CERT,
    ENV_PROTOCOL_VERSIONS, ENV_UNIX_SOCKET_DIR,
};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Notify, OnceCell};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status, Streaming};

use crate::{abi, Error};

/// The magic cookie Plugboard's host sends when a manifest names none
/// (`plugboard_process::DEFAULT_COOKIE_KEY`).
pub const DEFAULT_COOKIE_KEY: &str = "PLUGBOARD_PLUGIN";
/// See [`DEFAULT_COOKIE_KEY`].
pub const DEFAULT_COOKIE_VALUE: &str = "d3b2c1a0-plugboard";

/// A plugin's health, as [`ProcessPlugin::health`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Working normally.
    Healthy,
    /// Working, with a problem.
    Degraded,
    /// Not able to work.
    Unhealthy,
}

impl HealthStatus {
    fn wire(self) -> pb::HealthStatus {
        match self {
            HealthStatus::Healthy => pb::HealthStatus::Healthy,
            HealthStatus::Degraded => pb::HealthStatus::Degraded,
            HealthStatus::Unhealthy => pb::HealthStatus::Unhealthy,
        }
    }
}

/// What a Rust author implements to make a process plugin. Every method but `call` has a
/// default that does nothing. Methods run concurrently, on a multi-threaded runtime.
#[async_trait]
pub trait ProcessPlugin: Send + Sync + 'static {
    /// Runs once, first, with the plugin's effective configuration. Return `Some` to adjust it.
    async fn boot(
        &self,
        host: &ProcessHost,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, Error> {
        let _ = (host, config);
        Ok(None)
    }

    /// Starts the plugin's work.
    async fn start(&self, host: &ProcessHost) -> Result<(), Error> {
        let _ = host;
        Ok(())
    }

    /// Releases what the plugin holds; the process exits soon after.
    async fn stop(&self, host: &ProcessHost) -> Result<(), Error> {
        let _ = host;
        Ok(())
    }

    /// Answers a call. The bytes are in the extension point's codec (JSON by default).
    async fn call(
        &self,
        host: &ProcessHost,
        method: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, Error>;

    /// An event on a topic the manifest subscribes to.
    async fn on_event(&self, host: &ProcessHost, topic: &str, payload: &[u8]) {
        let _ = (host, topic, payload);
    }

    /// The plugin's own view of its health; `None` has nothing to report.
    async fn health(&self) -> Option<(HealthStatus, String)> {
        None
    }

    /// Exports the plugin's state for its next version on a hot reload, when the manifest
    /// says `reload: { handoff: true }`. The host calls it once no call is in flight and
    /// before `stop`; the next version receives the bytes in
    /// [`import_state`](Self::import_state), after its `boot` and before its `start`.
    ///
    /// # Errors
    /// The host keeps the running version and refuses the update. The default refuses: a
    /// plugin that sets `handoff` implements both hooks.
    async fn export_state(&self, host: &ProcessHost) -> Result<Vec<u8>, Error> {
        let _ = host;
        Err(Error::new(
            "the plugin sets `reload: { handoff: true }` but does not implement ProcessPlugin::export_state",
        ))
    }

    /// Receives the state the previous version exported (see
    /// [`export_state`](Self::export_state)).
    ///
    /// # Errors
    /// The host abandons this version and the previous one resumes.
    async fn import_state(&self, host: &ProcessHost, state: Vec<u8>) -> Result<(), Error> {
        let _ = (host, state);
        Err(Error::new(
            "the plugin sets `reload: { handoff: true }` but does not implement ProcessPlugin::import_state",
        ))
    }
}

/// go-plugin's handshake configuration, as the plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The variable that must hold [`ServeConfig::cookie_value`]; a process started without it
    /// prints a message for the person who ran it and exits 1.
    pub cookie_key: String,
    /// The magic cookie's value.
    pub cookie_value: String,
    /// The application protocol versions this plugin speaks.
    pub versions: Vec<u32>,
    /// Listen on TCP (loopback, a port in `PLUGIN_MIN_PORT`..`PLUGIN_MAX_PORT`) instead of a
    /// Unix socket, as go-plugin plugins do on Windows.
    pub tcp: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            cookie_key: DEFAULT_COOKIE_KEY.to_owned(),
            cookie_value: DEFAULT_COOKIE_VALUE.to_owned(),
            versions: vec![1],
            tcp: false,
        }
    }
}

/// Why [`serve_with`] could not serve.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The process was not started by a host (the magic cookie is missing or wrong).
    NotAPluginHost,
    /// The socket or the runtime could not be set up.
    Io(std::io::Error),
    /// The gRPC server failed.
    Server(String),
    /// The host asked for AutoMTLS (`PLUGIN_CLIENT_CERT`), and it cannot be set up.
    AutoMtls(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::NotAPluginHost => f.write_str(
                "this binary is a Plugboard plugin; it is not meant to be run directly: install it in a plugin directory and start the host that loads it",
            ),
            ServeError::Io(e) => write!(f, "cannot serve the plugin: {e}"),
            ServeError::Server(e) => write!(f, "the plugin's gRPC server failed: {e}"),
            ServeError::AutoMtls(e) => write!(
                f,
                "the host asked for AutoMTLS (it set {ENV_CLIENT_CERT}), which cannot be set up: {e}"
            ),
        }
    }
}

impl std::error::Error for ServeError {}

/// Serves `plugin` with the default [`ServeConfig`] until the host shuts it down, then exits
/// the process (status 1 after an error, which is printed on stderr).
pub fn serve<P: ProcessPlugin>(plugin: P) -> ! {
    serve_config(plugin, ServeConfig::default())
}

/// [`serve`] with a handshake configuration of your own.
pub fn serve_config<P: ProcessPlugin>(plugin: P, config: ServeConfig) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(rt) => rt.block_on(serve_with(plugin, config)),
        Err(e) => Err(ServeError::Io(e)),
    };
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    }
}

/// Serves `plugin` on the current tokio runtime until the host shuts it down.
///
/// # Errors
/// [`ServeError`] when the cookie is missing, or the socket or server fails.
pub async fn serve_with<P: ProcessPlugin>(
    plugin: P,
    config: ServeConfig,
) -> Result<(), ServeError> {
    if std::env::var(&config.cookie_key).ok().as_deref() != Some(config.cookie_value.as_str()) {
        return Err(ServeError::NotAPluginHost);
    }
    let offered =
        parse_protocol_versions(&std::env::var(ENV_PROTOCOL_VERSIONS).unwrap_or_default());
    let version = choose_version(&offered, &config.versions)
        .or_else(|| config.versions.iter().min().copied())
        .unwrap_or(1);
    let mtls = match std::env::var(ENV_CLIENT_CERT) {
        Ok(pem) if !pem.trim().is_empty() => {
            Some(tls::Mtls::new(&pem).map_err(ServeError::AutoMtls)?)
        }
        _ => None,
    };
    let with_cert = |mut line: Handshake| {
        line.server_cert = mtls.as_ref().map(|m| m.cert_der.clone());
        line
    };
    if config.tcp {
        let listener = bind_tcp().await.map_err(ServeError::Io)?;
        let addr = listener.local_addr().map_err(ServeError::Io)?;
        let line = with_cert(Handshake::grpc(version, Network::Tcp, addr.to_string()));
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        return match mtls {
            Some(m) => {
                let incoming = tls::incoming(incoming, m.server);
                run_server(plugin, line, incoming, Some(m.client)).await
            }
            None => run_server(plugin, line, incoming, None).await,
        };
    }
    let dir = std::env::var_os(ENV_UNIX_SOCKET_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("plugin-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(ServeError::Io)?;
    let line = with_cert(Handshake::grpc(
        version,
        Network::Unix,
        path.to_string_lossy().into_owned(),
    ));
    let incoming = UnixListenerStream::new(listener);
    let served = match mtls {
        Some(m) => {
            let incoming = tls::incoming(incoming, m.server);
            run_server(plugin, line, incoming, Some(m.client)).await
        }
        None => run_server(plugin, line, incoming, None).await,
    };
    let _ = std::fs::remove_file(&path);
    served
}

/// A loopback listener on the first free port of go-plugin's range.
async fn bind_tcp() -> std::io::Result<tokio::net::TcpListener> {
    let port = |name: &str, default: u16| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u16>().ok())
            .unwrap_or(default)
    };
    let (min, max) = (
        port("PLUGIN_MIN_PORT", 10000),
        port("PLUGIN_MAX_PORT", 25000),
    );
    let mut last = std::io::Error::new(std::io::ErrorKind::AddrInUse, "no port in range");
    for p in min..=max {
        match tokio::net::TcpListener::bind(("127.0.0.1", p)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Serves on `incoming` after printing `line`, until the host shuts the plugin down.
/// `broker_tls` is set with AutoMTLS: the host's broker connections are dialled with it.
async fn run_server<P, I, IO, IE>(
    plugin: P,
    line: Handshake,
    incoming: I,
    broker_tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(), ServeError>
where
    P: ProcessPlugin,
    I: Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (shutdown, mut stopped) = tokio::sync::watch::channel(false);
    let shutdown = Arc::new(shutdown);
    let broker = Arc::new(BrokerState::default());
    let host = ProcessHost {
        broker: broker.clone(),
        host_api_id: Arc::new(std::sync::atomic::AtomicU32::new(0)),
        client: Arc::new(OnceCell::new()),
        tls: broker_tls,
    };
    let (keep_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let server = Server::builder()
        .add_service(HealthServer::new(HealthService))
        .add_service(GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcBrokerServer::new(BrokerService {
            state: broker,
            keep: keep_tx.clone(),
        }))
        .add_service(PluginServer::new(PluginService {
            plugin: Arc::new(plugin),
            host,
        }));

    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", line.format()).map_err(ServeError::Io)?;
        out.flush().map_err(ServeError::Io)?;
    }
    let mut stop = stopped.clone();
    let serve = server.serve_with_incoming_shutdown(incoming, async move {
        let _ = stop.wait_for(|s| *s).await;
        // Close the broker stream, and let the Shutdown call's answer leave.
        drop(keep_tx);
        tokio::time::sleep(Duration::from_millis(20)).await;
    });
    // A graceful stop waits for the host's connections to close; the host may keep them open
    // (go-plugin's host does), so the process ends a moment after Shutdown in any case.
    let served = tokio::select! {
        r = serve => r.map_err(|e| ServeError::Server(e.to_string())),
        _ = async {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        } => Ok(()),
    };
    served
}

/// The plugin's handle on the host API. Cheap to clone.
///
/// The host offers the API through go-plugin's broker when it boots the plugin; the connection
/// is made on first use. A host that offers none (another go-plugin host) makes every method
/// fail with a message saying so.
#[derive(Clone)]
pub struct ProcessHost {
    broker: Arc<BrokerState>,
    host_api_id: Arc<std::sync::atomic::AtomicU32>,
    client: Arc<OnceCell<HostApiClient<Channel>>>,
    /// AutoMTLS: broker connections are TLS, trusting exactly the host's certificate.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for ProcessHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessHost").finish_non_exhaustive()
    }
}

/// A level for [`ProcessHost::log`].
pub use crate::Level;

fn status_error(what: &str, s: &Status) -> Error {
    let message = format!("host API {what}: {}", s.message());
    if s.code() == tonic::Code::PermissionDenied {
        Error::denied(message)
    } else {
        Error::new(message)
    }
}

impl ProcessHost {
    async fn client(&self) -> Result<HostApiClient<Channel>, Error> {
        self.client
            .get_or_try_init(|| async {
                let id = self.host_api_id.load(std::sync::atomic::Ordering::Acquire);
                if id == 0 {
                    return Err(Error::new(
                        "the host offered no host API (it is not Plugboard, or boot has not run)",
                    ));
                }
                let info = self
                    .broker
                    .wait_for(id, Duration::from_secs(5))
                    .await
                    .ok_or_else(|| {
                        Error::new(format!(
                            "the host did not offer broker connection {id} within 5 s"
                        ))
                    })?;
                let path = PathBuf::from(&info.address);
                let endpoint = Endpoint::from_static("http://host.invalid");
                let dialled = match self.tls.clone() {
                    Some(tls) => endpoint
                        .connect_with_connector(tower::service_fn(move |_| {
                            let (path, tls) = (path.clone(), tls.clone());
                            async move { tls::connect(UnixStream::connect(path).await?, tls).await }
                        }))
                        .await,
                    None => {
                        endpoint
                            .connect_with_connector(tower::service_fn(move |_| {
                                let path = path.clone();
                                async move { UnixStream::connect(path).await.map(TokioIo::new) }
                            }))
                            .await
                    }
                };
                let channel = dialled.map_err(|e| {
                    Error::new(format!(
                        "cannot dial the host API at {}: {}",
                        info.address,
                        source_chain(&e)
                    ))
                })?;
                Ok(HostApiClient::new(channel))
            })
            .await
            .cloned()
    }

    /// Writes a record to the plugin's log on the host.
    ///
    /// # Errors
    /// When the host API is unreachable.
    pub async fn log(&self, level: Level, message: &str) -> Result<(), Error> {
        let level = match level {
            Level::Trace => pb::LogLevel::Trace,
            Level::Debug => pb::LogLevel::Debug,
            Level::Info => pb::LogLevel::Info,
            Level::Warning => pb::LogLevel::Warn,
            _ => pb::LogLevel::Error,
        };
        self.client()
            .await?
            .log(pb::LogRequest {
                level: level as i32,
                message: message.to_owned(),
                fields: HashMap::new(),
            })
            .await
            .map_err(|s| status_error("log", &s))?;
        Ok(())
    }

    /// The plugin's current effective configuration.
    ///
    /// # Errors
    /// When the host API is unreachable.
    pub async fn config(&self) -> Result<serde_json::Value, Error> {
        let r = self
            .client()
            .await?
            .config(pb::Empty {})
            .await
            .map_err(|s| status_error("config", &s))?;
        serde_json::from_slice(&r.into_inner().config_json).map_err(|e| {
            Error::new(format!(
                "the host sent a configuration that is not JSON: {e}"
            ))
        })
    }

    /// Reads `key` from the plugin's store.
    ///
    /// # Errors
    /// [`Error::denied`] without `permissions: { storage: true }`.
    pub async fn storage_get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let r = self
            .client()
            .await?
            .storage_get(pb::StorageKey {
                key: key.to_owned(),
            })
            .await
            .map_err(|s| status_error("storage_get", &s))?
            .into_inner();
        Ok(r.found.then_some(r.value))
    }

    /// Writes `key`.
    ///
    /// # Errors
    /// As for [`ProcessHost::storage_get`].
    pub async fn storage_put(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.client()
            .await?
            .storage_put(pb::StoragePutRequest {
                key: key.to_owned(),
                value: value.to_vec(),
            })
            .await
            .map_err(|s| status_error("storage_put", &s))?;
        Ok(())
    }

    /// Deletes `key`; whether it existed.
    ///
    /// # Errors
    /// As for [`ProcessHost::storage_get`].
    pub async fn storage_delete(&self, key: &str) -> Result<bool, Error> {
        let r = self
            .client()
            .await?
            .storage_delete(pb::StorageKey {
                key: key.to_owned(),
            })
            .await
            .map_err(|s| status_error("storage_delete", &s))?;
        Ok(r.into_inner().deleted)
    }

    /// The keys starting with `prefix`, sorted.
    ///
    /// # Errors
    /// As for [`ProcessHost::storage_get`].
    pub async fn storage_list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let r = self
            .client()
            .await?
            .storage_list(pb::StorageListRequest {
                prefix: prefix.to_owned(),
            })
            .await
            .map_err(|s| status_error("storage_list", &s))?;
        Ok(r.into_inner().keys)
    }

    /// Publishes an event.
    ///
    /// # Errors
    /// When the topic is reserved (`plugin.*`) or the host API is unreachable.
    pub async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), Error> {
        self.client()
            .await?
            .publish(pb::PublishRequest {
                topic: topic.to_owned(),
                payload: payload.to_vec(),
            })
            .await
            .map_err(|s| status_error("publish", &s))?;
        Ok(())
    }

    /// Calls `method` of plugin `target` (declared in this plugin's `requires` or `optional`).
    ///
    /// # Errors
    /// The call's own error, or a denial for an undeclared target.
    pub async fn call_plugin(
        &self,
        target: &str,
        method: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let r = self
            .client()
            .await?
            .call_plugin(pb::CallPluginRequest {
                plugin: target.to_owned(),
                method: method.to_owned(),
                payload: payload.to_vec(),
            })
            .await
            .map_err(|s| status_error("call_plugin", &s))?
            .into_inner();
        match r.outcome {
            Some(pb::call_response::Outcome::Payload(p)) => Ok(p),
            Some(pb::call_response::Outcome::Error(e)) => {
                if e.code == pb::ErrorCode::Denied as i32 {
                    Err(Error::denied(e.message))
                } else {
                    Err(Error::new(e.message))
                }
            }
            None => Ok(Vec::new()),
        }
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

/// Connections the host offered through the broker, by id.
#[derive(Default)]
struct BrokerState {
    offers: parking_lot::Mutex<HashMap<u32, ConnInfo>>,
    changed: Notify,
}

impl BrokerState {
    async fn wait_for(&self, id: u32, limit: Duration) -> Option<ConnInfo> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if let Some(info) = self.offers.lock().get(&id).cloned() {
                return Some(info);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

struct BrokerService {
    state: Arc<BrokerState>,
    /// The plugin offers nothing, but keeps its side of the stream open while it runs.
    keep: tokio::sync::broadcast::Sender<()>,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[async_trait]
impl GrpcBroker for BrokerService {
    type StartStreamStream = BoxStream<ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut inbound = request.into_inner();
        let state = self.state.clone();
        tokio::spawn(async move {
            while let Some(Ok(info)) = inbound.next().await {
                state.offers.lock().insert(info.service_id, info);
                state.changed.notify_waiters();
            }
        });
        let (tx, rx) = mpsc::channel::<Result<ConnInfo, Status>>(1);
        let mut keep = self.keep.subscribe();
        tokio::spawn(async move {
            let _ = keep.recv().await;
            drop(tx);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

struct Controller {
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

#[async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        self.shutdown.send_replace(true);
        Ok(Response::new(gp::Empty {}))
    }
}

struct HealthService;

#[async_trait]
impl Health for HealthService {
    type WatchStream = BoxStream<HealthCheckResponse>;

    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("use Check"))
    }
}

struct PluginService<P> {
    plugin: Arc<P>,
    host: ProcessHost,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}

fn to_status(hook: &str, e: &Error) -> Status {
    let _ = hook;
    Status::unknown(e.to_string())
}

fn wire_error(e: Error) -> pb::Error {
    let code = match e.status {
        s if s == abi::STATUS_NOT_FOUND => pb::ErrorCode::UnknownMethod,
        s if s == abi::STATUS_DENIED => pb::ErrorCode::Denied,
        _ => pb::ErrorCode::Failed,
    };
    pb::Error {
        message: e.to_string(),
        code: code as i32,
    }
}

#[async_trait]
impl<P: ProcessPlugin> Plugin for PluginService<P> {
    async fn boot(
        &self,
        request: Request<pb::BootRequest>,
    ) -> Result<Response<pb::BootResponse>, Status> {
        let r = request.into_inner();
        self.host
            .host_api_id
            .store(r.host_api_broker_id, std::sync::atomic::Ordering::Release);
        let config: serde_json::Value = if r.config_json.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&r.config_json).map_err(|e| {
                Status::invalid_argument(format!("the configuration is not JSON: {e}"))
            })?
        };
        let adjusted = AssertUnwindSafe(self.plugin.boot(&self.host, config))
            .catch_unwind()
            .await
            .map_err(|p| Status::internal(format!("boot panicked: {}", panic_message(&*p))))?
            .map_err(|e| to_status("boot", &e))?;
        Ok(Response::new(pb::BootResponse {
            adjusted_config_json: adjusted
                .map(|v| serde_json::to_vec(&v).unwrap_or_default())
                .unwrap_or_default(),
        }))
    }

    async fn start(&self, _: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        AssertUnwindSafe(self.plugin.start(&self.host))
            .catch_unwind()
            .await
            .map_err(|p| Status::internal(format!("start panicked: {}", panic_message(&*p))))?
            .map_err(|e| to_status("start", &e))?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn stop(&self, _: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        AssertUnwindSafe(self.plugin.stop(&self.host))
            .catch_unwind()
            .await
            .map_err(|p| Status::internal(format!("stop panicked: {}", panic_message(&*p))))?
            .map_err(|e| to_status("stop", &e))?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn call(
        &self,
        request: Request<pb::CallRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let r = request.into_inner();
        // The two reserved methods of a state hand-off go to their own hooks.
        let work = async {
            match r.method.as_str() {
                crate::EXPORT_STATE_METHOD => self.plugin.export_state(&self.host).await,
                crate::IMPORT_STATE_METHOD => self
                    .plugin
                    .import_state(&self.host, r.payload)
                    .await
                    .map(|()| Vec::new()),
                method => self.plugin.call(&self.host, method, r.payload).await,
            }
        };
        let outcome = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(Error::new(format!("panicked: {}", panic_message(&*p)))));
        let outcome = match outcome {
            Ok(p) => pb::call_response::Outcome::Payload(p),
            Err(e) => pb::call_response::Outcome::Error(wire_error(e)),
        };
        Ok(Response::new(pb::CallResponse {
            outcome: Some(outcome),
        }))
    }

    async fn on_event(
        &self,
        request: Request<pb::EventRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = request.into_inner();
        let _ = AssertUnwindSafe(self.plugin.on_event(&self.host, &r.topic, &r.payload))
            .catch_unwind()
            .await;
        Ok(Response::new(pb::Empty {}))
    }

    async fn health(&self, _: Request<pb::Empty>) -> Result<Response<pb::HealthResponse>, Status> {
        let report = AssertUnwindSafe(self.plugin.health())
            .catch_unwind()
            .await
            .unwrap_or_else(|p| {
                Some((
                    HealthStatus::Unhealthy,
                    format!("health panicked: {}", panic_message(&*p)),
                ))
            });
        let (status, message) = match report {
            Some((s, m)) => (s.wire(), m),
            None => (pb::HealthStatus::HealthUnspecified, String::new()),
        };
        Ok(Response::new(pb::HealthResponse {
            status: status as i32,
            message,
        }))
    }
}
