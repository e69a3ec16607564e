//! Who may do what: the access token, sessions, CSRF, the Origin and Host checks, and the
//! checks every request passes before routing (path, size).

use std::collections::{HashMap, VecDeque};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;

use crate::server::Shared;

/// The session cookie's name, followed by the port: browsers share cookies between the ports
/// of a host, and two dashboards on one machine must not overwrite each other's session.
pub(crate) const COOKIE_PREFIX: &str = "plugboard_session_";
/// The header that carries the session's CSRF token on state-changing requests.
pub(crate) const CSRF_HEADER: &str = "x-plugboard-csrf";
/// At most this many browser sessions are remembered; the oldest is forgotten first.
const MAX_SESSIONS: usize = 64;
/// At most this many panel keys are remembered; the oldest is forgotten first.
const MAX_PANEL_KEYS: usize = 512;

/// `n` random bytes from the operating system's generator, in hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares secrets in time that does not depend on where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A browser that exchanged the token for a cookie.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) csrf: String,
}

/// A key that opens one plugin's panel files, for one session's frame.
#[derive(Debug, Clone)]
pub(crate) struct PanelGrant {
    pub(crate) plugin: String,
}

/// Sessions and panel keys, bounded.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    sessions: HashMap<String, Session>,
    session_order: VecDeque<String>,
    panels: HashMap<String, PanelGrant>,
    panel_order: VecDeque<String>,
}

impl Sessions {
    /// Starts a session; returns its id (the cookie's value).
    pub(crate) fn open(&mut self) -> String {
        let id = random_hex(32);
        self.sessions.insert(
            id.clone(),
            Session {
                csrf: random_hex(32),
            },
        );
        self.session_order.push_back(id.clone());
        while self.session_order.len() > MAX_SESSIONS {
            if let Some(old) = self.session_order.pop_front() {
                self.sessions.remove(&old);
            }
        }
        id
    }

    /// The session with this cookie value.
    pub(crate) fn get(&self, id: &str) -> Option<&Session> {
        // A map lookup by a secret: the hash does not leak it in a way a network timing can
        // exploit, and the id is 256 bits of randomness.
        self.sessions.get(id)
    }

    /// A new key for plugin `plugin`'s panel.
    pub(crate) fn grant_panel(&mut self, plugin: &str) -> String {
        let key = random_hex(24);
        self.panels.insert(
            key.clone(),
            PanelGrant {
                plugin: plugin.to_owned(),
            },
        );
        self.panel_order.push_back(key.clone());
        while self.panel_order.len() > MAX_PANEL_KEYS {
            if let Some(old) = self.panel_order.pop_front() {
                self.panels.remove(&old);
            }
        }
        key
    }

    /// What a panel key opens.
    pub(crate) fn panel(&self, key: &str) -> Option<&PanelGrant> {
        self.panels.get(key)
    }
}

/// How a request was let in, for the handlers.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    /// A browser session: its CSRF token.
    Session { csrf: String },
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A panel frame, which sees only its own plugin's files.
    Panel(PanelGrant),
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// Whether the raw path tries to leave where it points: `..` or `.` segments, encoded dots,
/// slashes or backslashes, backslashes, NUL or control characters.
pub(crate) fn suspicious_path(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%00")
        || raw.contains('\\')
        || raw.chars().any(char::is_control)
        || raw.split('/').any(|s| s == ".." || s == ".")
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v)
}

/// The query without `token=...`, to redirect to once the token is exchanged.
fn without_token(path: &str, query: Option<&str>) -> String {
    let rest: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("token="))
        .collect();
    if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", rest.join("&"))
    }
}

/// Runs before every handler: the Host header, the path, the size, then the credentials, and
/// for state-changing requests with a cookie, the Origin and the CSRF token.
pub(crate) async fn guard(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let mut response = check(&state, req, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(crate::assets::PAGE_CSP),
        );
    }
    response
}

async fn check(state: &Shared, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !state.allowed_hosts.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !state
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
        {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "this dashboard answers only to its loopback address; open the URL it printed",
            );
        }
    }
    let path = req.uri().path().to_owned();
    if suspicious_path(&path) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the path contains `..`, `.`, an encoded dot or slash, a backslash or a control character",
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_body as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than {} bytes", state.max_body),
        );
    }

    // A panel frame: its key opens its own plugin's files, and nothing else.
    if let Some(rest) = path.strip_prefix("/panel/") {
        let key = rest.split('/').next().unwrap_or("");
        let grant = state.sessions.lock().panel(key).cloned();
        return match grant {
            Some(grant) if req.method() == Method::GET => {
                req.extensions_mut().insert(Access::Panel(grant));
                next.run(req).await
            }
            Some(_) => refuse(StatusCode::METHOD_NOT_ALLOWED, "panel files are read-only"),
            None => refuse(
                StatusCode::NOT_FOUND,
                "no such panel; open it again from the plugin's page",
            ),
        };
    }

    // The token in the URL, exchanged for a session cookie (and taken out of the address bar).
    if let Some(given) = query_token(req.uri().query()) {
        if req.method() != Method::GET || !same_secret(given.as_bytes(), state.token.as_bytes()) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "wrong token; open the URL that `plugboard run --ui` printed",
            );
        }
        let id = state.sessions.lock().open();
        let target = without_token(&path, req.uri().query());
        let cookie = format!(
            "{}={id}; HttpOnly; SameSite=Strict; Path=/",
            state.cookie_name
        );
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
        return response;
    }

    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let access = if let Some(given) = bearer {
        if !same_secret(given.trim().as_bytes(), state.token.as_bytes()) {
            return refuse(StatusCode::UNAUTHORIZED, "wrong bearer token");
        }
        Access::Bearer
    } else {
        let session = cookie(headers, &state.cookie_name)
            .and_then(|id| state.sessions.lock().get(id).cloned());
        let Some(session) = session else {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this dashboard needs its access token: open the URL with `?token=` that `plugboard run --ui` printed",
            );
        };
        let safe = matches!(*req.method(), Method::GET | Method::HEAD);
        if !safe {
            if let Err(message) = check_origin(headers) {
                return refuse(StatusCode::FORBIDDEN, message);
            }
            let given = headers
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !same_secret(given, session.csrf.as_bytes()) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "missing or wrong CSRF token; reload the dashboard page",
                );
            }
        }
        Access::Session { csrf: session.csrf }
    };
    req.extensions_mut().insert(access);
    next.run(req).await
}

/// A state-changing request from a browser must come from the dashboard's own pages: its
/// `Origin` is this server (`http://` + the Host it was sent to), and, when the browser says,
/// it is a same-origin fetch.
fn check_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    match origin {
        Some(o) if o == format!("http://{host}") || o == format!("https://{host}") => {}
        Some(_) => return Err("the request comes from another origin"),
        None => return Err("the request has no Origin header; send it from the dashboard page"),
    }
    let fetch_site = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok());
    if fetch_site.is_some_and(|s| s != "same-origin") {
        return Err("the request is not same-origin");
    }
    Ok(())
}
