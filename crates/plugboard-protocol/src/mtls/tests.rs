use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, SignatureScheme};

use super::*;
use crate::base64::decode;

/// A certificate made by Go exactly as go-plugin's `generateCert` makes them (ECDSA P-521,
/// SHA-512, self-signed, `localhost`, CA), and a SHA-512 ECDSA signature of [`GO_MESSAGE`]
/// by its key (Go's `ecdsa.SignASN1`), both base64: a fixture from an independent
/// implementation, made once with Go 1.19's crypto/x509 and crypto/ecdsa.
const GO_P521_CERT: &str = "MIICQDCCAaKgAwIBAgICEJIwCgYIKoZIzj0EAwQwKDESMBAGA1UEChMJSGFzaGlDb3JwMRIwEAYDVQQDEwlsb2NhbGhvc3QwIBcNMjYxMjA3MjIxMDMyWhgPMjA1NjEyMDcxMDExMDJaMCgxEjAQBgNVBAoTCUhhc2hpQ29ycDESMBAGA1UEAxMJbG9jYWxob3N0MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAT2N76t9E3NonhJCvxk5pF4mbfzDHaxnd0QhN2xrPn3zD4g17YgjMuA5MgOjXlb/kSnHFFIF4u2gdSo6lu4CJiNcBDLfEqWPBc3TiYFr5Qn2D0iRc47T3S1CAfhbT1tPSRiBD9jxWQe7ikoi/UPdJ9f1iYuRgkiklmXFmv2nwpZM6leajdzB1MA4GA1UdDwEB/wQEAwICrDAdBgNVHSUEFjAUBggrBgEFBQcDAgYIKwYBBQUHAwEwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUAPFHFYPCY+bHUrL7b4ySXY6hqnkwFAYDVR0RBA0wC4IJbG9jYWxob3N0MAoGCCqGSM49BAMEA4GLADCBhwJCAb1vyfINY9WPB/j9mkPybeaSbrygvOq3VN2Ds8IGdgEVcyDtx/X2IFr7/z7xwKngEEumRSpogFBDH3Mc2VOr55J/AkE7mJZgafivwhB4oa9GVh7XDqO4AR9mOVgmAcUTNB5trLzrWUlTljFo6FIq6JCqP2jwR88ScgLCqXw4ZjcWHM0cSQ==";
const GO_MESSAGE: &[u8] = b"plugboard: a TLS 1.3 CertificateVerify stands here";
const GO_P521_SIGNATURE: &str = "MIGHAkF6DmTRQq0gc9luMhZgk0abwlWbPhj+HHFrIDJZqjjxnONEDk5V3NKK4ERyhu0SDxHoneozcpExroE9OYFUEZHyLwJCAImPhFcFD5bqciYcBMV5CybJg2SjjNf+nt3ZUp1J3/WYjyX6B/6qg7LJn43Kg2mynpOEl/7LHZMsxmLnYUCbAwox";

fn go_cert() -> Vec<u8> {
    decode(GO_P521_CERT).unwrap()
}

fn go_verifier() -> PinnedServerVerifier {
    let provider = rustls::crypto::ring::default_provider();
    PinnedServerVerifier::new(PinnedCert::new(go_cert()).unwrap(), &provider)
}

/// Runs a TLS handshake between the two configurations in memory.
fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> Result<(), rustls::Error> {
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let mut c = ClientConnection::new(client, name)?;
    let mut s = ServerConnection::new(server)?;
    for _ in 0..20 {
        let mut wire = Vec::new();
        c.write_tls(&mut wire).unwrap();
        if !wire.is_empty() {
            s.read_tls(&mut wire.as_slice()).unwrap();
            s.process_new_packets()?;
        }
        let mut wire = Vec::new();
        s.write_tls(&mut wire).unwrap();
        if !wire.is_empty() {
            c.read_tls(&mut wire.as_slice()).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            assert_eq!(c.alpn_protocol(), Some(b"h2".as_slice()));
            return Ok(());
        }
    }
    panic!("the handshake did not finish");
}

