//! The web dashboard of a running Plugboard host.
//!
//! [`Dashboard::serve`] starts an HTTP server inside the host process. It shows every plugin
//! with its state, health, start time, calls and errors, updated live over server-sent events
//! driven by the host's lifecycle listeners (no polling); a page per plugin with its manifest,
//! its dependencies and dependents as a graph, its permissions requested and granted, its
//! effective configuration and its log streaming live; the operator's actions (enable,
//! disable, restart, reload); and the panels that plugins contribute with the manifest's `ui:`
//! key, each in a sandboxed frame.
//!
//! ```no_run
//! # async fn demo(host: plugboard::Host) -> Result<(), plugboard_dashboard::DashboardError> {
//! use plugboard_dashboard::{Dashboard, DashboardOptions};
//!
//! let running = Dashboard::serve(host, DashboardOptions::new()).await?;
//! println!("dashboard: {}", running.url()); // http://127.0.0.1:7070/?token=...
//! # Ok(()) }
//! ```
//!
//! # Security
//! - **Loopback by default.** Listening on another address needs
//!   [`DashboardOptions::allow_remote`], and logs a warning: the server speaks plain HTTP (put
//!   a TLS proxy in front of it), and the dashboard can stop plugins. On loopback, requests
//!   whose `Host` header names anything but the bound address are refused (DNS rebinding).
//! - **A token.** Every request needs the access token printed at start. A browser opens
//!   `/?token=...` once and gets an `HttpOnly`, `SameSite=Strict` session cookie in exchange;
//!   scripts may send `Authorization: Bearer <token>` instead.
//! - **CSRF.** Every state-changing request with the cookie must carry the session's CSRF token
//!   (`X-Plugboard-Csrf`, which only the dashboard's own pages can read) and an `Origin` that is
//!   the dashboard's own.
//! - **Limits.** Request bodies are capped ([`DashboardOptions::max_body`]); paths with `..`,
//!   encoded dots or slashes, backslashes or NUL are refused before routing; static assets
//!   come from a fixed table compiled into the binary.
//! - **Strict CSP** on the dashboard's pages (scripts and styles from the dashboard only, no
//!   inline code, not framable).
//! - **Plugin panels** run in `<iframe sandbox="allow-scripts">` (an opaque origin: no cookie,
//!   no access to the dashboard's document), served with their own CSP (`connect-src 'none'`,
//!   `sandbox allow-scripts`) under an unguessable per-session key that opens only that
//!   plugin's panel files. A panel reaches the host only by `postMessage` to the dashboard,
//!   which checks the message's source frame and forwards the call to that frame's own plugin,
//!   with the CSRF token the frame never sees.
#![deny(missing_docs)]

mod api;
mod assets;
mod auth;
mod live;
mod server;

pub use server::{Dashboard, DashboardError, DashboardOptions, RunningDashboard};

#[cfg(test)]
mod tests;

// An application keeps the running dashboard beside its host, across threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Dashboard>();
    send_sync::<DashboardOptions>();
    send_sync::<RunningDashboard>();
};
