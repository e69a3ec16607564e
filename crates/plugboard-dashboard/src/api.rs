//! The JSON API the pages use: plugins, one plugin's details and log, actions, calls, panels.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use plugboard::{Host, PluginStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::Access;
use crate::server::Shared;

/// The header the dashboard adds when it forwards a call from a plugin's panel: the panel's
/// plugin, which must be the plugin called.
pub(crate) const PANEL_HEADER: &str = "x-plugboard-panel";
/// The most log lines a page gets at once.
pub(crate) const LOG_LINES: usize = 1000;

/// An error answer: a status and a message that says what to do.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn unknown(id: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no plugin {id:?} in this host; the plugins page lists them"),
    )
}

pub(crate) async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such page".to_owned())
}

/// `GET /api/session`: the CSRF token for the page's state-changing requests.
pub(crate) async fn session(Extension(access): Extension<Access>) -> Json<Value> {
    match access {
        Access::Session { csrf } => Json(json!({ "csrf": csrf })),
        _ => Json(json!({ "csrf": null })),
    }
}

/// The plugins page's row: the host's status plus the panel, if the plugin has one.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    #[serde(flatten)]
    status: PluginStatus,
    panel: Option<String>,
}

pub(crate) fn row(host: &Host, status: PluginStatus) -> Row {
    let panel = host.descriptor(&status.id).and_then(|d| {
        d.manifest.ui.as_ref().map(|ui| {
            ui.title
                .clone()
                .unwrap_or_else(|| d.manifest.display_name().to_owned())
        })
    });
    Row { status, panel }
}

/// `GET /api/plugins`: every plugin's row.
pub(crate) async fn plugins(State(state): State<Shared>) -> Json<Vec<Row>> {
    let host = &state.host;
    Json(host.statuses().into_iter().map(|s| row(host, s)).collect())
}

/// `GET /api/plugins/{id}`: what the plugin page shows.
pub(crate) async fn plugin(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let host = &state.host;
    let status = host.status(&id).ok_or_else(|| unknown(&id))?;
    let d = host.descriptor(&id).ok_or_else(|| unknown(&id))?;
    let m = &d.manifest;
    let dependencies: Vec<Value> = m
        .dependencies()
        .map(|(dep, req, optional)| {
            json!({
                "id": dep.as_str(),
                "requirement": req.to_string(),
                "optional": optional,
                "state": host.state(dep.as_str()),
            })
        })
        .collect();
    let dependents: Vec<Value> = host
        .dependents(&id)
        .iter()
        .map(|p| json!({ "id": p.as_str(), "state": host.state(p.as_str()) }))
        .collect();
    let config = match host.effective_config(&id) {
        Ok(c) => json!({ "value": c }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let ui = m.ui.as_ref().map(|ui| {
        json!({
            "title": ui.title.clone().unwrap_or_else(|| m.display_name().to_owned()),
            "icon": ui.icon.is_some(),
        })
    });
    Ok(Json(json!({
        "status": status,
        "name": m.display_name(),
        "description": m.description,
        "manifest": m,
        "manifest_yaml": m.to_yaml_string(),
        "dependencies": dependencies,
        "dependents": dependents,
        "permissions": {
            "requested": m.permissions,
            "granted": host.effective_permissions(&id),
        },
        "config": config,
        "ui": ui,
    })))
}

/// One line of a plugin's log, with its level when the line has one.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogLine {
    pub(crate) level: Option<String>,
    pub(crate) text: String,
}

/// The level of a log line `2026-11-22T01:55:01.123Z INFO message k=v`.
pub(crate) fn log_line(text: &str) -> LogLine {
    let level = text
        .split_whitespace()
        .nth(1)
        .filter(|l| {
            matches!(
                l.to_ascii_uppercase().as_str(),
                "TRACE" | "DEBUG" | "INFO" | "WARN" | "WARNING" | "ERROR" | "CRITICAL"
            )
        })
        .map(str::to_ascii_lowercase);
    LogLine {
        level,
        text: text.to_owned(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogQuery {
    level: Option<String>,
}

/// `GET /api/plugins/{id}/log`: the last lines of the plugin's log, optionally of one level.
pub(crate) async fn log(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Vec<LogLine>>, ApiError> {
    if state.host.descriptor(&id).is_none() {
        return Err(unknown(&id));
    }
    let text = state.host.read_log(&id).unwrap_or_default();
    let mut lines: Vec<LogLine> = text
        .lines()
        .map(log_line)
        .filter(|l| {
            q.level
                .as_deref()
                .is_none_or(|want| l.level.as_deref() == Some(want))
        })
        .collect();
    let skip = lines.len().saturating_sub(LOG_LINES);
    lines.drain(..skip);
    Ok(Json(lines))
}

/// `POST /api/plugins/{id}/actions/{action}`: enable, disable, restart or reload.
pub(crate) async fn action(
    State(state): State<Shared>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let host = &state.host;
    if host.descriptor(&id).is_none() {
        return Err(unknown(&id));
    }
    let done = match action.as_str() {
        "enable" => host.enable_plugin(&id).await,
        "disable" => host.disable_plugin(&id).await,
        "restart" => host.restart_plugin(&id).await,
        "reload" => host.reload_plugin(&id).await,
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no action {action:?}; the actions are enable, disable, restart, reload"),
            ))
        }
    };
    match done {
        Ok(events) => Ok(Json(json!({
            "events": events.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "status": host.status(&id),
        }))),
        Err(e) => Err(ApiError(StatusCode::CONFLICT, e.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallRequest {
    method: String,
    #[serde(default)]
    payload: Value,
}

/// `POST /api/plugins/{id}/call`: calls a method with a JSON payload. A call forwarded from a
/// panel names the panel's plugin in `X-Plugboard-Panel`; it may call only that plugin.
pub(crate) async fn call(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if let Some(panel) = headers.get(PANEL_HEADER) {
        if panel.as_bytes() != id.as_bytes() {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "a panel may call only its own plugin's methods; {:?} tried to call {id:?}",
                    String::from_utf8_lossy(panel.as_bytes())
                ),
            ));
        }
    }
    let request: CallRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"method\": \"...\", \"payload\": <JSON>}}: {e}"),
        )
    })?;
    if state.host.descriptor(&id).is_none() {
        return Err(unknown(&id));
    }
    let payload = serde_json::to_vec(&request.payload)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    match state.host.call(&id, &request.method, &payload).await {
        Ok(out) => {
            let result = serde_json::from_slice::<Value>(&out)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out).into_owned()));
            Ok(Json(json!({ "result": result })))
        }
        Err(e) => Err(ApiError(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

/// `POST /api/plugins/{id}/panel`: a fresh key for the plugin's panel frame. Only a browser
/// session opens panels.
pub(crate) async fn open_panel(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Extension(access): Extension<Access>,
) -> Result<Json<Value>, ApiError> {
    let d = state.host.descriptor(&id).ok_or_else(|| unknown(&id))?;
    if d.manifest.ui.is_none() || d.dir.is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("plugin {id} has no panel (no `ui:` in its manifest)"),
        ));
    }
    if !matches!(access, Access::Session { .. }) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "panels open in a browser session".to_owned(),
        ));
    }
    let key = state.sessions.lock().grant_panel(&id);
    Ok(Json(json!({ "frame": format!("/panel/{key}/") })))
}
