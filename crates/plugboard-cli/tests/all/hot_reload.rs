//! `plugboard run` watching its plugin directory: changes applied live, and `list`, `info` and
//! `call` answered by the running host through its control socket.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::{json, Value};

use crate::support::{command, fault, fault_host, status, Running};

/// Reads a child's stderr line by line on a thread.
pub(crate) fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a stderr line that satisfies `want`, returning it.
#[track_caller]
pub(crate) fn wait_for(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if want(&line) {
                    return line;
                }
            }
            Err(e) => panic!("no such line ({e}); stderr so far:\n{}", seen.join("\n")),
        }
    }
}

fn list_json(tree: &PluginTree) -> (Vec<Value>, String) {
    let out = fault(tree, &["list", "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    (serde_json::from_slice(&out.stdout).unwrap(), out.stderr)
}

#[test]
fn a_serving_host_reloads_changed_plugins_and_answers_list_info_and_call() {
    let tree = PluginTree::new()
        .external(M::builtin("base", "1.0.0"))
        .external(M::builtin("app", "1.0.0").requires("base", "^1"))
        .probe("base", json!({}))
        .probe("app", json!({}));
    tree.write();
    let mut cmd = command(&fault_host(), tree.path());
    cmd.arg("run").stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("fault_host runs");
    let stderr = lines_of(child.stderr.take().expect("stderr is piped"));
    let mut running = Running::new(child);
    let mut seen = Vec::new();
    let watching = wait_for(&stderr, &mut seen, |l| l.starts_with("watching"));
    assert!(
        watching.contains("external") && watching.contains("file-system events"),
        "{watching}"
    );
    wait_for(&stderr, &mut seen, |l| l.starts_with("serving"));

    // `list` is answered by the running host, with live states.
    let (statuses, note) = list_json(&tree);
    assert!(note.contains("answered by the running host"), "{note}");
    assert_eq!(status(&statuses, "base")["state"], "active");
    assert_eq!(status(&statuses, "base")["version"], "1.0.0");

    // A new version dropped in is picked up, logged with both versions, and serves.
    let manifest = tree.path().join("external/base/plugin.yaml");
    std::fs::write(&manifest, M::builtin("base", "1.1.0").yaml()).unwrap();
    let line = wait_for(&stderr, &mut seen, |l| l.starts_with("reload:"));
    assert!(line.contains("updated base 1.0.0 -> 1.1.0"), "{line}");
    let (statuses, _) = list_json(&tree);
    assert_eq!(status(&statuses, "base")["version"], "1.1.0");
    assert_eq!(status(&statuses, "base")["state"], "active");
    assert_eq!(status(&statuses, "app")["state"], "active");

    let out = fault(&tree, &["call", "base", "identity"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let identity: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(identity["version"], "1.1.0");
    assert!(
        out.stderr.contains("answered by the running host"),
        "{}",
        out.stderr
    );

    let out = fault(&tree, &["info", "base", "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["version"], "1.1.0");
    assert_eq!(info["dependents"][0]["id"], "app");

    // Errors keep their exit codes through the socket.
    let out = fault(&tree, &["call", "nobody", "identity"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("no plugin \"nobody\""),
        "{}",
        out.stderr
    );

    // A version that breaks `app`'s requirement is refused, and 1.1.0 keeps serving.
    std::fs::write(&manifest, M::builtin("base", "2.0.0").yaml()).unwrap();
    let line = wait_for(&stderr, &mut seen, |l| l.starts_with("reload:"));
    assert!(
        line.contains("would break running plugins: app requires base ^1"),
        "{line}"
    );
    assert!(line.contains("base 1.1.0 keeps serving"), "{line}");

    // A second host on the same state directory is refused before it starts anything.
    let out = fault(&tree, &["run"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("already running"), "{}", out.stderr);

    let pid = running.child.id().to_string();
    let sent = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .expect("sh runs");
    assert!(sent.success());
    let code = running
        .wait_until(Instant::now() + Duration::from_secs(10))
        .expect("`run` stops within 10s of SIGTERM");
    assert_eq!(code, Some(0));
    assert!(
        !tree.path().join(".plugboard/control.sock").exists(),
        "the control socket is removed on exit"
    );
    // With no host running, `list` builds its own again.
    let (_, note) = list_json(&tree);
    assert!(!note.contains("running host"), "{note}");
}
