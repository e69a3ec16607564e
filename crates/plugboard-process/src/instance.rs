//! A supervised process plugin: the session in use, the exit watcher, and restarts under the
//! plugin's restart policy.

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use plugboard_core::manifest::{LogLevel, RestartWhen};
use plugboard_core::{
    CallError, Event, Health, HealthReport, HostApi, PluginError, PluginInstance, Reply,
};
use rand::Rng;
use tokio::sync::watch;

use crate::child::describe_exit;
use crate::error::ProcessError;
use crate::session::{Launcher, Session};
use crate::settings::Settings;

/// The first restart waits this long; each further one twice as long, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A process plugin as the core drives it.
pub(crate) struct ProcessInstance {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    host: HostApi,
    settings: Arc<Settings>,
    launcher: Box<dyn Launcher>,
    current: RwLock<Option<Arc<dyn Session>>>,
    sup: Mutex<Supervision>,
    stopping: watch::Sender<bool>,
}

#[derive(Default)]
struct Supervision {
    /// The configuration boot ran with, replayed after a restart.
    config: Option<serde_json::Value>,
    started: bool,
    /// When the process died, within the restart window.
    crashes: VecDeque<Instant>,
    /// Why the process is not running now, while a restart is pending.
    down: Option<String>,
    /// Set when the supervisor gave up: the plugin is failed.
    given_up: Option<String>,
    restarts: u64,
}

impl ProcessInstance {
    /// Launches the first session and starts watching it.
    pub(crate) async fn start(
        host: HostApi,
        settings: Arc<Settings>,
        launcher: Box<dyn Launcher>,
    ) -> Result<ProcessInstance, ProcessError> {
        let session: Arc<dyn Session> = Arc::from(launcher.launch().await?);
        let inner = Arc::new(Inner {
            id: host.id().to_string(),
            host,
            settings,
            launcher,
            current: RwLock::new(Some(session.clone())),
            sup: Mutex::new(Supervision::default()),
            stopping: watch::channel(false).0,
        });
        tokio::spawn(watch(inner.clone(), session));
        Ok(ProcessInstance { inner })
    }
}

/// A weak handle on an instance, kept by the runtime to reach the plugin's gRPC connection.
#[derive(Clone)]
pub(crate) struct InstanceHandle(Weak<Inner>);

impl InstanceHandle {
    /// The current process's gRPC connection, if it runs and speaks gRPC.
    pub(crate) fn channel(&self) -> Option<tonic::transport::Channel> {
        self.0.upgrade()?.current.read().as_ref()?.channel()
    }
}

impl ProcessInstance {
    pub(crate) fn handle(&self) -> InstanceHandle {
        InstanceHandle(Arc::downgrade(&self.inner))
    }
}

impl Inner {
    fn session(&self) -> Result<Arc<dyn Session>, String> {
        if let Some(s) = self.current.read().clone() {
            return Ok(s);
        }
        let sup = self.sup.lock();
        Err(match (&sup.given_up, &sup.down) {
            (Some(why), _) => format!("its process is not running: {why}"),
            (None, Some(why)) => {
                format!("its process is being restarted (it {why}); try again shortly")
            }
            _ => "its process is not running".to_owned(),
        })
    }

    fn not_running(&self, why: String) -> CallError {
        CallError::plugin(&self.id, why)
    }

    /// Runs `boot` and `start` again on a fresh session, as they ran on the first.
    async fn replay(&self, session: &dyn Session) -> Result<(), String> {
        let (config, started) = {
            let s = self.sup.lock();
            (s.config.clone(), s.started)
        };
        if let Some(config) = config {
            session
                .boot(&config)
                .await
                .map_err(|e| format!("boot after the restart failed: {e}"))?;
        }
        if started {
            session
                .start()
                .await
                .map_err(|e| format!("start after the restart failed: {e}"))?;
        }
        Ok(())
    }
}

/// Waits for `session`'s process to end; unless the host is stopping it, restarts it under the
/// policy or gives up and reports the plugin failed. Boxed: a restart watches the new session
/// with a new task of the same kind.
fn watch(inner: Arc<Inner>, session: Arc<dyn Session>) -> BoxFuture<'static, ()> {
    Box::pin(watch_session(inner, session))
}

