//! The seam between the core and the ways a plugin can run.
//!
//! A [`Runtime`] knows how to turn a [`Descriptor`] into a running [`PluginInstance`]; the core
//! knows nothing else about it. The builtin runtime lives in this crate; the WebAssembly,
//! process and native runtimes live in their own crates and are registered with
//! [`HostBuilder::runtime`](crate::HostBuilder::runtime).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::future::BoxFuture;
use plugboard_manifest::RuntimeKind;

use crate::{CallError, Descriptor, Event, HealthReport, HostApi, PluginError, RuntimeError};

/// Runs one kind of plugin.
///
/// Implementations are registered once per host and shared by every plugin of their kind, so
/// they hold what is expensive to build once (a wasmtime `Engine`, a compiled-module cache, a
/// process supervisor).
#[async_trait]
pub trait Runtime: Send + Sync + fmt::Debug + 'static {
    /// The manifest's `runtime:` value this runtime serves.
    fn kind(&self) -> RuntimeKind;

    /// Checks what can be checked without running plugin code: that the entry exists, has the
    /// right format and matches `integrity:`. Used by `plugboard list` and `validate`.
    ///
    /// # Errors
    /// A message naming the plugin, the file and what to do.
    fn check(&self, descriptor: &Descriptor) -> Result<(), RuntimeError> {
        let _ = descriptor;
        Ok(())
    }

    /// Loads the plugin's code and returns an instance whose hooks have not run yet.
    ///
    /// `host` is the plugin's own view of the host API; the instance keeps it to serve the
    /// plugin's requests (logging, storage, events, calls to other plugins).
    ///
    /// # Errors
    /// When the entry is missing, malformed or refused.
    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError>;
}

/// A loaded plugin, as the core drives it.
///
/// The core calls the hooks in order (`boot`, `start`, ... `stop`, `unload`), each under the
/// host's hook timeout, and `call` any number of times, concurrently, while the plugin is active.
#[async_trait]
pub trait PluginInstance: Send + Sync + 'static {
    /// Runs the plugin's `boot(config)` hook with its validated configuration. The plugin may
    /// return an adjusted configuration, which the host validates again and keeps.
    async fn boot(
        &self,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError>;

    /// Runs `start`: the plugin registers services and begins its work.
    async fn start(&self) -> Result<(), PluginError>;

    /// Runs `stop`: the plugin releases what it holds.
    async fn stop(&self) -> Result<(), PluginError>;

    /// Calls `method` with `payload`. The bytes are passed unchanged in both directions.
    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a>;

    /// Delivers an event on a topic the plugin subscribes to.
    async fn on_event(&self, event: &Event) {
        let _ = event;
    }

    /// Asks the plugin how it is doing. `None` means it has nothing to report.
    async fn health(&self) -> Option<HealthReport> {
        None
    }

    /// Exports the plugin's in-memory state for its next version, on a hot reload of a plugin
    /// whose manifest says `reload: { handoff: true }`. The host calls it once the instance has
    /// no call in flight and before it stops it; `None` means nothing to hand over.
    ///
    /// The default calls the plugin's method [`EXPORT_STATE_METHOD`] with an empty payload
    /// and hands over the bytes it returns, so a plugin of any runtime takes part by
    /// implementing that method. Runtimes with a typed hook (builtin) override it.
    ///
    /// # Errors
    /// The plugin failed to export; the host keeps the old version running and refuses the
    /// update.
    async fn export_state(&self) -> Result<Option<Vec<u8>>, PluginError> {
        self.call(EXPORT_STATE_METHOD, &[])
            .await
            .map(Some)
            .map_err(|e| PluginError::new(format!("exporting its state failed: {e}")))
    }

    /// Gives a new version the state its predecessor exported, after `boot` and before
    /// `start`, when the runtime did not already deliver it during `boot` (with
    /// [`HostApi::take_handoff`]).
    ///
    /// The default calls the plugin's method [`IMPORT_STATE_METHOD`] with the state as the
    /// payload.
    ///
    /// # Errors
    /// The plugin refused the state; the host abandons the new version and the old one resumes.
    async fn import_state(&self, state: Vec<u8>) -> Result<(), PluginError> {
        self.call(IMPORT_STATE_METHOD, &state)
            .await
            .map(drop)
            .map_err(|e| PluginError::new(format!("importing its state failed: {e}")))
    }

    /// Releases the instance's resources after `stop`. The default does nothing.
    async fn unload(&self) {}
}

/// The method a plugin implements to export its state on a hot reload (with
/// `reload: { handoff: true }` in its manifest): called with an empty payload, it returns the
/// bytes to hand to the next version. See [`PluginInstance::export_state`].
pub const EXPORT_STATE_METHOD: &str = "plugboard.export_state";

/// The method a plugin implements to receive its predecessor's state on a hot reload: called
/// after `boot` and before `start` with the exported bytes as the payload. See
/// [`PluginInstance::import_state`].
pub const IMPORT_STATE_METHOD: &str = "plugboard.import_state";

/// The result of a call: ready at once (builtin and native plugins), or a future (process and
/// WebAssembly plugins).
///
/// `Reply` is itself a future, so `host.call(..).await` works for every runtime, while code on
/// a hot path can take a ready result with [`Reply::now`] without any allocation or executor.
#[must_use = "a reply does nothing unless awaited or taken with `now`"]
pub enum Reply<'a> {
    /// The result is already known.
    Ready(Option<Result<Vec<u8>, CallError>>),
    /// The result will come from a future.
    Pending(BoxFuture<'a, Result<Vec<u8>, CallError>>),
}

impl<'a> Reply<'a> {
    /// A ready reply.
    pub fn ready(result: Result<Vec<u8>, CallError>) -> Self {
        Reply::Ready(Some(result))
    }

    /// A reply that comes from `future`.
    pub fn pending(future: impl Future<Output = Result<Vec<u8>, CallError>> + Send + 'a) -> Self {
        Reply::Pending(Box::pin(future))
    }

    /// The result, if it is ready; otherwise the reply itself, to be awaited.
    ///
    /// # Errors
    /// Returns `Err(self)` when the reply is pending.
    pub fn now(self) -> Result<Result<Vec<u8>, CallError>, Self> {
        match self {
            Reply::Ready(Some(r)) => Ok(r),
            other => Err(other),
        }
    }
}

impl fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            Reply::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

impl Future for Reply<'_> {
    type Output = Result<Vec<u8>, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Reply::Ready(r) => Poll::Ready(
                r.take()
                    .expect("a ready Reply is polled once; it was polled again after completing"),
            ),
            Reply::Pending(f) => f.as_mut().poll(cx),
        }
    }
}
