//! go-plugin's process contract: the handshake line, the environment, stderr logs, reattach.
//!
//! A go-plugin host starts the plugin binary with a few variables in its environment
//! ([`plugin_env`]), reads the first line the plugin prints on stdout ([`Handshake::parse`]),
//! checks the version the plugin chose ([`negotiate`]), dials the address the line names, and
//! from then on reads the plugin's stderr as log lines ([`parse_log_line`]). A plugin that is
//! already running can be reached again from its [`ReattachConfig`].
//!
//! Everything here is pure: the process runtime does the spawning, reading and dialing. The
//! behaviour mirrors go-plugin's own client (`client.go`), which is the reference: every line a
//! go-plugin host accepts is accepted here, except the net/rpc protocol, which Plugboard does
//! not speak and refuses with a message saying how to rebuild the plugin.
//!
//! The full specification, field by field, is `docs/protocol.md` in the repository.

mod env;
mod error;
mod line;
mod log;
mod reattach;

#[cfg(test)]
mod tests;

pub use self::env::{
    choose_version, format_protocol_versions, parse_protocol_versions, plugin_env, HandshakeEnv,
    HandshakeEnvBuilder, HandshakeEnvError, DEFAULT_MAX_PORT, DEFAULT_MIN_PORT, ENV_CLIENT_CERT,
    ENV_MAX_PORT, ENV_MIN_PORT, ENV_MULTIPLEX_GRPC, ENV_PROTOCOL_VERSIONS, ENV_UNIX_SOCKET_DIR,
    ENV_UNIX_SOCKET_GROUP,
};
pub use self::error::HandshakeError;
pub use self::line::{
    negotiate, Handshake, Network, Protocol, CORE_PROTOCOL_VERSION, SERVER_CERT_MIN_LEN,
};
pub use self::log::{parse_log_line, LogLevel, LogRecord};
pub use self::reattach::{ReattachAddr, ReattachConfig, ReattachError};
