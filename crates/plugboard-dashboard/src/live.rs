//! Live updates over server-sent events: lifecycle transitions and hot-reload outcomes, pushed
//! by the host's listeners as they happen, and a plugin's log as it grows.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream};
use plugboard::Host;
use serde_json::json;
use tokio::sync::broadcast;

use crate::api::{self, ApiError};
use crate::server::Shared;

/// What the host told the dashboard.
#[derive(Debug, Clone)]
pub(crate) enum LiveEvent {
    /// Plugin `id` changed state.
    State {
        id: String,
        from: String,
        to: String,
    },
    /// A hot-reload change (or an operator's action) had this outcome.
    Reload(String),
}

/// Registers the host listeners that feed `events`. They send and return at once: the
/// listeners run synchronously inside the host's transitions.
pub(crate) fn attach(host: &Host, events: broadcast::Sender<LiveEvent>) {
    let on_state = events.clone();
    host.on_state_change(move |change| {
        let _ = on_state.send(LiveEvent::State {
            id: change.id.to_string(),
            from: change.from.to_string(),
            to: change.to.to_string(),
        });
    });
    host.on_reload(move |event| {
        let _ = events.send(LiveEvent::Reload(event.to_string()));
    });
}

fn sse_event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// `GET /api/events`: `state` events with the plugin's fresh row, `reload` events with the
/// outcome, and `resync` when this stream fell behind (the page then fetches the list again).
pub(crate) async fn events(
    State(state): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.events.subscribe();
    let stream = stream::unfold((rx, state), |(mut rx, state)| async move {
        let event = match rx.recv().await {
            Ok(LiveEvent::State { id, from, to }) => {
                let row = state.host.status(&id).map(|s| api::row(&state.host, s));
                sse_event(
                    "state",
                    &json!({ "id": id, "from": from, "to": to, "row": row }),
                )
            }
            Ok(LiveEvent::Reload(text)) => sse_event("reload", &json!({ "message": text })),
            Err(broadcast::error::RecvError::Lagged(_)) => sse_event("resync", &json!({})),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, state)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// How often a log stream looks at its file's length. The log is a file other threads append
/// to; a length check is a `stat`, nothing is read until it grows.
const LOG_TICK: Duration = Duration::from_millis(250);

/// How much of the end of a log a stream starts with.
const LOG_BACKLOG: u64 = 256 << 10;

/// A log file read from where the last read stopped.
pub(crate) struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
    /// Whether the first line read is cut (the read started inside the file) and is dropped.
    cut: bool,
}

impl Tail {
    /// Reads `path` from its last `backlog` bytes on (from the start of a line).
    pub(crate) fn near_end(path: PathBuf, backlog: u64) -> Tail {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let offset = len.saturating_sub(backlog);
        Tail {
            path,
            offset,
            partial: String::new(),
            cut: offset > 0,
        }
    }

    /// Complete lines appended since the last call. A file that shrank was rotated: read the
    /// new one from its start.
    pub(crate) fn read_new(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
            self.cut = false;
        }
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        // At most 1 MiB per tick: a burst is caught up over the next ticks.
        let mut bytes = Vec::new();
        let read = (&mut file)
            .take(1 << 20)
            .read_to_end(&mut bytes)
            .unwrap_or(0);
        self.offset += read as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        let skip = usize::from(std::mem::take(&mut self.cut));
        complete.lines().skip(skip).map(str::to_owned).collect()
    }
}

/// `GET /api/plugins/{id}/log/stream`: the last lines of the log, then each new line, as `log`
/// events `{level, text}`.
pub(crate) async fn log_stream(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if state.host.descriptor(&id).is_none() {
        return Err(ApiError(
            axum::http::StatusCode::NOT_FOUND,
            format!("no plugin {id:?} in this host"),
        ));
    }
    let path = state.host.log_dir().join(format!("{id}.log"));
    let mut tail = Tail::near_end(path, LOG_BACKLOG);
    let mut first = tail.read_new();
    let skip = first.len().saturating_sub(api::LOG_LINES);
    first.drain(..skip);
    let pending: VecDeque<String> = first.into();
    let stream = stream::unfold((tail, pending), |(mut tail, mut pending)| async move {
        loop {
            if let Some(line) = pending.pop_front() {
                let event = sse_event("log", &json!(api::log_line(&line)));
                return Some((Ok(event), (tail, pending)));
            }
            tokio::time::sleep(LOG_TICK).await;
            // A read that panicked ends the stream; the page reconnects.
            let (t, lines) = tokio::task::spawn_blocking(move || {
                let lines = tail.read_new();
                (tail, lines)
            })
            .await
            .ok()?;
            tail = t;
            pending.extend(lines);
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
