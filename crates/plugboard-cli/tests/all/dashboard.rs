//! `plugboard run --ui`: the dashboard served by the running host, its URL with the token.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::json;

use crate::hot_reload::{lines_of, wait_for};
use crate::support::{command, fault_host, Running};

/// `GET path` on `addr`; the status code.
fn get(addr: &str, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("the dashboard accepts connections");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Starts `run` with `args`, waits for the dashboard line, and returns the address and token.
fn serve(tree: &PluginTree, args: &[&str]) -> (Running, String, String) {
    let (running, addr, token, _) = serve_seen(tree, args);
    (running, addr, token)
}

/// As [`serve`], with the stderr lines seen until the host serves.
fn serve_seen(tree: &PluginTree, args: &[&str]) -> (Running, String, String, Vec<String>) {
    let mut cmd = command(&fault_host(), tree.path());
    cmd.arg("run")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("fault_host runs");
    let stderr = lines_of(child.stderr.take().expect("stderr is piped"));
    let running = Running::new(child);
    let mut seen = Vec::new();
    let line = wait_for(&stderr, &mut seen, |l| l.starts_with("dashboard: "));
    let url = line.trim_start_matches("dashboard: ");
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, query) = rest
        .split_once("/?token=")
        .expect("the URL carries the token");
    assert_eq!(query.len(), 64, "{url}");
    wait_for(&stderr, &mut seen, |l| l.starts_with("serving"));
    (running, addr.to_owned(), query.to_owned(), seen)
}

#[test]
fn run_ui_serves_the_dashboard_with_a_token() {
    let tree = PluginTree::new()
        .external(M::builtin("app", "1.0.0"))
        .probe("app", json!({}));
    tree.write();
    let (_running, addr, token) = serve(&tree, &["--ui", "127.0.0.1:0"]);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(get(&addr, "/"), 401, "no token, no dashboard");
    assert_eq!(get(&addr, "/api/plugins"), 401);
    assert_eq!(
        get(&addr, &format!("/?token={token}")),
        303,
        "the token opens a session"
    );
}

#[test]
fn the_config_ui_section_serves_it_too() {
    let tree = PluginTree::new()
        .external(M::builtin("app", "1.0.0"))
        .probe("app", json!({}))
        .config_extra("ui:\n  listen: 127.0.0.1:0\n");
    tree.write();
    let (_running, addr, token) = serve(&tree, &[]);
    assert_eq!(get(&addr, &format!("/?token={token}")), 303);
}

#[test]
fn run_ui_refuses_a_bad_or_remote_address() {
    let tree = PluginTree::new()
        .external(M::builtin("app", "1.0.0"))
        .probe("app", json!({}));
    tree.write();
    for (arg, says) in [("nonsense", "ip:port"), ("0.0.0.0:0", "--ui-allow-remote")] {
        let mut cmd = command(&fault_host(), tree.path());
        cmd.args(["run", "--ui", arg]);
        let out = crate::support::finish(cmd);
        assert_eq!(out.code, Some(2), "{arg}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{arg}: {}", out.stderr);
    }
}

#[test]
fn with_a_pipeline_the_dashboard_keeps_the_host_serving_after_it() {
    let tree = PluginTree::new()
        .external(M::builtin("app", "1.0.0"))
        .probe("app", json!({}))
        .raw_file("input.jsonl", "\"a\"\n\"b\"\n")
        .config_extra(
            "pipeline:\n  input: input.jsonl\n  steps:\n    - {plugin: app, method: echo}\n",
        );
    tree.write();
    let (mut running, addr, token, seen) = serve_seen(&tree, &["--ui", "127.0.0.1:0"]);
    assert!(
        seen.iter().any(|l| l.starts_with("ID ")),
        "the table goes to stderr: {seen:?}"
    );
    // The pipeline ran, and the host still answers.
    assert_eq!(get(&addr, &format!("/?token={token}")), 303);
    let _ = running.child.kill();
    let _ = running.child.wait();
    let (stdout, _) = running.output();
    assert_eq!(String::from_utf8_lossy(&stdout), "\"a\"\n\"b\"\n");
}
