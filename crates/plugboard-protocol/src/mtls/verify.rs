//! The certificate verifiers of AutoMTLS: trust exactly one certificate, and check handshake
//! signatures with ring, or with `p521` for ECDSA P-521 + SHA-512, which go-plugin's
//! certificates use and ring cannot verify.

use std::sync::Arc;

use p521::ecdsa::signature::Verifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::{der, PinnedCert};

/// P-521 scalars and coordinates are 66 bytes.
const P521_WIDTH: usize = 66;

/// Why the peer's certificate was refused: it is not the pinned one.
struct NotPinned {
    peer: &'static str,
}

/// rustls shows an [`rustls::OtherError`] with `Debug`: make that the message.
impl std::fmt::Debug for NotPinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for NotPinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} presented a certificate other than the one it was pinned to (AutoMTLS trusts exactly the certificate exchanged when the plugin started)",
            self.peer
        )
    }
}

impl std::error::Error for NotPinned {}

/// Checks signatures against one pinned certificate.
#[derive(Debug)]
struct Pin {
    cert: PinnedCert,
    algorithms: WebPkiSupportedAlgorithms,
    /// Who presents the certificate, for messages.
    peer: &'static str,
}

impl Pin {
    fn check(&self, presented: &CertificateDer<'_>) -> Result<(), Error> {
        if presented.as_ref() == self.cert.der() {
            Ok(())
        } else {
            Err(Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NotPinned { peer: self.peer })),
            )))
        }
    }

    fn verify(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.check(cert)?;
        if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            return self.verify_p521(message, dss.signature());
        }
        if tls13 {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        } else {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }
    }

    /// An ECDSA P-521 SHA-512 signature (DER) of `message` by the pinned certificate's key.
    pub(super) fn verify_p521(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<HandshakeSignatureValid, Error> {
        let bad = || Error::InvalidCertificate(CertificateError::BadSignature);
        let key = self.cert.p521.as_ref().ok_or_else(bad)?;
        let fixed = der::ecdsa_signature_fixed(signature, P521_WIDTH).ok_or_else(bad)?;
        let signature = p521::ecdsa::Signature::from_slice(&fixed).map_err(|_| bad())?;
        key.verify(message, &signature).map_err(|_| bad())?;
        Ok(HandshakeSignatureValid::assertion())
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self.algorithms.supported_schemes();
        if !schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512) {
            schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        }
        schemes
    }
}

/// The host's verifier of a plugin's server certificate: exactly the certificate of the
/// handshake line, whatever the server name; P-521 signatures included.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    pin: Pin,
}

impl PinnedServerVerifier {
    /// Trusts exactly `cert`, checking other signature schemes with `provider`'s algorithms.
    pub fn new(cert: PinnedCert, provider: &CryptoProvider) -> Self {
        Self {
            pin: Pin {
                cert,
                algorithms: provider.signature_verification_algorithms,
                peer: "plugin",
            },
        }
    }

    #[cfg(test)]
    pub(super) fn verify_p521(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<HandshakeSignatureValid, Error> {
        self.pin.verify_p521(message, signature)
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.pin.check(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.pin.verify(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.pin.verify(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.pin.schemes()
    }
}

/// A plugin's (or a broker server's) verifier of the client: a certificate is required, and
/// only the pinned one is accepted; P-521 signatures included (go-plugin hosts use P-521).
#[derive(Debug)]
pub struct PinnedClientVerifier {
    pin: Pin,
}

impl PinnedClientVerifier {
    /// Accepts exactly `cert`, checking other signature schemes with `provider`'s algorithms.
    pub fn new(cert: PinnedCert, provider: &CryptoProvider) -> Self {
        Self {
            pin: Pin {
                cert,
                algorithms: provider.signature_verification_algorithms,
                peer: "client",
            },
        }
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.pin.check(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.pin.verify(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.pin.verify(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.pin.schemes()
    }
}
