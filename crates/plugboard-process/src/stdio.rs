//! The stdio transport, host side: JSON messages on the plugin's stdin and stdout
//! (`docs/protocol.md`), with the frame codec and messages of `plugboard_protocol::frame`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use plugboard_core::manifest::LogLevel;
use plugboard_core::{CallError, Event, Health, HealthReport, HostApi, PluginError};
use plugboard_protocol::frame::{
    self, ErrorCode, FrameDecoder, FrameKind, HealthStatus, Hello, HostReply, HostRequest,
    HostResult, Payload, Ready, RemoteError, StdioMessage, DEFAULT_MAX_FRAME_LEN,
    ENV_STDIO_FRAMING, STDIO_PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::child::{self, Child};
use crate::error::ProcessError;
use crate::session::{Launcher, Session};
use crate::settings::Settings;

const FRAMING: FrameKind = FrameKind::NewlineDelimited;

/// Starts stdio plugin processes.
pub(crate) struct StdioLauncher {
    pub(crate) host: HostApi,
    pub(crate) settings: Arc<Settings>,
}

#[async_trait]
impl Launcher for StdioLauncher {
    async fn launch(&self) -> Result<Box<dyn Session>, ProcessError> {
        let s = &self.settings;
        let mut vars: Vec<(String, String)> =
            vec![(ENV_STDIO_FRAMING.to_owned(), FRAMING.env_value().to_owned())];
        vars.extend(s.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let (child, pipes) = child::spawn(
            &self.host,
            &s.entry,
            &s.args,
            &vars,
            true,
            s.pre_exec.clone(),
        )?;
        let stdin = pipes.stdin.expect("stdin was piped");
        let shared = Arc::new(Shared {
            id: self.host.id().to_string(),
            host: self.host.clone(),
            pending: Mutex::new(HashMap::new()),
            ready: Mutex::new(None),
            health: Mutex::new(None),
            broken: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
        tokio::spawn(write_loop(stdin, rx));
        tokio::spawn(read_loop(
            pipes.stdout,
            shared.clone(),
            tx.clone(),
            child.pid,
        ));
        Ok(Box::new(StdioSession {
            shared,
            child,
            tx,
            next_id: AtomicU64::new(1),
            permits: Mutex::new(None),
            start_timeout: s.start_timeout,
        }))
    }
}

/// What the reader task and the session share.
struct Shared {
    id: String,
    host: HostApi,
    pending: Mutex<HashMap<u64, oneshot::Sender<frame::CallResult>>>,
    ready: Mutex<Option<oneshot::Sender<Ready>>>,
    health: Mutex<Option<HealthReport>>,
    /// Set when the plugin broke the protocol beyond repair.
    broken: Mutex<Option<String>>,
}

struct StdioSession {
    shared: Arc<Shared>,
    child: Child,
    tx: mpsc::Sender<Vec<u8>>,
    next_id: AtomicU64,
    /// `max_in_flight` from `ready`.
    permits: Mutex<Option<Arc<Semaphore>>>,
    start_timeout: Duration,
}

async fn write_loop(mut stdin: ChildStdin, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
    }
}

async fn read_loop(
    mut stdout: ChildStdout,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<u8>>,
    pid: u32,
) {
    let mut decoder = FrameDecoder::new(FRAMING, DEFAULT_MAX_FRAME_LEN);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => handle_frame(&shared, &tx, &frame),
                Ok(None) => break,
                Err(e) => {
                    // Nothing after a framing error can be trusted: stop the plugin.
                    let why = format!("it broke the stdio framing: {e}");
                    shared.host.log(LogLevel::Error, &why);
                    *shared.broken.lock() = Some(why);
                    if let Ok(pgid) = libc::pid_t::try_from(pid) {
                        #[allow(unsafe_code)]
                        // SAFETY: killpg has no memory effects.
                        unsafe {
                            libc::killpg(pgid, libc::SIGKILL);
                        }
                    }
                    return;
                }
            }
        }
    }
    if let Ok(Some(frame)) = decoder.finish() {
        handle_frame(&shared, &tx, &frame);
    }
    // Waiting callers learn of the end from the process's exit.
    shared.pending.lock().clear();
}

