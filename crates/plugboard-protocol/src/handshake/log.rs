//! Classifying the lines a plugin writes on stderr, as go-plugin's host does.
//!
//! go-plugin plugins log through hclog, whose default for plugins is one JSON object per line
//! on stderr; other programs (and Go's `log` package, and panics) write plain text. The host
//! reads stderr line by line and turns each line into a [`LogRecord`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How severe a plugin's log line is. Shared by go-plugin's stderr lines and the stdio
/// transport's `log` message, where it is written in lower case (`"warn"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Diagnostic detail; also the level of any line that names none.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that did not stop the work.
    Warn,
    /// A failure, including Go's `panic:` and `fatal error:` lines.
    Error,
}

impl LogLevel {
    /// hclog's names for its levels, compared as `hclog.LevelFromString` compares them
    /// (trimmed, case-insensitive). `off` and unknown names give `None`.
    pub fn from_hclog(name: &str) -> Option<LogLevel> {
        match name.trim().to_ascii_lowercase().as_str() {
            "trace" => Some(LogLevel::Trace),
            "debug" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warn" => Some(LogLevel::Warn),
            "error" => Some(LogLevel::Error),
            _ => None,
        }
    }
}

/// One stderr line, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// The line's level.
    pub level: LogLevel,
    /// The message: hclog's `@message`, or the text of a plain line.
    pub message: String,
    /// hclog's other keys (including `@module` and `@caller`), sorted by key; empty for a
    /// plain line.
    pub fields: Vec<(String, Value)>,
    /// hclog's `@timestamp`, as written (`2006-01-02T15:04:05.000000Z07:00` layout).
    pub timestamp: Option<String>,
}

const PREFIXES: [(&str, LogLevel); 5] = [
    ("[TRACE]", LogLevel::Trace),
    ("[DEBUG]", LogLevel::Debug),
    ("[INFO]", LogLevel::Info),
    ("[WARN]", LogLevel::Warn),
    ("[ERROR]", LogLevel::Error),
];

/// Classifies one line of a plugin's stderr.
///
/// The rules are go-plugin's:
/// - A JSON object with a recognised `@level` is a structured hclog record: `@message` is the
///   message, `@timestamp` the timestamp, every other key a field. The record is read only when
///   `@message` and `@level` are strings and `@timestamp`, when present, is a timestamp string;
///   otherwise the line is treated as plain text (go-plugin would fail or print it verbatim).
/// - A JSON object with no level, or an unknown one (hclog's `off`), is kept verbatim at debug.
/// - A plain line starting `[TRACE]`, `[DEBUG]`, `[INFO]`, `[WARN]` or `[ERROR]` takes that
///   level. Plugboard drops the prefix from the message, since the level is carried beside it.
/// - A line starting `panic:` or `fatal error:` (a Go crash) is an error.
/// - Anything else is debug, verbatim.
///
/// A trailing `\n` or `\r\n` is removed first. Never fails: every line is some record.
pub fn parse_log_line(line: &str) -> LogRecord {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim_start().starts_with('{') {
        if let Some(record) = parse_hclog_json(line) {
            return record;
        }
    }
    for (prefix, level) in PREFIXES {
        if let Some(rest) = line.strip_prefix(prefix) {
            return plain(level, rest.trim_start());
        }
    }
    if line.starts_with("panic:") || line.starts_with("fatal error:") {
        return plain(LogLevel::Error, line);
    }
    plain(LogLevel::Debug, line)
}

fn plain(level: LogLevel, message: &str) -> LogRecord {
    LogRecord {
        level,
        message: message.to_owned(),
        fields: Vec::new(),
        timestamp: None,
    }
}

