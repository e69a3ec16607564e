//! Extism's `http_request`, allowed only to the hosts in the plugin's `permissions.net`.
//!
//! The request is Extism's JSON (`{"url": .., "method": .., "headers": {..}}`). Plain `http://`
//! is served with a minimal HTTP/1.1 client (one request per connection); `https://` is
//! refused with a message saying so, until the host carries a TLS client for plugins.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use plugboard_core::manifest::LogLevel;
use plugboard_core::{CallError, HostApi};

/// The most of a response body a plugin gets.
const MAX_RESPONSE: u64 = 16 << 20;

/// Performs the request; returns the status and the body.
pub(crate) fn request(
    host: &HostApi,
    request: &[u8],
    body: &[u8],
) -> Result<(u16, Vec<u8>), CallError> {
    let plugin = host.id().to_string();
    let bad = |m: String| CallError::plugin(&plugin, format!("http_request: {m}"));
    let req: serde_json::Value = serde_json::from_slice(request)
        .map_err(|e| bad(format!("the request is not JSON: {e}")))?;
    let url = req
        .get("url")
        .and_then(|u| u.as_str())
        .ok_or_else(|| bad("the request has no `url`".into()))?;
    let method = req.get("method").and_then(|m| m.as_str()).unwrap_or("GET");
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad(format!("{url:?} is not an absolute URL")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (name, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse().map_err(|_| bad(format!("bad port in {url:?}")))?,
        ),
        None => (authority, default_port),
    };
    let allowed = host
        .permissions()
        .net
        .iter()
        .any(|e| e == &format!("{name}:{port}") || e == name);
    if !allowed {
        let msg = format!(
            "plugin {plugin}: denied an HTTP request to {name}:{port}; add \"{name}:{port}\" to `permissions.net` in its plugin.yaml to allow it"
        );
        host.log(LogLevel::Warning, &msg);
        return Err(CallError::Denied(msg));
    }
    if scheme != "http" {
        return Err(bad(format!(
            "{scheme}:// is not supported by this host's http_request (plain http:// only)"
        )));
    }
    let addr = (name, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| bad(format!("{name} does not resolve")))?;
    let io = |e: std::io::Error| bad(format!("{url}: {e}"));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(h) = req.get("headers").and_then(|h| h.as_object()) {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).map_err(io)?;
    s.write_all(body).map_err(io)?;
    let mut raw = Vec::new();
    s.take(MAX_RESPONSE).read_to_end(&mut raw).map_err(io)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("the response has no header end".into()))?;
    let status = std::str::from_utf8(&raw[..split])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("the response has no status".into()))?;
    Ok((status, raw[split + 4..].to_vec()))
}
