//! Plugins on the stdio transport: Python scripts with no dependencies.

use plugboard_core::{CallError, PluginState};

use crate::support::{within, Fixture};

/// The complete plugin of docs/protocol.md, plus storage through `host_call`.
const UPPER: &str = r#"#!/usr/bin/env python3
import json, sys

def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()

ids = 0
def host(method, args):
    global ids
    ids += 1
    send({"type": "host_call", "id": ids, "method": method, "args": args})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("type") == "host_result" and msg["id"] == ids:
            return msg
    raise EOFError

for line in sys.stdin:
    if not line.strip():
        continue
    msg = json.loads(line)
    if msg["type"] == "hello":
        send({"type": "ready", "protocol_version": 1, "methods": ["upper", "count"]})
        print("[INFO] upper is ready", file=sys.stderr, flush=True)
    elif msg["type"] == "call" and msg["method"] == "upper":
        text = (msg.get("payload_json") or {}).get("text", "")
        send({"type": "result", "id": msg["id"], "payload_json": {"text": text.upper()}})
    elif msg["type"] == "call" and msg["method"] == "count":
        got = host("storage.get", {"key": "count"})
        if "error" in got:
            send({"type": "result", "id": msg["id"], "error": got["error"], "error_code": got.get("error_code", "failed")})
            continue
        n = got["result"].get("value_json", 0) + 1
        host("storage.put", {"key": "count", "value_json": n})
        send({"type": "log", "level": "warn", "message": "counted", "fields": {"n": n}})
        send({"type": "result", "id": msg["id"], "payload_json": n})
    elif msg["type"] == "call":
        send({"type": "result", "id": msg["id"], "error": "no method " + msg["method"], "error_code": "unknown_method"})
    elif msg["type"] == "stop":
        break
"#;

fn python_missing() -> bool {
    plugboard_test_support::tool_missing("python3", "apt-get install python3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_script_is_a_plugin() {
    if python_missing() {
        return;
    }
    let f = Fixture::new();
    f.script(
        "upper",
        UPPER,
        "  protocol: stdio\n",
        "permissions:\n  storage: true\n",
    );
    let host = f.start().await;
    assert_eq!(
        host.state("upper"),
        Some(PluginState::Active),
        "{:?}",
        host.status("upper")
    );
    let reply = host
        .call("upper", "upper", br#"{"text":"hello"}"#)
        .await
        .unwrap();
    assert_eq!(reply, br#"{"text":"HELLO"}"#);
    assert_eq!(host.call("upper", "count", b"").await.unwrap(), b"1");
    assert_eq!(host.call("upper", "count", b"").await.unwrap(), b"2");
    match host.call("upper", "lower", b"").await.unwrap_err() {
        CallError::UnknownMethod { method, .. } => assert_eq!(method, "lower"),
        other => panic!("unexpected {other:?}"),
    }
    within(30, host.stop()).await;
    let log = host.read_log("upper").unwrap();
    assert!(log.contains("upper is ready"), "{log}");
    assert!(log.contains("counted"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_never_answers_hello_fails_with_the_timeout() {
    if python_missing() {
        return;
    }
    let f = Fixture::new();
    f.script(
        "mute",
        "#!/usr/bin/env python3\nimport sys, time\nprint('thinking', file=sys.stderr, flush=True)\ntime.sleep(600)\n",
        "  protocol: stdio\n  start_timeout: 2s\n  restart: {policy: never}\n",
        "",
    );
    let host = f.start().await;
    let reason = host.status("mute").unwrap().reason.unwrap_or_default();
    assert!(reason.contains("did not answer `hello`"), "{reason}");
    assert!(reason.contains("thinking"), "{reason}");
    host.stop().await;
}

/// A stdio plugin that dies in a call: the call gets a crash error with its last words, and the
/// plugin is restarted (hello again) and answers from a new process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_plugin_that_dies_is_restarted() {
    if python_missing() {
        return;
    }
    let script = r#"#!/usr/bin/env python3
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "hello":
        print(json.dumps({"type": "ready", "protocol_version": 1}), flush=True)
    elif m["type"] == "call" and m["method"] == "die":
        print("[ERROR] dying on request", file=sys.stderr, flush=True)
        os._exit(7)
    elif m["type"] == "call":
        print(json.dumps({"type": "result", "id": m["id"], "payload_json": os.getpid()}), flush=True)
"#;
    let f = Fixture::new();
    f.script(
        "phoenix",
        script,
        "  protocol: stdio\n  restart: {policy: on-failure, max: 3, window: 1m}\n",
        "",
    );
    let host = f.start().await;
    let first = host.call("phoenix", "pid", b"").await.unwrap();
    match within(10, host.call("phoenix", "die", b""))
        .await
        .unwrap_err()
    {
        CallError::Crashed { message, .. } => {
            assert!(message.contains("exited with status 7"), "{message}");
            assert!(message.contains("dying on request"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let mut again = None;
    for _ in 0..100 {
        if let Ok(pid) = host.call("phoenix", "pid", b"").await {
            again = Some(pid);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let again = again.expect("the plugin came back");
    assert_ne!(again, first);
    assert_eq!(host.state("phoenix"), Some(PluginState::Active));
    host.stop().await;
}