fn parse_hclog_json(line: &str) -> Option<LogRecord> {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    let message = match object.remove("@message") {
        None => String::new(),
        Some(Value::String(message)) => message,
        Some(_) => return None,
    };
    let level = match object.remove("@level") {
        None => None,
        Some(Value::String(level)) => LogLevel::from_hclog(&level),
        Some(_) => return None,
    };
    let timestamp = match object.remove("@timestamp") {
        None => None,
        Some(Value::String(ts)) if is_hclog_timestamp(&ts) => Some(ts),
        Some(_) => return None,
    };
    let Some(level) = level else {
        // JSON from something other than hclog: keep it verbatim, as go-plugin does.
        return Some(plain(LogLevel::Debug, line));
    };
    Some(LogRecord {
        level,
        message,
        fields: object.into_iter().collect(),
        timestamp,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`: the shape of hclog's timestamps, checked
/// without a date library. go-plugin drops to plain text on a timestamp it cannot parse.
fn is_hclog_timestamp(ts: &str) -> bool {
    fn digits(s: &[u8]) -> bool {
        !s.is_empty() && s.iter().all(u8::is_ascii_digit)
    }
    let b = ts.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return false;
    }
    let date_time_ok = digits(&b[0..4])
        && b[4] == b'-'
        && digits(&b[5..7])
        && b[7] == b'-'
        && digits(&b[8..10])
        && b[10] == b'T'
        && digits(&b[11..13])
        && b[13] == b':'
        && digits(&b[14..16])
        && b[16] == b':'
        && digits(&b[17..19]);
    if !date_time_ok {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let end = fraction
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return false;
        }
        rest = &fraction[end..];
    }
    match rest {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => digits(&[*h1, *h2, *m1, *m2]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hclog_json_records_keep_fields_and_timestamp() {
        let line = r#"{"@level":"info","@message":"starting","@module":"plugin","@timestamp":"2024-05-01T10:11:12.123456+02:00","port":1234}"#;
        let record = parse_log_line(&format!("{line}\r\n"));
        assert_eq!(record.level, LogLevel::Info);
        assert_eq!(record.message, "starting");
        assert_eq!(
            record.timestamp.as_deref(),
            Some("2024-05-01T10:11:12.123456+02:00")
        );
        assert_eq!(
            record.fields,
            vec![
                ("@module".to_owned(), json!("plugin")),
                ("port".to_owned(), json!(1234))
            ]
        );
    }

    #[test]
    fn every_hclog_level_is_recognised_case_insensitively() {
        for (name, level) in [
            ("trace", LogLevel::Trace),
            ("DEBUG", LogLevel::Debug),
            (" Info ", LogLevel::Info),
            ("warn", LogLevel::Warn),
            ("error", LogLevel::Error),
        ] {
            let line = json!({"@level": name, "@message": "m"}).to_string();
            assert_eq!(parse_log_line(&line).level, level, "{name}");
        }
    }

    #[test]
    fn json_without_a_known_level_is_verbatim_debug() {
        for line in [
            r#"{"msg":"from another logger"}"#,
            r#"{"@level":"off","@message":"x"}"#,
            r#"{"@level":"warning","@message":"x"}"#,
        ] {
            let record = parse_log_line(line);
            assert_eq!(record.level, LogLevel::Debug);
            assert_eq!(record.message, line);
            assert!(record.fields.is_empty());
        }
    }

    #[test]
    fn malformed_hclog_json_falls_back_to_plain_text() {
        for line in [
            r#"{"@level":"error","@message":42}"#,
            r#"{"@level":5,"@message":"x"}"#,
            r#"{"@level":"error","@message":"x","@timestamp":"yesterday"}"#,
            r#"{"@level":"error","@message":"x","@timestamp":12}"#,
            r#"{"@level":"error", broken"#,
            "[1, 2]",
        ] {
            let record = parse_log_line(line);
            assert_eq!(record.level, LogLevel::Debug, "{line}");
            assert_eq!(record.message, line);
        }
    }

    #[test]
    fn bracketed_prefixes_set_the_level_and_are_dropped() {
        let record = parse_log_line("[WARN]  disk almost full\n");
        assert_eq!(record.level, LogLevel::Warn);
        assert_eq!(record.message, "disk almost full");
        assert_eq!(parse_log_line("[TRACE] x").level, LogLevel::Trace);
        assert_eq!(parse_log_line("[DEBUG] x").level, LogLevel::Debug);
        assert_eq!(parse_log_line("[INFO] x").level, LogLevel::Info);
        assert_eq!(parse_log_line("[ERROR] x").level, LogLevel::Error);
        // Prefixes are case-sensitive, as in go-plugin.
        assert_eq!(parse_log_line("[warn] x").level, LogLevel::Debug);
    }

    #[test]
    fn go_crashes_are_errors_and_everything_else_is_debug() {
        let panic = parse_log_line("panic: runtime error: index out of range [3] with length 3");
        assert_eq!(panic.level, LogLevel::Error);
        assert!(panic.message.starts_with("panic: runtime error"));
        assert_eq!(
            parse_log_line("fatal error: all goroutines are asleep - deadlock!").level,
            LogLevel::Error
        );
        let other = parse_log_line("goroutine 1 [running]:");
        assert_eq!(other.level, LogLevel::Debug);
        assert_eq!(other.message, "goroutine 1 [running]:");
        assert_eq!(parse_log_line("").message, "");
    }

    #[test]
    fn timestamp_shapes() {
        assert!(is_hclog_timestamp("2024-05-01T10:11:12.123456Z"));
        assert!(is_hclog_timestamp("2024-05-01T10:11:12Z"));
        assert!(is_hclog_timestamp("2024-05-01T10:11:12.1-07:00"));
        assert!(!is_hclog_timestamp("2024-05-01T10:11:12."));
        assert!(!is_hclog_timestamp("2024-05-01 10:11:12.123Z"));
        assert!(!is_hclog_timestamp("2024-05-01T10:11:12.123+0200"));
        assert!(!is_hclog_timestamp("２024-05-01T10:11:12.123456Z"));
    }
}