fn handle_frame(shared: &Arc<Shared>, tx: &mpsc::Sender<Vec<u8>>, frame: &[u8]) {
    let msg = match StdioMessage::from_json(frame) {
        Ok(m) => m,
        Err(e) => {
            shared
                .host
                .log(LogLevel::Error, &format!("ignored a message it sent: {e}"));
            return;
        }
    };
    match msg {
        StdioMessage::Ready(ready) => {
            if let Some(tx) = shared.ready.lock().take() {
                let _ = tx.send(ready);
            }
        }
        StdioMessage::Result(result) => {
            if let Some(waiter) = shared.pending.lock().remove(&result.id) {
                let _ = waiter.send(result);
            } else {
                shared.host.log(
                    LogLevel::Warning,
                    &format!(
                        "ignored a result for call {}, which is not in flight",
                        result.id
                    ),
                );
            }
        }
        StdioMessage::Log(log) => {
            let values: Vec<(String, String)> = log
                .fields
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect();
            let fields: Vec<(&str, &str)> = values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            shared
                .host
                .log_with(child::level(log.level), &log.message, &fields);
        }
        StdioMessage::Health(h) => {
            let health = match h.status {
                HealthStatus::Healthy => Health::Healthy,
                HealthStatus::Degraded => Health::Degraded,
                HealthStatus::Unhealthy => Health::Unhealthy,
            };
            let report = HealthReport::new(health, h.message.unwrap_or_default());
            *shared.health.lock() = Some(report.clone());
            shared.host.report_health(report);
        }
        StdioMessage::HostCall(call) => {
            let (host, tx) = (shared.host.clone(), tx.clone());
            tokio::spawn(async move {
                let result = serve_host_call(&host, &call).await;
                let msg = StdioMessage::HostResult(result);
                if let Ok(bytes) = msg.to_frame(FRAMING) {
                    let _ = tx.send(bytes).await;
                }
            });
        }
        other => shared.host.log(
            LogLevel::Error,
            &format!(
                "it sent a `{}` message, which travels from the host to the plugin; ignored",
                other.type_name()
            ),
        ),
    }
}

async fn serve_host_call(host: &HostApi, call: &frame::HostCall) -> HostResult {
    let request = match HostRequest::from_call(call) {
        Ok(r) => r,
        Err(e) => {
            let code = match e {
                frame::HostRequestError::UnknownMethod { .. } => ErrorCode::UnknownMethod,
                _ => ErrorCode::InvalidPayload,
            };
            return HostResult::err(call.id, code, e.to_string());
        }
    };
    let reply = run_host_request(host, request);
    match reply {
        Ok(r) => HostResult::ok(call.id, r.to_json()),
        Err(e) => {
            let code = match &e {
                CallError::Denied(_) => ErrorCode::Denied,
                _ => ErrorCode::Failed,
            };
            HostResult::err(call.id, code, e.to_string())
        }
    }
}

fn run_host_request(host: &HostApi, request: HostRequest) -> Result<HostReply, CallError> {
    let storage_err =
        |e: plugboard_core::StorageError| CallError::plugin(host.id().as_str(), e.to_string());
    Ok(match request {
        HostRequest::StorageGet { key } => {
            HostReply::StorageGet(host.storage()?.get(key.as_bytes()).map_err(storage_err)?)
        }
        HostRequest::StoragePut { key, value } => {
            host.storage()?
                .put(key.as_bytes(), &value)
                .map_err(storage_err)?;
            HostReply::StoragePut
        }
        HostRequest::StorageDelete { key } => HostReply::StorageDelete(
            host.storage()?
                .delete(key.as_bytes())
                .map_err(storage_err)?,
        ),
        HostRequest::StorageList { prefix } => HostReply::StorageList(
            host.storage()?
                .list(prefix.as_bytes())
                .map_err(storage_err)?
                .into_iter()
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .collect(),
        ),
        HostRequest::ConfigGet => HostReply::ConfigGet((*host.config()).clone()),
        HostRequest::EventsPublish { topic, payload } => {
            host.publish(&topic, payload)?;
            HostReply::EventsPublish
        }
        _ => {
            return Err(CallError::plugin(
                host.id().as_str(),
                "this host does not serve that host API method yet",
            ))
        }
    })
}

impl StdioSession {
    async fn send(&self, msg: &StdioMessage) -> Result<(), String> {
        let bytes = msg
            .to_frame(FRAMING)
            .map_err(|e| format!("cannot frame a `{}` message: {e}", msg.type_name()))?;
        self.tx
            .send(bytes)
            .await
            .map_err(|_| "its stdin is closed".to_owned())
    }

