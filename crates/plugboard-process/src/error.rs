//! Why a process plugin could not be started or reached.

use std::path::PathBuf;

use plugboard_core::RuntimeError;
use plugboard_protocol::handshake::{HandshakeEnvError, HandshakeError, ReattachError};

/// Why a process plugin could not be started, reached or kept running.
///
/// Every message names the plugin and says what to do; where the plugin printed something,
/// the message quotes it, with its last stderr lines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The manifest asks for something this runtime cannot do.
    #[error("plugin {plugin}: {message}")]
    Manifest {
        /// The plugin.
        plugin: String,
        /// What is wrong, naming the manifest key, and what to do.
        message: String,
    },
    /// The OS sandbox could not be prepared for the plugin.
    #[error("plugin {plugin}: cannot sandbox its process: {message}; fix its `permissions:`, or set `process.sandbox: off` in its plugin.yaml to run it unconfined")]
    Sandbox {
        /// The plugin.
        plugin: String,
        /// What failed.
        message: String,
    },
    /// The manifest's `process.handshake` is unusable.
    #[error("plugin {plugin}: process.handshake in its plugin.yaml: {source}")]
    HandshakeConfig {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        #[source]
        source: HandshakeEnvError,
    },
    /// The executable could not be started.
    #[error("plugin {plugin}: cannot start {entry}: {source}; check `entry:` in its plugin.yaml and that the file is executable")]
    Spawn {
        /// The plugin.
        plugin: String,
        /// The executable.
        entry: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The plugin printed a handshake line that is wrong.
    #[error("plugin {plugin}: {source}{stderr}")]
    Handshake {
        /// The plugin.
        plugin: String,
        /// What is wrong with the line (it quotes the line).
        #[source]
        source: HandshakeError,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
    /// The plugin exited, or closed its stdout, before it was ready.
    #[error("plugin {plugin} {what} before it could {expected}; run it by hand to see why (its executable is {entry}){stderr}")]
    EarlyExit {
        /// The plugin.
        plugin: String,
        /// What happened ("exited with status 1", "closed its stdout").
        what: String,
        /// What was expected ("printing its go-plugin handshake").
        expected: &'static str,
        /// The executable.
        entry: PathBuf,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
    /// The plugin did not become ready in time.
    #[error("plugin {plugin} did not {expected} within {millis} ms; raise process.start_timeout in its plugin.yaml if it needs longer{stderr}")]
    StartTimeout {
        /// The plugin.
        plugin: String,
        /// What was expected.
        expected: &'static str,
        /// The limit.
        millis: u64,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
    /// The plugin's address could not be dialled, or its gRPC services failed.
    #[error("plugin {plugin}: {message}{stderr}")]
    Connect {
        /// The plugin.
        plugin: String,
        /// What failed and what to do.
        message: String,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
    /// `process.auto_mtls` is on, but the plugin's handshake line has no server certificate.
    #[error("plugin {plugin}: process.auto_mtls is on, but its handshake line has no server certificate (the sixth field is empty): {line}; the plugin does not do go-plugin's AutoMTLS (read PLUGIN_CLIENT_CERT, serve TLS, print its certificate): build it with go-plugin or plugboard-pdk, or set `process.auto_mtls: false` in its plugin.yaml{stderr}")]
    MissingServerCert {
        /// The plugin.
        plugin: String,
        /// The handshake line, quoted.
        line: String,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
    /// The certificate in the plugin's handshake line cannot be used.
    #[error("plugin {plugin}: the server certificate in its handshake line (sixth field) cannot be used: {reason}; the line was {line}; the plugin's output may have been cut or mixed with other output{stderr}")]
    ServerCert {
        /// The plugin.
        plugin: String,
        /// What is wrong with it.
        reason: String,
        /// The handshake line, quoted (cut in the middle when long).
        line: String,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
    /// AutoMTLS failed: a certificate could not be made, or the TLS handshake failed.
    #[error("plugin {plugin}: {message}{stderr}")]
    Tls {
        /// The plugin.
        plugin: String,
        /// What failed, and what to do.
        message: String,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
    /// A reattach configuration is unusable.
    #[error("plugin {plugin}: reattach configuration: {source}")]
    Reattach {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        #[source]
        source: ReattachError,
    },
    /// A stdio plugin broke the stdio protocol.
    #[error("plugin {plugin}: {message}{stderr}")]
    Stdio {
        /// The plugin.
        plugin: String,
        /// What it sent, quoted, and what was expected.
        message: String,
        /// The plugin's last stderr lines, rendered.
        stderr: String,
    },
}

impl From<ProcessError> for RuntimeError {
    fn from(e: ProcessError) -> Self {
        RuntimeError::new(e.to_string())
    }
}
