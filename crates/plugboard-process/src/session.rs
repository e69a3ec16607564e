//! What the supervisor needs of one running plugin process, whatever its protocol.

use async_trait::async_trait;
use plugboard_core::{CallError, Event, HealthReport, PluginError};

use crate::child::Child;
use crate::error::ProcessError;

/// One plugin process, ready for calls: a gRPC connection or a stdio conversation.
///
/// A session ends with its process; the supervisor then launches a new one (a restart) or
/// gives up. Calls on a session whose process has exited fail; the supervisor races every call
/// against the process's exit, so none hangs.
#[async_trait]
pub(crate) trait Session: Send + Sync + 'static {
    /// The process.
    fn child(&self) -> &Child;

    /// The gRPC connection, for calling the plugin's own services (`None` on stdio).
    fn channel(&self) -> Option<tonic::transport::Channel> {
        None
    }

    /// Runs `boot` with the configuration; `Some` is an adjusted configuration.
    async fn boot(
        &self,
        config: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError>;

    /// Runs `start`.
    async fn start(&self) -> Result<(), PluginError>;

    /// Runs `stop` (the plugin's hook, not the process's end).
    async fn stop(&self) -> Result<(), PluginError>;

    /// One call, with no deadline of its own.
    async fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError>;

    /// Delivers an event.
    async fn event(&self, event: &Event);

    /// Whether the process still answers at all (go-plugin's health check); asked after a
    /// call timed out, to tell a slow method from a hung process. The default says yes.
    async fn ping(&self) -> bool {
        true
    }

    /// The plugin's health, as it reports it.
    async fn health(&self) -> Option<HealthReport>;

    /// Asks the process to exit (go-plugin's `GRPCController.Shutdown`, stdio's `stop`);
    /// the supervisor then waits, and signals the process group if it must.
    async fn shutdown(&self);
}

/// Starts sessions for one plugin: the first, and one per restart.
#[async_trait]
pub(crate) trait Launcher: Send + Sync + 'static {
    /// Starts the process and waits until it is ready for `boot`.
    async fn launch(&self) -> Result<Box<dyn Session>, ProcessError>;
}