async fn watch_session(inner: Arc<Inner>, session: Arc<dyn Session>) {
    let status = session.child().wait().await;
    if *inner.stopping.borrow() {
        return;
    }
    // At once, so that no new call goes to the dead session.
    {
        let mut cur = inner.current.write();
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, &session)) {
            cur.take();
        }
        inner.sup.lock().down = Some(describe_exit(&status));
    }
    session
        .child()
        .drain_stderr(Duration::from_millis(300))
        .await;
    // Its children go with it.
    session.child().signal_group(libc::SIGKILL);
    let mut what = describe_exit(&status);
    let mut tail = session.child().stderr.render();
    drop(session);
    inner.host.log(
        LogLevel::Error,
        &format!("the plugin's process {what}{tail}"),
    );
    let policy = inner.settings.restart;
    let mut clean_exit = status.success();
    loop {
        let attempt = {
            let mut sup = inner.sup.lock();
            let now = Instant::now();
            sup.crashes.push_back(now);
            while sup
                .crashes
                .front()
                .is_some_and(|t| now.duration_since(*t) > policy.window)
            {
                sup.crashes.pop_front();
            }
            let refused = match policy.when {
                RestartWhen::Never => Some("its restart policy is `never`".to_owned()),
                RestartWhen::OnFailure if clean_exit => Some(
                    "it exited with status 0 on its own, and its restart policy `on-failure` restarts only failures"
                        .to_owned(),
                ),
                _ if sup.crashes.len() > policy.max as usize => Some(format!(
                    "it stopped {} times within {:?}, more than process.restart.max ({}) allows",
                    sup.crashes.len(),
                    policy.window,
                    policy.max
                )),
                _ => None,
            };
            if let Some(why) = refused {
                let reason = format!("its process {what}; {why}{tail}");
                sup.given_up = Some(reason.clone());
                sup.down = None;
                drop(sup);
                inner
                    .host
                    .report_health(HealthReport::new(Health::Unhealthy, reason.clone()));
                inner.host.report_failure(reason);
                return;
            }
            sup.down = Some(what.clone());
            sup.crashes.len()
        };
        inner.host.report_health(HealthReport::new(
            Health::Degraded,
            format!("its process {what}; restarting"),
        ));
        let delay = backoff(attempt);
        let mut stopping = inner.stopping.subscribe();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        match inner.launcher.launch().await {
            Ok(session) => {
                let session: Arc<dyn Session> = Arc::from(session);
                match inner.replay(&*session).await {
                    Ok(()) => {
                        if *inner.stopping.borrow() {
                            session.child().terminate(inner.settings.stop_grace).await;
                            return;
                        }
                        {
                            let mut sup = inner.sup.lock();
                            sup.down = None;
                            sup.restarts += 1;
                        }
                        *inner.current.write() = Some(session.clone());
                        inner.host.log(
                            LogLevel::Warning,
                            &format!(
                                "restarted the plugin's process (pid {})",
                                session.child().pid
                            ),
                        );
                        inner.host.report_health(HealthReport::new(
                            Health::Healthy,
                            format!("restarted after its process {what}"),
                        ));
                        tokio::spawn(watch(inner.clone(), session));
                        return;
                    }
                    Err(e) => {
                        tail = session.child().stderr.render();
                        session.child().terminate(inner.settings.stop_grace).await;
                        what = e;
                        clean_exit = false;
                    }
                }
            }
            Err(e) => {
                what = format!("could not be started again: {e}");
                tail = String::new();
                clean_exit = false;
            }
        }
        inner
            .host
            .log(LogLevel::Error, &format!("restart failed: {what}"));
    }
}

/// Exponential backoff with jitter: a crash loop neither spins nor restarts in lockstep with
/// other plugins.
fn backoff(attempt: usize) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let base = FIRST_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.5..=1.0);
    base.mul_f64(jitter)
}

/// How long a process has to answer its health check after a call timed out.
const PING_LIMIT: Duration = Duration::from_secs(2);

/// After a call timed out: a process that does not answer its health check either is hung, not
/// slow, and is killed (its group with it), so that the supervisor restarts it under the
/// policy. A slow method in a live process is left alone.
fn check_hung(inner: &Arc<Inner>, session: &Arc<dyn Session>) {
    let (inner, session) = (inner.clone(), session.clone());
    tokio::spawn(async move {
        let alive = matches!(
            tokio::time::timeout(PING_LIMIT, session.ping()).await,
            Ok(true)
        );
        if !alive && session.child().exited().is_none() && !*inner.stopping.borrow() {
            inner.host.log(
                LogLevel::Error,
                &format!(
                    "the plugin's process (pid {}) is hung: a call timed out and it did not answer its health check within {PING_LIMIT:?}; killing it",
                    session.child().pid
                ),
            );
            session.child().signal_group(libc::SIGKILL);
        }
    });
}

