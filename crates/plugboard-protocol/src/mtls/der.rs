//! Just enough DER to find a certificate's public key and to read an ECDSA signature: the
//! verifiers need the P-521 key that webpki does not hand out. Every function returns `None`
//! on malformed input; none panics.

/// `id-ecPublicKey` (1.2.840.10045.2.1), as a DER OBJECT IDENTIFIER element.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `secp521r1` (1.3.132.0.35), as a DER OBJECT IDENTIFIER element.
const OID_SECP521R1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
/// `[0] EXPLICIT`: the certificate's version.
const VERSION: u8 = 0xa0;

/// A certificate's SubjectPublicKeyInfo.
pub(super) struct PublicKey<'a> {
    /// The AlgorithmIdentifier's contents (OID and parameters).
    algorithm: &'a [u8],
    /// The key bits (for EC keys, the SEC1 point).
    pub(super) key: &'a [u8],
}

impl PublicKey<'_> {
    /// Whether this is an EC key on P-521.
    pub(super) fn is_p521(&self) -> bool {
        self.algorithm
            .strip_prefix(OID_EC_PUBLIC_KEY)
            .is_some_and(|curve| curve == OID_SECP521R1)
    }
}

/// Splits one element off `input`: its tag, its contents, and what follows.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        // High tag numbers appear nowhere this module looks.
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The contents of an element with tag `want` at the start of `input`, and what follows.
fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (tag, contents, rest) if tag == want => Some((contents, rest)),
        _ => None,
    }
}

/// The subject public key of an X.509 certificate (RFC 5280 section 4.1).
pub(super) fn subject_public_key(cert: &[u8]) -> Option<PublicKey<'_>> {
    let (certificate, trailing) = expect(cert, SEQUENCE)?;
    if !trailing.is_empty() {
        return None;
    }
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if let Some((VERSION, _, after)) = element(rest) {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, subject.
    for want in [INTEGER, SEQUENCE, SEQUENCE, SEQUENCE, SEQUENCE] {
        rest = expect(rest, want)?.1;
    }
    let (spki, _) = expect(rest, SEQUENCE)?;
    let (algorithm, rest) = expect(spki, SEQUENCE)?;
    let (bits, _) = expect(rest, BIT_STRING)?;
    let (&unused_bits, key) = bits.split_first()?;
    if unused_bits != 0 {
        return None;
    }
    Some(PublicKey { algorithm, key })
}

/// An ECDSA signature in DER (`SEQUENCE { r INTEGER, s INTEGER }`, as TLS carries it) as the
/// fixed-width `r || s` of a curve whose scalars are `width` bytes.
pub(super) fn ecdsa_signature_fixed(der: &[u8], width: usize) -> Option<Vec<u8>> {
    let (pair, trailing) = expect(der, SEQUENCE)?;
    if !trailing.is_empty() {
        return None;
    }
    let (r, rest) = expect(pair, INTEGER)?;
    let (s, rest) = expect(rest, INTEGER)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(2 * width);
    for n in [r, s] {
        // A DER INTEGER has a leading zero when its top bit is set; a positive one has no
        // other leading zeros, but be lenient about them.
        let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
        let digits = &n[start..];
        if digits.is_empty() || digits.len() > width || n.first().is_some_and(|&b| b & 0x80 != 0) {
            return None;
        }
        out.resize(out.len() + width - digits.len(), 0);
        out.extend_from_slice(digits);
    }
    Some(out)
}
