//! go-plugin's AutoMTLS, host side: dialing a plugin with TLS, and the host-API broker server
//! behind TLS. The certificates and the verifiers (which trust exactly one certificate, P-521
//! included) are `plugboard_protocol::mtls`; this module puts them on sockets.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use plugboard_core::manifest::LogLevel;
use plugboard_core::HostApi;
use plugboard_protocol::handshake::Handshake;
use plugboard_protocol::mtls::{Identity, MtlsError, PinnedCert, SERVER_NAME};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::wrappers::ReceiverStream;

use crate::child::Child;
use crate::error::ProcessError;

/// The TLS configurations of one start of a plugin: the host's identity (sent in
/// `PLUGIN_CLIENT_CERT`) paired with the certificate the plugin printed.
#[derive(Clone)]
pub(crate) struct Mtls {
    /// Dialing the plugin: trust its certificate, present the host's.
    pub(crate) client: Arc<ClientConfig>,
    /// The broker's host-API server: present the host's certificate, require the plugin's
    /// (go-plugin's brokers use the same pair of certificates in the other direction).
    pub(crate) server: Arc<ServerConfig>,
}

impl std::fmt::Debug for Mtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mtls").finish_non_exhaustive()
    }
}

impl Mtls {
    /// Pairs the host's `identity` with the plugin's certificate `der`.
    pub(crate) fn new(identity: &Identity, der: Vec<u8>) -> Result<Mtls, MtlsError> {
        let pinned = PinnedCert::new(der)?;
        Ok(Mtls {
            client: identity.client_config(pinned.clone())?,
            server: identity.server_config(pinned)?,
        })
    }
}

/// The TLS configurations for this start of `plugin`, from the host's identity and the
/// certificate of the handshake line; `None` without AutoMTLS. Either both are there or
/// neither.
pub(crate) fn for_start(
    plugin: &str,
    handshake: &Handshake,
    identity: Option<&Identity>,
    child: &Child,
) -> Result<Option<Mtls>, ProcessError> {
    match (identity, &handshake.server_cert) {
        (None, None) => Ok(None),
        (Some(identity), Some(der)) => Mtls::new(identity, der.clone())
            .map(Some)
            .map_err(|e| ProcessError::ServerCert {
                plugin: plugin.to_owned(),
                reason: e.to_string(),
                line: quote_line(&handshake.to_string()),
                stderr: child.stderr.render(),
            }),
        (Some(_), None) => Err(ProcessError::MissingServerCert {
            plugin: plugin.to_owned(),
            line: quote_line(&handshake.to_string()),
            stderr: child.stderr.render(),
        }),
        (None, Some(_)) => Err(ProcessError::Connect {
            plugin: plugin.to_owned(),
            message: "its handshake line carries a server certificate, so it serves TLS, but `process.auto_mtls` is off and the host has no certificate to present; set `process.auto_mtls: true` in its plugin.yaml".to_owned(),
            stderr: child.stderr.render(),
        }),
    }
}

/// A handshake line for a message: quoted, and cut in the middle when long (a certificate
/// field is hundreds of characters).
fn quote_line(line: &str) -> String {
    const KEEP: usize = 120;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= 2 * KEEP {
        return format!("{line:?}");
    }
    let head: String = chars[..KEEP].iter().collect();
    let tail: String = chars[chars.len() - KEEP..].iter().collect();
    format!(
        "{:?}",
        format!(
            "{head}[... {} characters ...]{tail}",
            chars.len() - 2 * KEEP
        )
    )
}

/// Why a TLS connection to a plugin failed: reaching the socket, or the TLS handshake.
#[derive(Debug)]
pub(crate) enum DialFailure {
    /// The socket could not be reached.
    Connect(io::Error),
    /// The TLS handshake failed.
    Handshake(io::Error),
}

impl std::fmt::Display for DialFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialFailure::Connect(e) => write!(f, "{e}"),
            DialFailure::Handshake(e) => write!(f, "the TLS handshake failed: {e}"),
        }
    }
}

impl std::error::Error for DialFailure {}

/// Runs the client side of a TLS handshake over `stream`, with `localhost` as the server
/// name, as go-plugin's host does.
pub(crate) async fn connect<S>(
    stream: io::Result<S>,
    config: Arc<ClientConfig>,
) -> Result<TokioIo<tokio_rustls::client::TlsStream<S>>, DialFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stream = stream.map_err(DialFailure::Connect)?;
    let name = ServerName::try_from(SERVER_NAME)
        .map_err(|e| DialFailure::Handshake(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map(TokioIo::new)
        .map_err(DialFailure::Handshake)
}

/// The TLS failure somewhere in `e`'s chain of sources, if that is why a dial failed.
pub(crate) fn handshake_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(DialFailure::Handshake(io)) = err.downcast_ref::<DialFailure>() {
            return Some(describe(io));
        }
        cur = err.source();
    }
    None
}

/// A TLS failure as a sentence: rustls shows the verifiers' own errors with `Debug`
/// (`Other(OtherError(..))`), so those are unwrapped.
pub(crate) fn describe(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            format!("invalid peer certificate: {}", other.0)
        }
        _ => e.to_string(),
    }
}

/// One accepted TLS connection, for tonic's server.
pub(crate) struct TlsConn(tokio_rustls::server::TlsStream<tokio::net::UnixStream>);

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// Accepts connections on `listener` and completes each TLS handshake in a task of its own
/// (a slow or hostile client never holds up the others); yields those that passed. A refused
/// handshake is a warning in the plugin's log. Ends when the stream is dropped.
pub(crate) fn incoming(
    listener: UnixListener,
    config: Arc<ServerConfig>,
    host: HostApi,
) -> ReceiverStream<io::Result<TlsConn>> {
    let (tx, rx) = mpsc::channel(4);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = tx.closed() => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let (acceptor, tx, host) = (acceptor.clone(), tx.clone(), host.clone());
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    Err(e) => host.log(
                        LogLevel::Warning,
                        &format!(
                            "a connection to the host API was refused: its TLS handshake failed: {}",
                            describe(&e)
                        ),
                    ),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
