//! Standard-alphabet base64 (RFC 4648 section 4), the only flavour either protocol uses.
//!
//! Hand-written rather than a dependency because both uses are small and fixed: go-plugin's
//! handshake carries the plugin's certificate as unpadded standard base64 (Go's
//! `base64.RawStdEncoding`), and stdio payloads travel as padded standard base64 (what Python's
//! `base64.b64encode` writes and `b64decode` requires). The decoder accepts both forms.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Whether [`encode`] writes trailing `=` padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// Pad to a multiple of four characters (Python, most tools).
    Padded,
    /// No padding (Go's `RawStdEncoding`, go-plugin's handshake).
    Unpadded,
}

/// Encodes `bytes` as standard base64.
pub(crate) fn encode(bytes: &[u8], padding: Padding) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..4 {
            if i < symbols {
                let index = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else if padding == Padding::Padded {
                out.push('=');
            }
        }
    }
    out
}

/// Why a base64 text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A character outside the standard alphabet (or `=` before the end).
    InvalidCharacter {
        /// Its byte offset in the text.
        position: usize,
        /// The character.
        character: char,
    },
    /// A length no base64 text can have (one symbol left over), or wrong padding.
    InvalidLength,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::InvalidCharacter {
                position,
                character,
            } => write!(
                f,
                "character {character:?} at offset {position} is not in the standard base64 \
                 alphabet (A-Z a-z 0-9 + /)"
            ),
            DecodeError::InvalidLength => f.write_str(
                "the text has a length or padding that no base64 encoding produces \
                 (it may have been cut short)",
            ),
        }
    }
}

fn symbol_value(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes standard base64, padded or not. Bits left over after the last full byte are ignored,
/// as Go's and Python's decoders ignore them.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = text.as_bytes();
    let unpadded = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="));
    // Padding, when present, must complete the last group of four.
    let body = match (unpadded, bytes.len() % 4) {
        (Some(body), 0) => body,
        (Some(_), _) => return Err(DecodeError::InvalidLength),
        (None, _) => bytes,
    };
    if body.len() % 4 == 1 {
        return Err(DecodeError::InvalidLength);
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for (chunk_index, chunk) in body.chunks(4).enumerate() {
        let mut n = 0u32;
        for (i, &byte) in chunk.iter().enumerate() {
            let value = symbol_value(byte).ok_or_else(|| {
                let position = chunk_index * 4 + i;
                DecodeError::InvalidCharacter {
                    position,
                    // The text is a `&str`, so a non-ASCII byte starts a character here or
                    // earlier; report the character that contains this byte.
                    character: text
                        .get(position..)
                        .and_then(|rest| rest.chars().next())
                        .unwrap_or(char::REPLACEMENT_CHARACTER),
                }
            })?;
            n |= value << (18 - 6 * i);
        }
        let produced = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..=produced]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(encode(plain.as_bytes(), Padding::Padded), encoded);
            let raw = encoded.trim_end_matches('=');
            assert_eq!(encode(plain.as_bytes(), Padding::Unpadded), raw);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(decode(raw).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn every_symbol_decodes() {
        let all = encode(&(0u8..=255).collect::<Vec<_>>(), Padding::Padded);
        assert!(all.contains('+') && all.contains('/'));
        assert_eq!(decode(&all).unwrap(), (0u8..=255).collect::<Vec<_>>());
    }

    #[test]
    fn malformed_text_is_refused() {
        assert_eq!(decode("Zg="), Err(DecodeError::InvalidLength));
        assert_eq!(decode("Z"), Err(DecodeError::InvalidLength));
        assert_eq!(decode("Zm9vY"), Err(DecodeError::InvalidLength));
        assert!(decode("Zm9v====").is_err());
        assert_eq!(
            decode("Zm-v"),
            Err(DecodeError::InvalidCharacter {
                position: 2,
                character: '-'
            })
        );
        assert_eq!(
            decode("Zg=a"),
            Err(DecodeError::InvalidCharacter {
                position: 2,
                character: '='
            })
        );
        assert!(matches!(
            decode("Zé"),
            Err(DecodeError::InvalidCharacter {
                character: 'é', ..
            })
        ));
        assert!(decode("Zm 9").is_err());
        assert!(decode("Zm9v\n").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            for padding in [Padding::Padded, Padding::Unpadded] {
                prop_assert_eq!(decode(&encode(&bytes, padding)).unwrap(), bytes.clone());
            }
        }

        #[test]
        fn never_panics(text in "\\PC{0,64}") {
            let _ = decode(&text);
        }
    }
}
