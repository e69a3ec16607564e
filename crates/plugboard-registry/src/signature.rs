//! Signatures in the minisign format (Ed25519): signed with the `minisign` crate, verified with
//! the independent `minisign-verify`, and readable by the `minisign` command line tool.
//!
//! A package's signature is a `.minisig` file beside it (or a layer of its OCI artifact). Its
//! trusted comment, which the signature covers, is `plugboard:<id>@<version>`, so a signature
//! cannot be moved onto another plugin or version signed by the same key.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// A minisign key id: 8 bytes, written as minisign prints it (16 upper-case hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // minisign prints the little-endian 64-bit number.
        let mut b = self.0;
        b.reverse();
        f.write_str(&hex::encode_upper(b))
    }
}

/// A trusted public key, from `registry.trusted_keys` in `config.yaml`.
#[derive(Clone)]
pub struct PublicKey {
    id: KeyId,
    key: minisign_verify::PublicKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("id", &self.id).finish()
    }
}

impl PublicKey {
    /// Reads a public key: the base64 line of a minisign `.pub` file (`RW...`), or the whole
    /// file's text.
    ///
    /// # Errors
    /// Text that is not a minisign Ed25519 public key.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let line = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or_default();
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| format!("{line:?} is not a minisign public key ({e}); copy the second line of the .pub file"))?;
        let id = key_id_of(line, 2).ok_or("the public key has no key id")?;
        Ok(Self { id, key })
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

fn key_id_of(base64_line: &str, offset: usize) -> Option<KeyId> {
    use base64_lite::decode;
    let raw = decode(base64_line)?;
    let mut id = [0u8; 8];
    id.copy_from_slice(raw.get(offset..offset + 8)?);
    Some(KeyId(id))
}

/// The keys a host trusts.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<PublicKey>,
}

impl KeyRing {
    /// A key ring from the texts of public keys.
    ///
    /// # Errors
    /// The first text that is not a public key, with its position.
    pub fn from_texts<S: AsRef<str>>(texts: &[S]) -> Result<Self> {
        Self::from_texts_at(texts, "registry.trusted_keys")
    }