    fn remote_error(&self, method: &str, e: RemoteError) -> CallError {
        match e.code {
            ErrorCode::UnknownMethod => CallError::UnknownMethod {
                plugin: self.shared.id.clone(),
                method: method.to_owned(),
                known: Vec::new(),
            },
            ErrorCode::Denied => {
                CallError::Denied(format!("plugin {}: {}", self.shared.id, e.message))
            }
            ErrorCode::InvalidPayload => CallError::Codec {
                method: method.to_owned(),
                message: e.message,
            },
            _ => CallError::plugin(&self.shared.id, e.message),
        }
    }
}

#[async_trait]
impl Session for StdioSession {
    fn child(&self) -> &Child {
        &self.child
    }

    async fn boot(
        &self,
        config: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PluginError> {
        let (tx, rx) = oneshot::channel();
        *self.shared.ready.lock() = Some(tx);
        let hello = StdioMessage::Hello(Hello {
            protocol_version: STDIO_PROTOCOL_VERSION,
            plugin_id: self.shared.id.clone(),
            config: config.clone(),
        });
        self.send(&hello).await.map_err(PluginError::new)?;
        let t = self.start_timeout;
        let ready = tokio::select! {
            r = tokio::time::timeout(t, rx) => match r {
                Ok(Ok(ready)) => ready,
                Ok(Err(_)) => return Err(PluginError::new(format!("it closed its stdout before answering `hello` with `ready`{}", self.child.stderr.render()))),
                Err(_) => return Err(PluginError::new(format!(
                    "it did not answer `hello` with `ready` within {t:?}; raise process.start_timeout in its plugin.yaml if it needs longer{}",
                    self.child.stderr.render()
                ))),
            },
            status = self.child.wait() => {
                self.child.drain_stderr(Duration::from_millis(300)).await;
                return Err(PluginError::new(format!(
                    "its process {} before answering `hello`{}",
                    child::describe_exit(&status),
                    self.child.stderr.render()
                )));
            }
        };
        if ready.protocol_version != STDIO_PROTOCOL_VERSION {
            return Err(PluginError::new(format!(
                "it speaks stdio protocol version {}, but this host speaks {STDIO_PROTOCOL_VERSION}; update the plugin",
                ready.protocol_version
            )));
        }
        let n = usize::try_from(ready.max_in_flight.max(1)).unwrap_or(1);
        *self.permits.lock() = Some(Arc::new(Semaphore::new(n)));
        Ok(None)
    }

    async fn start(&self) -> Result<(), PluginError> {
        Ok(())
    }

    async fn stop(&self) -> Result<(), PluginError> {
        Ok(())
    }

    async fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        if let Some(why) = self.shared.broken.lock().clone() {
            return Err(CallError::plugin(&self.shared.id, why));
        }
        let permits =
            self.permits.lock().clone().ok_or_else(|| {
                CallError::plugin(&self.shared.id, "it has not answered `hello` yet")
            })?;
        let _permit = permits
            .acquire_owned()
            .await
            .map_err(|_| CallError::plugin(&self.shared.id, "it is shutting down"))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().insert(id, tx);
        let call = StdioMessage::Call(frame::Call {
            id,
            extension_point: String::new(),
            method: method.to_owned(),
            payload: Payload::from_json_bytes(payload),
        });
        if let Err(e) = self.send(&call).await {
            self.shared.pending.lock().remove(&id);
            return Err(CallError::plugin(&self.shared.id, e));
        }
        let result = rx.await.map_err(|_| {
            CallError::plugin(
                &self.shared.id,
                format!("it closed its stdout before answering call {method:?}"),
            )
        })?;
        match result.into_outcome() {
            Ok(p) => p.to_bytes().map_err(|e| CallError::Codec {
                method: method.to_owned(),
                message: format!("the plugin's result is unreadable: {e}"),
            }),
            Err(e) => Err(self.remote_error(method, e)),
        }
    }

    async fn event(&self, event: &Event) {
        let msg = StdioMessage::Event(frame::Event {
            topic: event.topic.clone(),
            payload: Payload::from_json_bytes(&event.payload),
        });
        let _ = self.send(&msg).await;
    }

    async fn health(&self) -> Option<HealthReport> {
        self.shared.health.lock().clone()
    }

    async fn shutdown(&self) {
        let _ = self.send(&StdioMessage::Stop(frame::Stop {})).await;
    }
}