/// How a call ended when the process may have died under it.
async fn crashed(
    session: &dyn Session,
    plugin: &str,
    method: &str,
    status: ExitStatus,
) -> CallError {
    session
        .child()
        .drain_stderr(Duration::from_millis(200))
        .await;
    CallError::Crashed {
        plugin: plugin.to_owned(),
        method: method.to_owned(),
        message: format!(
            "its process {} during the call{}",
            describe_exit(&status),
            session.child().stderr.render()
        ),
    }
}

#[async_trait]
impl PluginInstance for ProcessInstance {
    async fn boot(
        &self,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError> {
        let session = self.inner.session().map_err(PluginError::new)?;
        let adjusted = session.boot(&config).await?;
        self.inner.sup.lock().config = Some(adjusted.clone().unwrap_or(config));
        Ok(adjusted)
    }

    async fn start(&self) -> Result<(), PluginError> {
        let session = self.inner.session().map_err(PluginError::new)?;
        session.start().await?;
        self.inner.sup.lock().started = true;
        Ok(())
    }

    async fn stop(&self) -> Result<(), PluginError> {
        self.inner.stopping.send_replace(true);
        let Ok(session) = self.inner.session() else {
            return Ok(());
        };
        let t = self.inner.settings.call_timeout;
        match tokio::time::timeout(t, session.stop()).await {
            Ok(r) => r,
            Err(_) => Err(PluginError::new(format!(
                "its stop hook did not answer within {t:?}"
            ))),
        }
    }

    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        Reply::pending(async move {
            let inner = &self.inner;
            let session = inner.session().map_err(|e| inner.not_running(e))?;
            let t = inner.settings.call_timeout;
            let child = session.child();
            if let Some(status) = child.exited() {
                // Dead before the call began: the supervisor is on it.
                return Err(inner.not_running(format!(
                    "its process {} and is being restarted; try again shortly",
                    describe_exit(&status)
                )));
            }
            tokio::select! {
                biased;
                r = tokio::time::timeout(t, session.call(method, payload)) => match r {
                    Ok(Ok(bytes)) => Ok(bytes),
                    Ok(Err(e)) => {
                        // A transport error is how a dying process looks from here: if the
                        // process is gone, say so.
                        if let CallError::Plugin { .. } = e {
                            if let Ok(status) = tokio::time::timeout(Duration::from_millis(300), child.wait()).await {
                                return Err(crashed(&*session, &inner.id, method, status).await);
                            }
                        }
                        Err(e)
                    }
                    Err(_) => {
                        check_hung(inner, &session);
                        Err(CallError::Timeout {
                            plugin: inner.id.clone(),
                            method: method.to_owned(),
                            millis: u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
                        })
                    }
                },
                status = child.wait() => Err(crashed(&*session, &inner.id, method, status).await),
            }
        })
    }

    async fn on_event(&self, event: &Event) {
        let Ok(session) = self.inner.session() else {
            return;
        };
        let t = self.inner.settings.call_timeout;
        if tokio::time::timeout(t, session.event(event)).await.is_err() {
            self.inner.host.log(
                LogLevel::Warning,
                &format!("event {} was not handled within {t:?}", event.topic),
            );
        }
    }

    async fn health(&self) -> Option<HealthReport> {
        let session = match self.inner.session() {
            Ok(s) => s,
            Err(why) => return Some(HealthReport::new(Health::Unhealthy, why)),
        };
        let t = self.inner.settings.call_timeout.min(Duration::from_secs(5));
        match tokio::time::timeout(t, session.health()).await {
            Ok(report) => report,
            Err(_) => Some(HealthReport::new(
                Health::Unhealthy,
                format!("its health check did not answer within {t:?}"),
            )),
        }
    }

    async fn unload(&self) {
        self.inner.stopping.send_replace(true);
        let session = self.inner.current.write().take();
        let Some(session) = session else {
            return;
        };
        let grace = self.inner.settings.stop_grace;
        if session.child().exited().is_none() {
            session.shutdown().await;
            let _ = tokio::time::timeout(grace, session.child().wait()).await;
        }
        session.child().terminate(grace).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempt in 1..30 {
            let d = backoff(attempt);
            let exp = u32::try_from(attempt - 1).unwrap().min(16);
            let base = FIRST_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
            assert!(d <= base && d >= base / 2, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(40) <= MAX_BACKOFF);
    }
}