    /// As [`KeyRing::from_texts`], with `at` naming the list in errors.
    pub(crate) fn from_texts_at<S: AsRef<str>>(texts: &[S], at: &str) -> Result<Self> {
        let mut keys = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let key = PublicKey::parse(t.as_ref())
                .map_err(|reason| Error::Config(format!("{at}[{i}]: {reason}")))?;
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// Adds a key.
    pub fn push(&mut self, key: PublicKey) {
        self.keys.push(key);
    }

    /// Adds every key of `other` that is not here yet.
    pub fn extend(&mut self, other: &KeyRing) {
        for k in &other.keys {
            if !self.keys.iter().any(|have| have.id == k.id) {
                self.keys.push(k.clone());
            }
        }
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `signature` (the text of a `.minisig` file) over `bytes`, for the package named
    /// `package` in messages. Returns the key id and the trusted comment.
    ///
    /// # Errors
    /// A malformed signature, a key that is not trusted, or a signature that does not match.
    pub fn verify(&self, bytes: &[u8], signature: &str, package: &str) -> Result<Verified> {
        let sig = minisign_verify::Signature::decode(signature).map_err(|e| {
            Error::signature(
                package,
                format!("the signature is not a minisign signature ({e})"),
            )
        })?;
        let sig_line = signature.lines().nth(1).unwrap_or_default();
        let id = key_id_of(sig_line.trim(), 2)
            .ok_or_else(|| Error::signature(package, "the signature has no key id"))?;
        let Some(key) = self.keys.iter().find(|k| k.id == id) else {
            return Err(Error::signature(
                package,
                format!(
                    "signed by key {id}, which is not trusted; add its public key to \
                     trusted_keys of this source in config.yaml if you trust its publisher"
                ),
            ));
        };
        key.key.verify(bytes, &sig, false).map_err(|_| {
            Error::signature(
                package,
                format!(
                    "the signature by key {id} does not match the package: it was changed after \
                     signing, or the signature belongs to another package; refusing it"
                ),
            )
        })?;
        Ok(Verified {
            key: id,
            trusted_comment: sig.trusted_comment().to_owned(),
        })
    }
}

/// A signature that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key that signed.
    pub key: KeyId,
    /// The signed comment (`plugboard:<id>@<version>` for packages signed by Plugboard).
    pub trusted_comment: String,
}

impl Verified {
    /// Checks that a signature made by Plugboard names this plugin and version.
    ///
    /// # Errors
    /// The trusted comment names another plugin or version.
    pub fn check_names(&self, id: &str, version: &str, package: &str) -> Result<()> {
        if let Some(named) = self.trusted_comment.strip_prefix("plugboard:") {
            let expected = format!("{id}@{version}");
            if named != expected {
                return Err(Error::signature(
                    package,
                    format!(
                        "the signature by key {} is for {named}, not {expected}; refusing it",
                        self.key
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The trusted comment Plugboard signs for a plugin.
pub fn trusted_comment(id: &str, version: &str) -> String {
    format!("plugboard:{id}@{version}")
}

/// A secret key for signing, read from a minisign secret key file.
pub struct SecretKey {
    key: minisign::SecretKey,
    id: KeyId,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

impl SecretKey {
    /// Reads a minisign secret key file. `password` decrypts an encrypted key; give `""` for a
    /// key made without a password (`minisign -G -W`, `plugboard keygen`).
    ///
    /// # Errors
    /// An unreadable file, not a minisign secret key, or a wrong password.
    pub fn from_file(path: &Path, password: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |reason: String| Error::Key {
            path: path.to_owned(),
            reason,
        };
        let boxed = minisign::SecretKeyBox::from_string(&text)
            .map_err(|e| bad(format!("not a minisign secret key: {e}")))?;
        let key = boxed
            .into_secret_key(Some(password.to_owned()))
            .map_err(|e| {
                bad(format!(
                    "cannot open the secret key: {e}; set PLUGBOARD_KEY_PASSWORD to its password"
                ))
            })?;
        let public = minisign::PublicKey::from_secret_key(&key)
            .map_err(|e| bad(format!("cannot derive the public key: {e}")))?;
        let id = key_id_of(&public.to_base64(), 2).ok_or_else(|| bad("no key id".into()))?;
        Ok(Self { key, id })
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Signs `bytes`, the package of plugin `id` at `version`; returns the `.minisig` text.
    ///
    /// # Errors
    /// Signing failed (it does not, for a key that was read).
    pub fn sign(&self, bytes: &[u8], id: &str, version: &str) -> Result<String> {
        let comment = trusted_comment(id, version);
        let sig = minisign::sign(
            None,
            &self.key,
            bytes,
            Some(&comment),
            Some(&format!("signature from plugboard secret key {}", self.id)),
        )
        .map_err(|e| Error::signature(format!("{id}@{version}"), format!("cannot sign: {e}")))?;
        Ok(sig.into_string())
    }
}

/// A new key pair without a password: `(secret key file text, public key file text)`.
///
/// # Errors
/// The system's random source failed.
pub fn generate_keypair() -> Result<(String, String)> {
    // An empty password writes the key's checksum without encrypting it, as `minisign -G -W`.
    let pair = minisign::KeyPair::generate_encrypted_keypair(Some(String::new()))
        .map_err(|e| Error::Config(format!("cannot generate a key pair: {e}")))?;
    let sk = pair
        .sk
        .to_box(None)
        .map_err(|e| Error::Config(format!("cannot write the secret key: {e}")))?;
    let pk = pair
        .pk
        .to_box()
        .map_err(|e| Error::Config(format!("cannot write the public key: {e}")))?;
    Ok((sk.into_string(), pk.into_string()))
}

/// Standard base64 decoding (key ids, Docker's `auths` entries).
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64_lite::decode(text)
}

/// Just enough standard base64 to read key ids, so that no base64 crate is needed.
mod base64_lite {
    pub(super) fn decode(text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let mut acc: u32 = 0;
        let mut bits = 0;
        for c in text.trim_end_matches('=').bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_with_minisign_verify_with_minisign_verify() {
        let (sk, pk) = generate_keypair().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, sk).unwrap();
        let secret = SecretKey::from_file(&path, "").unwrap();
        let sig = secret.sign(b"package", "a", "1.0.0").unwrap();
        let ring = KeyRing::from_texts(&[pk.as_str()]).unwrap();
        let ok = ring.verify(b"package", &sig, "a.tar.gz").unwrap();
        assert_eq!(ok.key, secret.id());
        ok.check_names("a", "1.0.0", "a.tar.gz").unwrap();
        assert!(ok.check_names("a", "0.9.0", "a.tar.gz").is_err());
        let err = ring.verify(b"packagE", &sig, "a.tar.gz").unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        let other = KeyRing::from_texts(&[generate_keypair().unwrap().1]).unwrap();
        let err = other.verify(b"package", &sig, "a.tar.gz").unwrap_err();
        assert!(
            err.to_string().contains(&format!("key {}", secret.id())),
            "{err}"
        );
    }
}
