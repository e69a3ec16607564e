//! go-plugin's AutoMTLS, plugin side: when the host sends its certificate in
//! `PLUGIN_CLIENT_CERT`, the plugin makes its own, serves gRPC over TLS requiring exactly the
//! host's certificate, prints its certificate in the handshake line, and dials the host's
//! broker connections (the host API) with TLS, presenting its certificate and trusting exactly
//! the host's. The certificates and verifiers (P-521 included, which go-plugin hosts use) are
//! `plugboard_protocol::mtls`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use plugboard_protocol::mtls::{Identity, PinnedCert, SERVER_NAME};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

/// The plugin's TLS for one run: its certificate and the host's, both ways.
#[derive(Clone)]
pub(super) struct Mtls {
    /// The plugin's certificate (DER), for the handshake line.
    pub(super) cert_der: Vec<u8>,
    /// Serving: present the plugin's certificate, require the host's.
    pub(super) server: Arc<ServerConfig>,
    /// Dialing the host's broker connections: trust the host's certificate, present the
    /// plugin's.
    pub(super) client: Arc<ClientConfig>,
}

impl Mtls {
    /// The plugin's side of AutoMTLS for the host certificate `pem` (`PLUGIN_CLIENT_CERT`).
    pub(super) fn new(pem: &str) -> Result<Mtls, String> {
        let host = PinnedCert::from_pem(pem)
            .map_err(|e| format!("PLUGIN_CLIENT_CERT cannot be used: {e}"))?;
        let identity = Identity::generate().map_err(|e| e.to_string())?;
        Ok(Mtls {
            cert_der: identity.cert_der().to_vec(),
            server: identity
                .server_config(host.clone())
                .map_err(|e| e.to_string())?,
            client: identity.client_config(host).map_err(|e| e.to_string())?,
        })
    }
}

/// Runs the client side of a TLS handshake over `stream` with `localhost` as the server name.
pub(super) async fn connect<S>(
    stream: S,
    config: Arc<ClientConfig>,
) -> io::Result<hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<S>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(SERVER_NAME)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map(hyper_util::rt::TokioIo::new)
}

/// A TLS failure as a sentence: rustls shows the verifiers' own errors with `Debug`
/// (`Other(OtherError(..))`), so those are unwrapped.
fn describe(e: &io::Error) -> String {
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
pub(super) struct TlsConn<S>(tokio_rustls::server::TlsStream<S>);

impl<S> tonic::transport::server::Connected for TlsConn<S> {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsConn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsConn<S> {
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

/// Completes the TLS handshake of each connection `accepted` yields, each in a task of its
/// own (a slow client never holds up the host), and yields those that passed. A refused
/// handshake is reported on stderr, which the host logs.
pub(super) fn incoming<A, S>(
    mut accepted: A,
    config: Arc<ServerConfig>,
) -> ReceiverStream<io::Result<TlsConn<S>>>
where
    A: Stream<Item = io::Result<S>> + Unpin + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                n = accepted.next() => n,
                () = tx.closed() => return,
            };
            let stream = match next {
                None => return,
                Some(Ok(stream)) => stream,
                Some(Err(e)) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    Err(e) => eprintln!(
                        "[WARN] a connection was refused: its TLS handshake failed (AutoMTLS): {}",
                        describe(&e)
                    ),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_certificate_must_be_pem() {
        let err = Mtls::new("not a certificate").err().unwrap();
        assert!(err.contains("PLUGIN_CLIENT_CERT cannot be used"), "{err}");
        assert!(err.contains("not a certificate"), "{err}");
        let host = Identity::generate().unwrap();
        let mtls = Mtls::new(host.cert_pem()).unwrap();
        assert_ne!(mtls.cert_der, host.cert_der());
        assert!(PinnedCert::new(mtls.cert_der).is_ok());
    }
}
