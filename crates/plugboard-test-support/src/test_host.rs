//! [`TestHost`]: a host and its plugins in the test's own process.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use plugboard::manifest::Codec;
use plugboard::{CallError, Error, Host, HostBuilder, PluginState, PluginStatus};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::PluginTree;

/// How long dropping a [`TestHost`] waits for hook threads still running (a probe told to
/// hang): not at all, in effect, so that a hung plugin never hangs the test.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(100);

impl PluginTree {
    /// Writes the tree and returns a host builder for its `config.yaml` with the
    /// [`Probe`](crate::Probe) registered: what [`TestHost`] uses, for tests that drive a
    /// [`Host`] themselves (from async code, say).
    ///
    /// # Errors
    /// When `config.yaml` is invalid.
    pub fn host_builder(&self) -> Result<HostBuilder, Error> {
        Ok(crate::register(Host::builder().config_file(self.write())?))
    }
}

/// A [`Host`] built from a [`PluginTree`], with the [`Probe`](crate::Probe) and any plugins of
/// your own registered, and its own tokio runtime, so that a plain `#[test]` can start it, call
/// its plugins and stop it synchronously: the in-process host/plugin pair of go-plugin's
/// `testing.go`, for Plugboard.
///
/// Dropping it stops the host. It owns a runtime, so create and drop it outside async code; an
/// async test uses [`PluginTree::host_builder`] and drives the [`Host`] itself.
///
/// ```
/// use plugboard::PluginState;
/// use plugboard_test_support::{ManifestBuilder, PluginTree, TestHost};
/// use serde_json::json;
///
/// let tree = PluginTree::new()
///     .external(ManifestBuilder::builtin("flaky", "1.0.0"))
///     .external(ManifestBuilder::builtin("user", "1.0.0").requires("flaky", "^1"))
///     .plugin_config("flaky", json!({"fail_start": "no database"}));
/// let host = TestHost::start(&tree).unwrap();
/// assert_eq!(host.state("flaky"), Some(PluginState::Failed));
/// assert_eq!(host.state("user"), Some(PluginState::Disabled));
/// assert!(host.reason("user").unwrap().contains("no database"));
/// ```
pub struct TestHost {
    host: Host,
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for TestHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestHost")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl TestHost {
    /// Builds (without starting) a host from `tree`, with the probe registered.
    ///
    /// # Errors
    /// When the configuration is invalid or the host cannot be set up.
    ///
    /// # Panics
    /// When no tokio runtime can be created.
    pub fn new(tree: &PluginTree) -> Result<TestHost, Error> {
        Self::with(tree, |builder| builder)
    }

    /// Like [`new`](Self::new), with `register` adding your own plugins, runtimes or extension
    /// points: `|b| b.builtin("my_plugin", MyPlugin::default)`.
    ///
    /// # Errors
    /// When the configuration is invalid or the host cannot be set up.
    ///
    /// # Panics
    /// When no tokio runtime can be created.
    pub fn with(
        tree: &PluginTree,
        register: impl FnOnce(HostBuilder) -> HostBuilder,
    ) -> Result<TestHost, Error> {
        let host = register(tree.host_builder()?).build()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("cannot create a tokio runtime for a TestHost");
        Ok(TestHost {
            host,
            runtime: Some(runtime),
        })
    }

    /// Builds a host from `tree` with the probe registered and starts it.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn start(tree: &PluginTree) -> Result<TestHost, Error> {
        let host = Self::new(tree)?;
        host.start_all()?;
        Ok(host)
    }

    /// Starts every eager plugin, and returns once each has settled (active, failed or
    /// disabled).
    ///
    /// # Errors
    /// When the host was started before.
    pub fn start_all(&self) -> Result<(), Error> {
        self.block_on(self.host.start())
    }

    /// Stops every plugin, dependents first. Safe to call more than once.
    pub fn stop(&self) {
        self.block_on(self.host.stop());
    }

    /// Calls `method` on plugin `id` with `payload`.
    ///
    /// # Errors
    /// When the plugin is unknown or not active, or the call fails.
    pub fn call(
        &self,
        id: &str,
        method: &str,
        payload: impl AsRef<[u8]>,
    ) -> Result<Vec<u8>, CallError> {
        self.block_on(self.host.call(id, method, payload.as_ref()))
    }

    /// Calls `method` on plugin `id` with `input` as JSON, and decodes the JSON result.
    ///
    /// # Errors
    /// As [`call`](Self::call), or [`CallError::Codec`] when the result is not an `O`.
    pub fn call_json<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        id: &str,
        method: &str,
        input: &I,
    ) -> Result<O, CallError> {
        let out = self.call(id, method, plugboard::encode(Codec::Json, method, input)?)?;
        plugboard::decode(Codec::Json, method, &out)
    }

    /// Plugin `id`'s state, `None` when the host does not know it.
    pub fn state(&self, id: &str) -> Option<PluginState> {
        self.host.state(id)
    }

    /// Why plugin `id` is disabled or failed.
    pub fn reason(&self, id: &str) -> Option<String> {
        self.host.status(id).and_then(|s| s.reason)
    }

    /// Every plugin's status, as `plugboard list` shows it.
    pub fn statuses(&self) -> Vec<PluginStatus> {
        self.host.statuses()
    }

    /// Plugin `id`'s log file as written so far; empty when it has written nothing.
    pub fn log(&self, id: &str) -> String {
        self.host.read_log(id).unwrap_or_default()
    }

    /// The host itself.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Runs `future` to completion on the test host's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the TestHost")
            .block_on(future)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // A plugin whose stop hook hangs is given up on after the host's hook timeout.
            runtime.block_on(self.host.stop());
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
    }
}
