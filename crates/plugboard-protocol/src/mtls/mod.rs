//! go-plugin's AutoMTLS: the certificates and TLS configurations both ends of a plugin
//! connection use (feature `mtls`).
//!
//! With AutoMTLS the host makes a fresh key and self-signed certificate for every start of a
//! plugin and hands the certificate (PEM) to the process in `PLUGIN_CLIENT_CERT`; the plugin
//! makes its own and prints it (base64 of the DER) as the handshake line's sixth field. Each
//! side then trusts exactly the other's certificate: the host dials the plugin with TLS,
//! presenting its certificate, with `localhost` as the server name; the plugin requires that
//! certificate from every client. The two certificates travel over the process's own pipes
//! and environment, never over the socket, which is what makes pinning them sound.
//!
//! ```
//! use plugboard_protocol::mtls::{Identity, PinnedCert};
//!
//! let host = Identity::generate()?;   // the host's, sent as PLUGIN_CLIENT_CERT
//! let plugin = Identity::generate()?; // the plugin's, printed in the handshake line
//! // The plugin's side: serve TLS, require exactly the host's certificate.
//! let _server = plugin.server_config(PinnedCert::from_pem(host.cert_pem())?)?;
//! // The host's side: trust exactly the certificate of the handshake line.
//! let _client = host.client_config(PinnedCert::new(plugin.cert_der().to_vec())?)?;
//! # Ok::<(), plugboard_protocol::mtls::MtlsError>(())
//! ```
//!
//! go-plugin's certificates are ECDSA P-521 with SHA-512, which rustls's `ring` provider cannot
//! verify: the verifiers here check P-521 signatures themselves (RustCrypto's `p521`) and hand
//! every other scheme to ring. Certificates made here are ECDSA P-256, which every TLS stack
//! verifies, quick to make (a start costs well under a millisecond for it).
//!
//! Nothing here does I/O: the process runtime and the pdk wrap their sockets with these
//! configurations (`tokio-rustls`).

mod der;
mod verify;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, ServerConfig};

pub use self::verify::{PinnedClientVerifier, PinnedServerVerifier};

/// The server name both sides use: go-plugin's certificates are for `localhost`, and its host
/// dials with that name whatever the address.
pub const SERVER_NAME: &str = "localhost";

/// How long a certificate made by [`Identity::generate`] is valid. Short, because each start
/// of a plugin makes new ones, yet long enough for a plugin that runs for weeks to reconnect
/// (go-plugin itself makes its certificates for 30 years). The pinned peer's validity period
/// is not checked here: trust comes from the exact certificate, exchanged at the start.
pub const CERT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// The ALPN protocol of gRPC over TLS (grpc-go's TLS credentials offer and newer servers
/// require it).
const ALPN_H2: &[u8] = b"h2";

/// Why a certificate or a TLS configuration could not be made or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MtlsError {
    /// The key or the certificate could not be generated.
    #[error("cannot generate a TLS certificate: {0}")]
    Generate(String),
    /// A peer's certificate is not one that can be pinned.
    #[error("{reason}")]
    Certificate {
        /// What is wrong with it.
        reason: String,
    },
    /// `PLUGIN_CLIENT_CERT` (or another PEM text) holds no certificate.
    #[error("not a PEM certificate ({reason}): {text}")]
    Pem {
        /// What the PEM parser said.
        reason: String,
        /// The text, quoted and cut.
        text: String,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// A key and its self-signed certificate for `localhost`, made for one start of a plugin:
/// the host's client identity, or a plugin's server identity.
pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Identity")
            .field("cert_der_len", &self.cert.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new ECDSA P-256 key and a self-signed certificate for `localhost` (common name and
    /// DNS name), valid from 30 seconds ago (clock skew, as go-plugin) for
    /// [`CERT_VALIDITY`], usable for both server and client authentication.
    ///
    /// # Errors
    /// [`MtlsError::Generate`] when the system's random source fails.
    pub fn generate() -> Result<Identity, MtlsError> {
        let generate = |e: rcgen::Error| MtlsError::Generate(e.to_string());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate)?;
        let mut params =
            rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()]).map_err(generate)?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, SERVER_NAME);
        name.push(rcgen::DnType::OrganizationName, "Plugboard");
        params.distinguished_name = name;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::seconds(30);
        params.not_after = now + CERT_VALIDITY;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.self_signed(&key).map_err(generate)?;
        Ok(Identity {
            pem: cert.pem(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// The certificate, DER: what a plugin prints (base64) in its handshake line.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert
    }

    /// The certificate, PEM: what a host puts in `PLUGIN_CLIENT_CERT`.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// The host's (or a dialing plugin's) configuration: trust exactly `peer`, present this
    /// identity when asked, offer ALPN `h2`. Dial with [`SERVER_NAME`].
    ///
    /// # Errors
    /// [`MtlsError::Tls`] when rustls refuses the key (it never does for one made here).
    pub fn client_config(&self, peer: PinnedCert) -> Result<Arc<ClientConfig>, MtlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PinnedServerVerifier::new(peer, &provider);
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(vec![self.cert.clone()], self.private_key())?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    /// A plugin's (or a broker's) server configuration: present this identity, require a
    /// client certificate and accept exactly `peer`, offer ALPN `h2`.
    ///
    /// # Errors
    /// [`MtlsError::Tls`] when rustls refuses the key (it never does for one made here).
    pub fn server_config(&self, peer: PinnedCert) -> Result<Arc<ServerConfig>, MtlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PinnedClientVerifier::new(peer, &provider);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![self.cert.clone()], self.private_key())?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// The one certificate a peer may present: the certificate of a handshake line, or of
/// `PLUGIN_CLIENT_CERT`. Comparison is byte for byte on the DER.
#[derive(Clone)]
pub struct PinnedCert {
    der: CertificateDer<'static>,
    /// The public key when it is on P-521, which ring cannot verify.
    p521: Option<p521::ecdsa::VerifyingKey>,
}

impl std::fmt::Debug for PinnedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedCert")
            .field("der_len", &self.der.len())
            .field("p521", &self.p521.is_some())
            .finish()
    }
}

impl PinnedCert {
    /// Pins `der`, checking that it is an X.509 certificate whose public key can be found.
    ///
    /// # Errors
    /// [`MtlsError::Certificate`] saying what is wrong.
    pub fn new(der: Vec<u8>) -> Result<PinnedCert, MtlsError> {
        let spki = der::subject_public_key(&der).ok_or_else(|| MtlsError::Certificate {
            reason: "it is not an X.509 certificate (its subject public key cannot be found)"
                .to_owned(),
        })?;
        let p521 = if spki.is_p521() {
            Some(
                p521::ecdsa::VerifyingKey::from_sec1_bytes(spki.key).map_err(|_| {
                    MtlsError::Certificate {
                        reason: "its P-521 public key is not a point on the curve".to_owned(),
                    }
                })?,
            )
        } else {
            None
        };
        Ok(PinnedCert {
            der: CertificateDer::from(der),
            p521,
        })
    }

    /// Pins the first certificate of a PEM text (go-plugin's `PLUGIN_CLIENT_CERT`).
    ///
    /// # Errors
    /// [`MtlsError::Pem`] when the text holds no certificate, quoting it;
    /// [`MtlsError::Certificate`] as for [`PinnedCert::new`].
    pub fn from_pem(pem: &str) -> Result<PinnedCert, MtlsError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| MtlsError::Pem {
            reason: e.to_string(),
            text: crate::quote::quote(pem),
        })?;
        PinnedCert::new(der.to_vec())
    }

    /// The pinned certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}
