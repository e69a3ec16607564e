//! The word counter's logic, free of any runtime: the native plugin in `lib.rs` exports it,
//! and `plugboard-native`'s conformance test runs the same extension-point tests against it
//! compiled as a builtin plugin and as this native library.

/// The storage key of the running total.
pub const TOTAL_KEY: &[u8] = b"total";

/// The number of words in `text`: runs of characters between Unicode white space.
pub fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The running total after adding `words` to the stored total (a decimal string, if any).
pub fn add_to_total(stored: Option<&[u8]>, words: u64) -> u64 {
    let previous = stored
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    previous.saturating_add(words)
}

/// The result of `count`, as JSON.
pub fn report(words: u64, total: u64) -> String {
    format!("{{\"words\":{words},\"total\":{total}}}")
}

/// `text` as a JSON string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
