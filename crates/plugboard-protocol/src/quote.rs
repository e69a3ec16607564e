//! Quoting untrusted text inside error messages.
//!
//! Errors quote what a plugin printed so that an operator sees the actual cause (a stray debug
//! print, a banner, a truncated line) without running the plugin by hand. The text comes from
//! an arbitrary program, so it is escaped (no terminal control sequences reach the operator's
//! screen) and cut to a readable length.

/// How many characters of a plugin's output an error message quotes.
pub(crate) const QUOTE_LIMIT: usize = 200;

/// `text` as a double-quoted, escaped string of at most [`QUOTE_LIMIT`] characters, with a note
/// of how much was left out.
pub(crate) fn quote(text: &str) -> String {
    let mut chars = text.char_indices();
    match chars.nth(QUOTE_LIMIT) {
        None => format!("{text:?}"),
        Some((cut, _)) => {
            let omitted = text[cut..].chars().count();
            format!("{:?}... ({omitted} more characters)", &text[..cut])
        }
    }
}

/// How many characters of one field an error message keeps.
pub(crate) const FIELD_LIMIT: usize = 64;

/// `text` cut to [`FIELD_LIMIT`] characters, with a note of how much was left out: for a
/// field of a plugin's output kept in an error (displayed with `{:?}`, which escapes it), so
/// that no message grows with its input.
pub(crate) fn clip(text: &str) -> String {
    clip_to(text, FIELD_LIMIT)
}

/// `text` cut to `limit` characters, with a note of how much was left out.
pub(crate) fn clip_to(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let omitted = text[cut..].chars().count();
            format!("{}... ({omitted} more characters)", &text[..cut])
        }
    }
}

/// serde_json's description of `error` (with its line and column), cut short: it quotes
/// offending strings and identifiers whole, and they come from the plugin.
pub(crate) fn serde_reason(error: &serde_json::Error) -> String {
    clip_to(&error.to_string(), QUOTE_LIMIT)
}

/// Like [`quote`], for bytes that may not be UTF-8 (a stdio frame).
pub(crate) fn quote_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => quote(text),
        Err(_) => {
            let shown = &bytes[..bytes.len().min(QUOTE_LIMIT)];
            let mut out = String::from("b\"");
            out.extend(shown.escape_ascii().map(char::from));
            out.push('"');
            if bytes.len() > shown.len() {
                out.push_str(&format!("... ({} more bytes)", bytes.len() - shown.len()));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_and_escaped() {
        assert_eq!(quote("1|2|unix"), "\"1|2|unix\"");
        assert_eq!(quote("a\u{1b}[2Jb\n"), "\"a\\u{1b}[2Jb\\n\"");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let text = "é".repeat(QUOTE_LIMIT + 5);
        let quoted = quote(&text);
        assert!(quoted.ends_with("... (5 more characters)"), "{quoted}");
        assert_eq!(quoted.matches('é').count(), QUOTE_LIMIT);
        assert_eq!(quote(&"x".repeat(QUOTE_LIMIT)).len(), QUOTE_LIMIT + 2);
    }

    #[test]
    fn fields_are_clipped() {
        assert_eq!(clip("grpc"), "grpc");
        let long = "x".repeat(FIELD_LIMIT + 10);
        assert_eq!(
            clip(&long),
            format!("{}... (10 more characters)", "x".repeat(FIELD_LIMIT))
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_escaped() {
        assert_eq!(quote_bytes(b"{\"a\":1}"), "\"{\\\"a\\\":1}\"");
        assert_eq!(quote_bytes(b"\xff\x00ok"), "b\"\\xff\\x00ok\"");
        let long = vec![0xffu8; QUOTE_LIMIT + 3];
        assert!(quote_bytes(&long).ends_with("... (3 more bytes)"));
    }
}
