//! Downloads over HTTP(S) and reads of `file://` URLs: size-capped, retried with backoff on
//! transient failures, reported to a [`Progress`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::source::file_path;

/// Receives download progress; the CLI draws bars with it.
pub trait Progress: Send + Sync {
    /// A download of `label` began; `total` bytes when the server said.
    fn started(&self, label: &str, total: Option<u64>);
    /// `bytes` more arrived.
    fn advanced(&self, label: &str, bytes: u64);
    /// The download ended (successfully or not).
    fn finished(&self, label: &str);
}

/// Settings of the network side.
#[derive(Clone)]
pub struct FetchOptions {
    /// Attempts per request for transient failures (connection errors, timeouts, 5xx, 429, a
    /// body cut short). Default 4.
    pub attempts: u32,
    /// The first pause between attempts; it doubles each time. Default 250 ms.
    pub backoff: Duration,
    /// How long connecting may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How long the server may stay silent while sending. Default 30 s.
    pub read_timeout: Duration,
    /// The largest download accepted. Default 256 MiB.
    pub max_download_bytes: u64,
    /// Where progress goes.
    pub progress: Option<Arc<dyn Progress>>,
}

impl fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchOptions")
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("max_download_bytes", &self.max_download_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_download_bytes: 256 << 20,
            progress: None,
        }
    }
}

/// What a fetch found.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The bytes.
    Bytes(Vec<u8>),
    /// 404, or no such file.
    NotFound,
}

/// Where a "latest" URL leads.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Redirect {
    /// To this URL (the `Location` of the first redirect, made absolute).
    To(String),
    /// Nowhere: the server answered with the file itself.
    Direct,
    /// 404.
    NotFound,
}

/// The HTTP client and its settings.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    /// The same, but stopping at redirects, to read where "latest" points.
    no_redirects: reqwest::Client,
    pub(crate) options: FetchOptions,
}

enum Attempt {
    Done(Fetched),
    Retry(String),
    Fail(String),
}

impl Fetcher {
    pub(crate) fn new(options: FetchOptions) -> Result<Self> {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .user_agent(concat!("plugboard/", env!("CARGO_PKG_VERSION")))
        };
        let fail = |e: reqwest::Error| Error::Config(format!("cannot set up the HTTP client: {e}"));
        let client = builder().build().map_err(fail)?;
        let no_redirects = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(fail)?;
        Ok(Self {
            client,
            no_redirects,
            options,
        })
    }

    /// Where `url` redirects to, without following it further: GitHub's
    /// `/releases/latest/download/x` answers with the release it stands for
    /// (`/releases/download/v1.2.0/x`), whose own redirect to a short-lived storage URL must
    /// not end up in a lockfile. Transient failures are retried like downloads.
    pub(crate) async fn redirect(&self, url: &str) -> Result<Redirect> {
        let mut pause = self.options.backoff;
        let attempts = self.options.attempts.max(1);
        let mut attempt = 1;
        loop {
            let reason = match self.no_redirects.get(url).send().await {
                Ok(r) if r.status().is_redirection() => {
                    let location = r
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                        .ok_or_else(|| {
                            Error::http(
                                url,
                                format!("the server answered {} without a Location", r.status()),
                            )
                        })?;
                    let to = r.url().join(location).map_err(|e| {
                        Error::http(
                            url,
                            format!("the redirect to {location:?} is not a URL: {e}"),
                        )
                    })?;
                    let downgrade = url.starts_with("https:") && to.scheme() == "http";
                    if (to.scheme() != "https" && to.scheme() != "http") || downgrade {
                        return Err(Error::http(
                            url,
                            format!("the redirect leads to {to}, not to an https URL (or http from http); refusing it"),
                        ));
                    }
                    return Ok(Redirect::To(to.to_string()));
                }
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                    return Ok(Redirect::NotFound)
                }
                Ok(r) if r.status().is_success() => return Ok(Redirect::Direct),
                Ok(r)
                    if r.status().is_server_error()
                        || r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
                {
                    format!("the server answered {}", r.status())
                }
                Ok(r) => {
                    return Err(Error::http(
                        url,
                        format!("the server answered {}", r.status()),
                    ))
                }
                Err(e) if e.is_builder() => {
                    return Err(Error::http(url, format!("not a valid URL: {e}")))
                }
                Err(e) => describe(&e),
            };
            if attempt >= attempts {
                return Err(Error::http(
                    url,
                    format!("{reason} (gave up after {attempts} attempts)"),
                ));
            }
            tracing::warn!("{url}: {reason}; retrying in {pause:?}");
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }

    /// Fetches `url` (`http`, `https` or `file`); `label` names it on progress bars.
    pub(crate) async fn get(&self, url: &str, label: &str) -> Result<Fetched> {
        if let Some(path) = file_path(url) {
            return match tokio::fs::read(&path).await {
                Ok(b) if b.len() as u64 > self.options.max_download_bytes => Err(Error::http(
                    url,
                    format!(
                        "larger than {} MiB; refusing it",
                        self.options.max_download_bytes >> 20
                    ),
                )),
                Ok(b) => Ok(Fetched::Bytes(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Fetched::NotFound),
                Err(e) => Err(Error::io(path, e)),
            };
        }
        let mut pause = self.options.backoff;
        let attempts = self.options.attempts.max(1);
        for attempt in 1..=attempts {
            match self.attempt(url, label).await {
                Attempt::Done(f) => return Ok(f),
                Attempt::Fail(reason) => return Err(Error::http(url, reason)),
                Attempt::Retry(reason) if attempt == attempts => {
                    return Err(Error::http(
                        url,
                        format!("{reason} (gave up after {attempts} attempts)"),
                    ))
                }
                Attempt::Retry(reason) => {
                    tracing::warn!("{url}: {reason}; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn attempt(&self, url: &str, label: &str) -> Attempt {
        let mut response = match self.client.get(url).send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Attempt::Fail(format!("not a valid URL: {e}")),
            Err(e) => return Attempt::Retry(describe(&e)),
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Attempt::Done(Fetched::NotFound);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Attempt::Retry(format!("the server answered {status}"));
        }
        if !status.is_success() {
            return Attempt::Fail(format!("the server answered {status}"));
        }
        let max = self.options.max_download_bytes;
        let total = response.content_length();
        if total.is_some_and(|t| t > max) {
            return Attempt::Fail(format!("larger than {} MiB; refusing it", max >> 20));
        }
        let progress = self.options.progress.as_deref();
        if let Some(p) = progress {
            p.started(label, total);
        }
        let mut body = Vec::with_capacity(total.unwrap_or(0).min(max) as usize);
        let outcome = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > max {
                        break Attempt::Fail(format!("larger than {} MiB; refusing it", max >> 20));
                    }
                    body.extend_from_slice(&chunk);
                    if let Some(p) = progress {
                        p.advanced(label, chunk.len() as u64);
                    }
                }
                Ok(None) => break Attempt::Done(Fetched::Bytes(std::mem::take(&mut body))),
                Err(e) => {
                    break Attempt::Retry(format!(
                        "the connection broke after {} of {} bytes ({})",
                        body.len(),
                        total.map_or("?".to_owned(), |t| t.to_string()),
                        describe(&e)
                    ))
                }
            }
        };
        if let Some(p) = progress {
            p.finished(label);
        }
        outcome
    }
}

/// A reqwest error with its causes, which hold the useful part ("connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
