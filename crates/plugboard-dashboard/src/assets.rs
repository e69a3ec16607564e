//! What the dashboard serves as files: its own pages, scripts and styles (compiled into the
//! binary), and plugins' panel files (read from their directories, never outside).

use std::path::{Path as FsPath, PathBuf};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::api::ApiError;
use crate::auth::Access;
use crate::server::Shared;

/// The dashboard's pages: scripts and styles from the dashboard only, no inline code, frames
/// only from the dashboard (plugin panels), never framed itself.
pub(crate) const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A panel's frame document: sandboxed even when opened on its own, scripts only from the
/// dashboard's origin (its bridge and the panel's files), no network at all (`connect-src
/// 'none'`: the bridge is the only way out), framed only by the dashboard.
pub(crate) const FRAME_CSP: &str = "sandbox allow-scripts; default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// Files a plugin's panel serves that a browser should never run as a page of ours.
const FILE_CSP: &str = "sandbox; default-src 'none'";

/// The dashboard's own files, compiled in. Changing them needs no Node.js: edit and rebuild.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript",
        include_str!("../assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript",
        include_str!("../assets/api.js"),
    ),
    (
        "plugins.js",
        "text/javascript",
        include_str!("../assets/plugins.js"),
    ),
    (
        "plugin.js",
        "text/javascript",
        include_str!("../assets/plugin.js"),
    ),
    (
        "graph.js",
        "text/javascript",
        include_str!("../assets/graph.js"),
    ),
    (
        "panel.js",
        "text/javascript",
        include_str!("../assets/panel.js"),
    ),
    ("style.css", "text/css", include_str!("../assets/style.css")),
];

const INDEX: &str = include_str!("../assets/index.html");
const BRIDGE: &str = include_str!("../assets/frame-bridge.js");

fn with_csp(mut response: Response, csp: &'static str) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    response
}

fn file(content_type: &'static str, body: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `GET /`: the single page; the views are chosen by the URL's fragment.
pub(crate) async fn index() -> Response {
    let mut r = with_csp(file("text/html; charset=utf-8", INDEX), PAGE_CSP);
    r.headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// `GET /assets/{path}`: a file of the fixed table, or 404. Nothing is read from disk.
pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, body)) => with_csp(file(content_type, *body), PAGE_CSP),
        None => ApiError(StatusCode::NOT_FOUND, format!("no asset {path:?}")).into_response(),
    }
}

/// The content type of a panel file, or `None` for kinds a panel may not serve.
fn panel_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// Why a panel file is not served.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The path tries to leave the directory, or names nothing servable.
    Path,
    /// No such file.
    Missing,
}

/// Resolves `rel` inside `base` for reading: plain relative components only, and the real
/// path (links followed) must stay inside `base`'s real path.
pub(crate) fn inside(base: &FsPath, rel: &str) -> Result<PathBuf, Refused> {
    let plain = !rel.is_empty()
        && !rel.contains(['\\', '\0', ':'])
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if !plain {
        return Err(Refused::Path);
    }
    let real_base = base.canonicalize().map_err(|_| Refused::Missing)?;
    let real = real_base
        .join(rel)
        .canonicalize()
        .map_err(|_| Refused::Missing)?;
    if !real.starts_with(&real_base) {
        return Err(Refused::Path);
    }
    if !real.is_file() {
        return Err(Refused::Missing);
    }
    Ok(real)
}

async fn read_panel_file(dir: &FsPath, rel: &str) -> Response {
    let Some(content_type) = panel_type(rel) else {
        return ApiError(
            StatusCode::NOT_FOUND,
            "panels serve scripts, styles, JSON, images and fonts only".to_owned(),
        )
        .into_response();
    };
    let dir = dir.to_path_buf();
    let rel = rel.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        let path = inside(&dir, &rel)?;
        std::fs::read(path).map_err(|_| Refused::Missing)
    })
    .await
    .unwrap_or(Err(Refused::Missing));
    match read {
        Ok(bytes) => with_csp(file(content_type, bytes), FILE_CSP),
        Err(Refused::Path) => ApiError(
            StatusCode::BAD_REQUEST,
            "the path leaves the panel's directory".to_owned(),
        )
        .into_response(),
        Err(Refused::Missing) => {
            ApiError(StatusCode::NOT_FOUND, "no such panel file".to_owned()).into_response()
        }
    }
}

/// `GET /api/plugins/{id}/icon`: the panel's icon, as an image that runs nothing.
pub(crate) async fn icon(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let found = state.host.descriptor(&id).and_then(|d| {
        let icon = d.manifest.ui.as_ref()?.icon.clone()?;
        Some((d.dir.clone()?, icon))
    });
    match found {
        Some((dir, icon)) => read_panel_file(&dir, &icon).await,
        None => {
            ApiError(StatusCode::NOT_FOUND, format!("plugin {id:?} has no icon")).into_response()
        }
    }
}

/// The plugin directory and the panel's folder (the entry's directory) of a grant.
fn panel_of(state: &Shared, access: &Access) -> Option<(PathBuf, String, String)> {
    let Access::Panel(grant) = access else {
        return None;
    };
    let d = state.host.descriptor(&grant.plugin)?;
    let entry = d.manifest.ui.as_ref()?.entry.clone();
    Some((d.dir.clone()?, entry, grant.plugin.clone()))
}

/// `GET /panel/{key}/`: the frame document: the bridge, then the panel's entry script.
pub(crate) async fn panel_frame(
    State(state): State<Shared>,
    Extension(access): Extension<Access>,
) -> Response {
    let Some((_, entry, plugin)) = panel_of(&state, &access) else {
        return ApiError(StatusCode::NOT_FOUND, "no such panel".to_owned()).into_response();
    };
    let entry = escape_attr(&entry);
    let plugin = escape_attr(&plugin);
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"plugboard-plugin\" content=\"{plugin}\">\
         <title>{plugin}</title></head>\
         <body><script src=\"bridge.js\"></script><script src=\"files/{entry}\"></script></body></html>\n"
    );
    with_csp(file("text/html; charset=utf-8", html), FRAME_CSP)
}

/// `GET /panel/{key}/bridge.js`: `window.plugboard.call(method, payload)` for the panel.
pub(crate) async fn panel_bridge(Extension(access): Extension<Access>) -> Response {
    if !matches!(access, Access::Panel(_)) {
        return ApiError(StatusCode::NOT_FOUND, "no such panel".to_owned()).into_response();
    }
    with_csp(file("text/javascript", BRIDGE), FILE_CSP)
}

/// `GET /panel/{key}/files/{path}`: a file of the panel's folder (the directory of its entry,
/// or only the entry and icon when the entry is at the top of the plugin directory).
pub(crate) async fn panel_file(
    State(state): State<Shared>,
    Extension(access): Extension<Access>,
    Path((_, path)): Path<(String, String)>,
) -> Response {
    let Some((dir, entry, _)) = panel_of(&state, &access) else {
        return ApiError(StatusCode::NOT_FOUND, "no such panel".to_owned()).into_response();
    };
    let allowed = match entry.rsplit_once('/') {
        Some((folder, _)) => path.starts_with(&format!("{folder}/")),
        None => path == entry,
    };
    if !allowed {
        return ApiError(
            StatusCode::NOT_FOUND,
            "a panel serves only the files beside its entry".to_owned(),
        )
        .into_response();
    }
    read_panel_file(&dir, &path).await
}

fn escape_attr(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
