//! Starting and stopping the server, and the state its handlers share.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use parking_lot::Mutex;
use plugboard::Host;
use tokio::sync::{broadcast, oneshot};

use crate::auth::Sessions;
use crate::live::{self, LiveEvent};
use crate::{api, assets, auth};

/// The default request body limit: a call payload of a panel, or an action, is small.
const DEFAULT_MAX_BODY: usize = 1 << 20;

/// How the dashboard is served. Start from [`DashboardOptions::new`].
#[derive(Clone)]
pub struct DashboardOptions {
    listen: SocketAddr,
    allow_remote: bool,
    token: Option<String>,
    max_body: usize,
}

impl fmt::Debug for DashboardOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token stays out of logs.
        f.debug_struct("DashboardOptions")
            .field("listen", &self.listen)
            .field("allow_remote", &self.allow_remote)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Default for DashboardOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DashboardOptions {
    /// Loopback `127.0.0.1:7070`, a fresh random token, bodies up to 1 MiB.
    pub fn new() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7070),
            allow_remote: false,
            token: None,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The address to listen on; port 0 picks a free port ([`RunningDashboard::addr`] tells
    /// which).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Allows an address that is not loopback. The server speaks plain HTTP: put a TLS proxy
    /// in front of it. A warning is logged when it is used.
    #[must_use]
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// Uses this access token instead of a random one (at least 32 characters), for a
    /// supervisor that hands it to the operator by other means.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The largest request body accepted, in bytes; larger requests get `413`.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The address is reachable from other machines and that was not allowed.
    #[error("the dashboard would listen on {0}, which other machines can reach, and it can stop plugins; listen on 127.0.0.1, or allow it explicitly (`--ui-allow-remote`, or `allow_remote: true` under `ui:` in config.yaml)")]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("the dashboard cannot listen on {addr}: {source}; choose another address (`--ui 127.0.0.1:PORT`)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The token given with [`DashboardOptions::token`] is too short to be a secret.
    #[error("the dashboard's access token must be at least 32 characters; leave it out to get a random one")]
    WeakToken,
}

/// The web dashboard. See the [crate docs](crate).
#[derive(Debug)]
pub struct Dashboard;

impl Dashboard {
    /// Serves the dashboard of `host` until the returned value is dropped or
    /// [shut down](RunningDashboard::shutdown). Call it from within a tokio runtime.
    ///
    /// # Errors
    /// When the address is not loopback and that was not allowed, the token is too short, or
    /// the address cannot be bound.
    pub async fn serve(
        host: Host,
        options: DashboardOptions,
    ) -> Result<RunningDashboard, DashboardError> {
        let ip = options.listen.ip();
        if !ip.is_loopback() && !options.allow_remote {
            return Err(DashboardError::NotLoopback(options.listen));
        }
        let token = match options.token {
            Some(t) if t.len() < 32 => return Err(DashboardError::WeakToken),
            Some(t) => t,
            None => auth::random_hex(32),
        };
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| DashboardError::Bind {
                addr: options.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DashboardError::Bind {
                addr: options.listen,
                source,
            })?;
        if !ip.is_loopback() {
            tracing::warn!(
                "the dashboard listens on {addr}, reachable from other machines, over plain HTTP; anyone who sees the token can stop plugins; put a TLS proxy in front of it"
            );
        }
        let (events, _) = broadcast::channel(1024);
        live::attach(&host, events.clone());
        let state = Arc::new(AppState {
            host,
            token: token.clone(),
            sessions: Mutex::new(Sessions::default()),
            events,
            allowed_hosts: allowed_hosts(addr, options.allow_remote),
            cookie_name: format!("{}{}", auth::COOKIE_PREFIX, addr.port()),
            max_body: options.max_body,
        });
        let app = router(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the dashboard stopped: {e}");
            }
        });
        Ok(RunningDashboard {
            addr,
            token,
            stop: Some(stop),
            task,
        })
    }
}

/// A dashboard being served. Dropping it stops the server.
pub struct RunningDashboard {
    addr: SocketAddr,
    token: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for RunningDashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningDashboard")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningDashboard {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The access token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The URL to open, with the token: `http://127.0.0.1:7070/?token=...`.
    pub fn url(&self) -> String {
        format!("{}/?token={}", self.base_url(), self.token)
    }

    /// The URL without the token.
    pub fn base_url(&self) -> String {
        let host = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        format!("http://{host}:{}", self.addr.port())
    }

    /// Stops accepting connections, lets open requests finish (event streams end), and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        // Event streams never end on their own: give them a moment, then cut them.
        if tokio::time::timeout(std::time::Duration::from_secs(2), task)
            .await
            .is_err()
        {
            tracing::debug!("the dashboard's open streams were cut at shutdown");
        }
    }
}

impl Drop for RunningDashboard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) host: Host,
    pub(crate) token: String,
    pub(crate) sessions: Mutex<Sessions>,
    pub(crate) events: broadcast::Sender<LiveEvent>,
    /// `Host` header values accepted; empty when any is (remote listening).
    pub(crate) allowed_hosts: Vec<String>,
    /// The session cookie's name (with the port).
    pub(crate) cookie_name: String,
    pub(crate) max_body: usize,
}

pub(crate) type Shared = Arc<AppState>;

/// The names a browser on this machine uses for a loopback address, against DNS rebinding.
fn allowed_hosts(addr: SocketAddr, remote: bool) -> Vec<String> {
    if remote {
        return Vec::new();
    }
    let port = addr.port();
    let mut hosts = vec![
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ];
    let own = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        IpAddr::V4(ip) => format!("{ip}:{port}"),
    };
    if !hosts.contains(&own) {
        hosts.push(own);
    }
    hosts
}

fn router(state: Shared) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .route("/api/session", get(api::session))
        .route("/api/plugins", get(api::plugins))
        .route("/api/events", get(live::events))
        .route("/api/plugins/{id}", get(api::plugin))
        .route("/api/plugins/{id}/log", get(api::log))
        .route("/api/plugins/{id}/log/stream", get(live::log_stream))
        .route("/api/plugins/{id}/icon", get(assets::icon))
        .route("/api/plugins/{id}/call", post(api::call))
        .route("/api/plugins/{id}/panel", post(api::open_panel))
        .route("/api/plugins/{id}/actions/{action}", post(api::action))
        .route("/panel/{key}/", get(assets::panel_frame))
        .route("/panel/{key}/bridge.js", get(assets::panel_bridge))
        .route("/panel/{key}/files/{*path}", get(assets::panel_file))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}
