//! The environment a go-plugin host gives the plugin process, and the plugin-side choice of
//! version it drives.

/// The application protocol versions the host speaks, comma-separated (`1,2,3`). The plugin
/// serves the highest one it also speaks.
pub const ENV_PROTOCOL_VERSIONS: &str = "PLUGIN_PROTOCOL_VERSIONS";
/// The lowest TCP port the plugin may listen on (used only when it listens on TCP).
pub const ENV_MIN_PORT: &str = "PLUGIN_MIN_PORT";
/// The highest TCP port the plugin may listen on (used only when it listens on TCP).
pub const ENV_MAX_PORT: &str = "PLUGIN_MAX_PORT";
/// AutoMTLS: the host's client certificate, PEM. A plugin that sees it serves TLS, requires
/// this certificate from the host, and prints its own certificate in the handshake.
pub const ENV_CLIENT_CERT: &str = "PLUGIN_CLIENT_CERT";
/// The directory in which the plugin creates its Unix socket (go-plugin 1.5 and later; older
/// plugins use the system's temporary directory).
pub const ENV_UNIX_SOCKET_DIR: &str = "PLUGIN_UNIX_SOCKET_DIR";
/// A group name or id that should own the plugin's Unix socket, made group-writable
/// (go-plugin 1.5 and later).
pub const ENV_UNIX_SOCKET_GROUP: &str = "PLUGIN_UNIX_SOCKET_GROUP";
/// Set (to `true`) when the host wants go-plugin's gRPC broker multiplexed over the one
/// connection (go-plugin 1.6 and later); the plugin then adds a seventh handshake field.
pub const ENV_MULTIPLEX_GRPC: &str = "PLUGIN_MULTIPLEX_GRPC";

/// go-plugin's default for [`ENV_MIN_PORT`], which it always sends.
pub const DEFAULT_MIN_PORT: u16 = 10000;
/// go-plugin's default for [`ENV_MAX_PORT`], which it always sends.
pub const DEFAULT_MAX_PORT: u16 = 25000;

/// What the host tells a plugin process through its environment, validated.
///
/// Built with [`HandshakeEnv::builder`]; turned into variables with [`plugin_env`]. The
/// variables are added to the environment the process inherits, as go-plugin adds them.
///
/// ```
/// use plugboard_protocol::handshake::{plugin_env, HandshakeEnv};
///
/// let env = HandshakeEnv::builder("BASIC_PLUGIN", "hello")
///     .protocol_versions([1, 2])
///     .build()?;
/// let vars = plugin_env(&env);
/// assert!(vars.contains(&("BASIC_PLUGIN".into(), "hello".into())));
/// assert!(vars.contains(&("PLUGIN_PROTOCOL_VERSIONS".into(), "1,2".into())));
/// # Ok::<(), plugboard_protocol::handshake::HandshakeEnvError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeEnv {
    magic_cookie_key: String,
    magic_cookie_value: String,
    protocol_versions: Vec<u32>,
    min_port: u16,
    max_port: u16,
    unix_socket_dir: Option<String>,
    unix_socket_group: Option<String>,
    client_cert_pem: Option<String>,
    multiplex_grpc: bool,
}

impl HandshakeEnv {
    /// Starts a configuration with the application's magic cookie.
    ///
    /// The cookie is not a security measure: it lets a plugin started by hand print a helpful
    /// message ("This binary is a plugin...") instead of hanging. A go-plugin plugin compares
    /// the variable named `magic_cookie_key` with `magic_cookie_value` and exits 1 on mismatch,
    /// so both must match what the plugin was built with.
    pub fn builder(
        magic_cookie_key: impl Into<String>,
        magic_cookie_value: impl Into<String>,
    ) -> HandshakeEnvBuilder {
        HandshakeEnvBuilder {
            env: HandshakeEnv {
                magic_cookie_key: magic_cookie_key.into(),
                magic_cookie_value: magic_cookie_value.into(),
                protocol_versions: vec![1],
                min_port: DEFAULT_MIN_PORT,
                max_port: DEFAULT_MAX_PORT,
                unix_socket_dir: None,
                unix_socket_group: None,
                client_cert_pem: None,
                multiplex_grpc: false,
            },
        }
    }

