//! Keeps `docs/protocol.md` honest: its examples must parse, and the error messages it quotes
//! must be the ones the code prints.

use crate::frame::{Direction, StdioMessage};
use crate::handshake::{negotiate, parse_log_line, Handshake, LogLevel, ReattachConfig};

const SPEC: &str = include_str!("../../../docs/protocol.md");

/// The lines of the fenced block that follows the first line containing `marker`.
fn block_after(marker: &str) -> Vec<&'static str> {
    let start = SPEC
        .find(marker)
        .unwrap_or_else(|| panic!("docs/protocol.md no longer contains {marker:?}"));
    SPEC[start..]
        .lines()
        .skip_while(|line| !line.starts_with("```"))
        .skip(1)
        .take_while(|line| !line.starts_with("```"))
        .collect()
}

#[test]
fn the_example_exchange_is_valid_and_flows_the_right_way() {
    let lines = block_after("### An example exchange");
    assert!(lines.len() >= 10, "{lines:?}");
    for line in lines {
        let (direction, json) = if let Some(json) = line.strip_prefix("→ ") {
            (Direction::HostToPlugin, json)
        } else if let Some(json) = line.strip_prefix("← ") {
            (Direction::PluginToHost, json)
        } else {
            panic!("an exchange line starts with neither arrow: {line}");
        };
        let msg = StdioMessage::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(msg.direction(), direction, "{line}");
    }
}

#[test]
fn what_the_python_example_prints_is_valid() {
    // Captured from the documented plugin (Python's json.dumps: spaces, \u escapes).
    for line in [
        r#"{"type": "ready", "protocol_version": 1, "methods": ["upper"]}"#,
        r#"{"type": "result", "id": 1, "payload_json": {"text": "H\u00c9LLO"}}"#,
        r#"{"type": "result", "id": 3, "error": "no method lower", "error_code": "unknown_method"}"#,
        r#"{"type": "host_call", "id": 2, "method": "storage.put", "args": {"key": "count", "value_json": 5}}"#,
    ] {
        let msg = StdioMessage::from_json(line.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(msg.direction(), Direction::PluginToHost);
    }
    assert_eq!(
        parse_log_line("[INFO] upper is ready\n").level,
        LogLevel::Info
    );
}

#[test]
fn the_quoted_error_messages_are_the_real_ones() {
    let banner = Handshake::parse("Starting plugin v1.2...").unwrap_err();
    let net_rpc = Handshake::parse("1|1|unix|/tmp/plugin42|netrpc|").unwrap_err();
    let version = negotiate(&[3, 4], 1).unwrap_err();
    for error in [banner.to_string(), net_rpc.to_string(), version.to_string()] {
        assert!(
            SPEC.lines().any(|line| line == error),
            "docs/protocol.md should quote this message verbatim:\n{error}"
        );
    }
}

#[test]
fn the_handshake_reattach_and_log_examples_parse() {
    let captured = block_after("A real one, captured");
    assert_eq!(
        Handshake::parse(captured[0]).unwrap().to_string(),
        captured[0]
    );
    let reattach = block_after("### Reattach");
    assert_eq!(ReattachConfig::parse(reattach[0]).unwrap().pid, 31337);
    let hclog = block_after("writes the JSON form by default");
    let record = parse_log_line(hclog[0]);
    assert_eq!(
        (record.level, record.message.as_str()),
        (LogLevel::Info, "starting")
    );
}