#[test]
fn a_generated_identity_is_a_p256_localhost_certificate_in_der_and_pem() {
    let id = Identity::generate().unwrap();
    let pinned = PinnedCert::new(id.cert_der().to_vec()).unwrap();
    assert!(pinned.p521.is_none());
    assert!(id.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        PinnedCert::from_pem(id.cert_pem()).unwrap().der(),
        id.cert_der()
    );
    // Fresh every time.
    assert_ne!(Identity::generate().unwrap().cert_der(), id.cert_der());
    assert!(!format!("{id:?}").contains("key:"));
}

#[test]
fn both_sides_accept_exactly_the_pinned_certificates() {
    let host = Identity::generate().unwrap();
    let plugin = Identity::generate().unwrap();
    let pin = |id: &Identity| PinnedCert::new(id.cert_der().to_vec()).unwrap();
    handshake(
        host.client_config(pin(&plugin)).unwrap(),
        plugin.server_config(pin(&host)).unwrap(),
    )
    .unwrap();

    // A server other than the one the handshake line named.
    let impostor = Identity::generate().unwrap();
    let err = handshake(
        host.client_config(pin(&plugin)).unwrap(),
        impostor.server_config(pin(&host)).unwrap(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("other than the one it was pinned to"),
        "{err}"
    );

    // A client other than the host that started the plugin.
    let err = handshake(
        impostor.client_config(pin(&plugin)).unwrap(),
        plugin.server_config(pin(&host)).unwrap(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("client presented a certificate other"),
        "{err}"
    );
}

#[test]
fn a_go_plugin_p521_signature_is_verified_for_the_pinned_certificate() {
    let verifier = go_verifier();
    let signature = decode(GO_P521_SIGNATURE).unwrap();
    verifier.verify_p521(GO_MESSAGE, &signature).unwrap();
    // Another message, or a damaged signature, is refused.
    assert!(verifier
        .verify_p521(b"another message", &signature)
        .is_err());
    let mut damaged = signature.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(verifier.verify_p521(GO_MESSAGE, &damaged).is_err());
    assert!(verifier.verify_p521(GO_MESSAGE, b"\x30\x00").is_err());
    assert!(verifier
        .supported_verify_schemes()
        .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
}

#[test]
fn the_pinned_go_certificate_is_accepted_and_any_other_refused() {
    let verifier = go_verifier();
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let now = UnixTime::now();
    verifier
        .verify_server_cert(&CertificateDer::from(go_cert()), &[], &name, &[], now)
        .unwrap();
    let other = Identity::generate().unwrap();
    let err = verifier
        .verify_server_cert(
            &CertificateDer::from(other.cert_der().to_vec()),
            &[],
            &name,
            &[],
            now,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("other than the one it was pinned to"),
        "{err}"
    );
    // A P-256 key never verifies as P-521.
    let p256 = PinnedServerVerifier::new(
        PinnedCert::new(other.cert_der().to_vec()).unwrap(),
        &rustls::crypto::ring::default_provider(),
    );
    let signature = decode(GO_P521_SIGNATURE).unwrap();
    assert!(p256.verify_p521(GO_MESSAGE, &signature).is_err());
}

#[test]
fn what_is_not_a_certificate_is_refused_with_a_reason() {
    let err = PinnedCert::new(vec![0x30, 0x03, 0x02, 0x01, 0x01]).unwrap_err();
    assert!(
        err.to_string().contains("not an X.509 certificate"),
        "{err}"
    );
    let mut cut = go_cert();
    cut.truncate(cut.len() / 2);
    assert!(PinnedCert::new(cut).is_err());
    let err = PinnedCert::from_pem("no certificate here").unwrap_err();
    assert!(matches!(err, MtlsError::Pem { .. }), "{err}");
    assert!(err.to_string().contains("no certificate here"), "{err}");
}

#[test]
fn malformed_der_never_panics() {
    for len in 0..64 {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 0x30) as u8).collect();
        let _ = der::subject_public_key(&bytes);
        let _ = der::ecdsa_signature_fixed(&bytes, 66);
    }
    let mut cert = go_cert();
    for i in 0..cert.len() {
        cert[i] ^= 0xff;
        let _ = der::subject_public_key(&cert);
        cert[i] ^= 0xff;
    }
    // A signature with an integer wider than the curve is refused.
    let mut wide = vec![0x30, 0x48, 0x02, 0x43, 0x01];
    wide.extend([0x11; 66]);
    wide.extend([0x02, 0x01, 0x01]);
    assert!(der::ecdsa_signature_fixed(&wide, 66).is_none());
}