    /// The versions offered, in the order given; pass them to [`negotiate`](super::negotiate)
    /// with the plugin's handshake.
    pub fn protocol_versions(&self) -> &[u32] {
        &self.protocol_versions
    }

    /// Whether the host asked for gRPC broker multiplexing (so the handshake must carry the
    /// seventh field).
    pub fn multiplex_grpc(&self) -> bool {
        self.multiplex_grpc
    }
}

/// Builds a [`HandshakeEnv`]; see [`HandshakeEnv::builder`].
#[derive(Debug, Clone)]
#[must_use = "call build() to get the HandshakeEnv"]
pub struct HandshakeEnvBuilder {
    env: HandshakeEnv,
}

impl HandshakeEnvBuilder {
    /// The application protocol versions the host speaks (default: `[1]`).
    pub fn protocol_versions(mut self, versions: impl IntoIterator<Item = u32>) -> Self {
        self.env.protocol_versions = versions.into_iter().collect();
        self
    }

    /// The TCP port range (default 10000 to 25000, go-plugin's).
    pub fn port_range(mut self, min: u16, max: u16) -> Self {
        self.env.min_port = min;
        self.env.max_port = max;
        self
    }

    /// The directory the plugin should create its Unix socket in.
    pub fn unix_socket_dir(mut self, dir: impl Into<String>) -> Self {
        self.env.unix_socket_dir = Some(dir.into());
        self
    }

    /// The group that should own the plugin's Unix socket.
    pub fn unix_socket_group(mut self, group: impl Into<String>) -> Self {
        self.env.unix_socket_group = Some(group.into());
        self
    }

    /// Turns on AutoMTLS with the host's client certificate (PEM).
    pub fn client_cert_pem(mut self, pem: impl Into<String>) -> Self {
        self.env.client_cert_pem = Some(pem.into());
        self
    }

    /// Asks the plugin to multiplex go-plugin's gRPC broker over its one connection.
    pub fn multiplex_grpc(mut self, on: bool) -> Self {
        self.env.multiplex_grpc = on;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`HandshakeEnvError`] when the cookie key or value is empty, the key is not a usable
    /// variable name or is one of go-plugin's own `PLUGIN_*` names, a value contains a NUL
    /// byte, no version is offered, or the port range is empty.
    pub fn build(self) -> Result<HandshakeEnv, HandshakeEnvError> {
        let env = self.env;
        let key = &env.magic_cookie_key;
        if key.is_empty() || env.magic_cookie_value.is_empty() {
            return Err(HandshakeEnvError::EmptyCookie);
        }
        if key.contains(['=', '\0']) {
            return Err(HandshakeEnvError::InvalidCookieKey { key: key.clone() });
        }
        if RESERVED.contains(&key.as_str()) {
            return Err(HandshakeEnvError::ReservedCookieKey { key: key.clone() });
        }
        let values = [
            Some(&env.magic_cookie_value),
            env.unix_socket_dir.as_ref(),
            env.unix_socket_group.as_ref(),
            env.client_cert_pem.as_ref(),
        ];
        if values.into_iter().flatten().any(|v| v.contains('\0')) {
            return Err(HandshakeEnvError::NulInValue);
        }
        if env.protocol_versions.is_empty() {
            return Err(HandshakeEnvError::NoVersions);
        }
        if env.min_port > env.max_port {
            return Err(HandshakeEnvError::EmptyPortRange {
                min: env.min_port,
                max: env.max_port,
            });
        }
        Ok(env)
    }
}

const RESERVED: [&str; 7] = [
    ENV_PROTOCOL_VERSIONS,
    ENV_MIN_PORT,
    ENV_MAX_PORT,
    ENV_CLIENT_CERT,
    ENV_UNIX_SOCKET_DIR,
    ENV_UNIX_SOCKET_GROUP,
    ENV_MULTIPLEX_GRPC,
];

/// Why a [`HandshakeEnv`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeEnvError {
    /// The magic cookie key or value is empty.
    #[error(
        "the magic cookie key and value must both be set: go-plugin plugins refuse to start \
         (\"Misconfigured ServeConfig\") without them; use the values the plugin was built with"
    )]
    EmptyCookie,
    /// The cookie key cannot be an environment variable name.
    #[error("the magic cookie key {key:?} cannot be an environment variable name (it contains `=` or a NUL byte)")]
    InvalidCookieKey {
        /// The key.
        key: String,
    },
    /// The cookie key is one of go-plugin's own variables.
    #[error("the magic cookie key {key:?} is one of go-plugin's own variables; choose an application-specific name")]
    ReservedCookieKey {
        /// The key.
        key: String,
    },
    /// A value contains a NUL byte, which no environment can carry.
    #[error("an environment value contains a NUL byte, which no process environment can carry")]
    NulInValue,
    /// No protocol version was offered.
    #[error(
        "at least one application protocol version must be offered in PLUGIN_PROTOCOL_VERSIONS"
    )]
    NoVersions,
    /// The minimum port is above the maximum.
    #[error("the plugin port range {min}..={max} is empty: PLUGIN_MIN_PORT must not exceed PLUGIN_MAX_PORT")]
    EmptyPortRange {
        /// The minimum port.
        min: u16,
        /// The maximum port.
        max: u16,
    },
}

/// The variables the host adds to the plugin's environment, in the order go-plugin adds them:
/// the magic cookie, the port range, the offered versions, then the optional AutoMTLS
/// certificate, Unix socket settings and multiplexing request.
pub fn plugin_env(cfg: &HandshakeEnv) -> Vec<(String, String)> {
    let mut vars = vec![
        (cfg.magic_cookie_key.clone(), cfg.magic_cookie_value.clone()),
        (ENV_MIN_PORT.to_owned(), cfg.min_port.to_string()),
        (ENV_MAX_PORT.to_owned(), cfg.max_port.to_string()),
        (
            ENV_PROTOCOL_VERSIONS.to_owned(),
            format_protocol_versions(&cfg.protocol_versions),
        ),
    ];
    let optional = [
        (ENV_CLIENT_CERT, cfg.client_cert_pem.as_ref()),
        (ENV_UNIX_SOCKET_DIR, cfg.unix_socket_dir.as_ref()),
        (ENV_UNIX_SOCKET_GROUP, cfg.unix_socket_group.as_ref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            vars.push((name.to_owned(), value.clone()));
        }
    }
    if cfg.multiplex_grpc {
        vars.push((ENV_MULTIPLEX_GRPC.to_owned(), "true".to_owned()));
    }
    vars
}

/// `1,2,3`: the value of [`ENV_PROTOCOL_VERSIONS`].
pub fn format_protocol_versions(versions: &[u32]) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`ENV_PROTOCOL_VERSIONS`] on the plugin side. Entries that are not numbers are skipped,
/// as go-plugin skips them; an empty value offers nothing.
pub fn parse_protocol_versions(value: &str) -> Vec<u32> {
    value
        .split(',')
        .filter_map(|part| part.trim().parse().ok())
        .collect()
}

/// The plugin side of version negotiation, as go-plugin's server does it: the highest version
/// in `plugin_speaks` that the host offered, or, when there is none, the lowest the plugin
/// speaks (so that the host, not the plugin, reports the mismatch). `None` only when the plugin
/// speaks no version at all.
pub fn choose_version(host_offered: &[u32], plugin_speaks: &[u32]) -> Option<u32> {
    plugin_speaks
        .iter()
        .copied()
        .filter(|v| host_offered.contains(v))
        .max()
        .or_else(|| plugin_speaks.iter().copied().min())
}
