//! Hooks that fail, hang or panic; configurations that do not match their schema; and a
//! serving host stopped by SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugboard_test_support::{ManifestBuilder as M, PluginTree};
use serde_json::json;

use crate::support::{command, fault, fault_host, list, reason, state, Running};

#[test]
fn a_failing_boot_fails_the_plugin_disables_its_dependents_and_spares_the_rest() {
    let tree = PluginTree::new()
        .external(M::builtin("db", "1.0.0"))
        .external(M::builtin("api", "1.0.0").requires("db", "^1"))
        .external(M::builtin("cron", "1.0.0"))
        .probe("db", json!({"fail_boot": "database unreachable"}))
        .probe("api", json!({}))
        .probe("cron", json!({}));
    let out = fault(&tree, &["run", "--once"]);
    out.code(1);
    let text = out.stdout();
    assert_eq!(out.row(&text, "db")[3], "failed");
    assert_eq!(out.row(&text, "api")[3], "disabled");
    assert_eq!(out.row(&text, "cron")[3], "active");
    assert!(
        text.contains("db (failed): boot failed: database unreachable"),
        "{text}"
    );
    assert!(
        text.contains(
            "api (disabled): requires db, which is failed: boot failed: database unreachable"
        ),
        "{text}"
    );
    assert!(
        out.stderr.contains("1 plugin(s) failed to start: db"),
        "{}",
        out.stderr
    );

    let journal = tree.journal();
    assert_eq!(journal.events_of("db"), ["boot"], "{journal}");
    assert!(journal.events_of("api").is_empty(), "{journal}");
    assert_eq!(
        journal.events_of("cron"),
        ["boot", "start", "stop"],
        "{journal}"
    );
}

#[test]
fn a_hanging_start_times_out_and_the_command_finishes_promptly() {
    let tree = PluginTree::new()
        .external(M::builtin("stuck", "1.0.0"))
        .external(M::builtin("after-stuck", "1.0.0").requires("stuck", "^1"))
        .external(M::builtin("quick", "1.0.0"))
        .probe("stuck", json!({"hang_start": true}))
        .hook_timeout("500ms");
    let out = fault(&tree, &["run", "--once"]);
    out.code(1);
    assert!(
        out.elapsed < Duration::from_secs(5),
        "a 500ms hook timeout took {:?}",
        out.elapsed
    );
    let text = out.stdout();
    assert_eq!(out.row(&text, "stuck")[3], "failed");
    assert!(
        text.contains("stuck (failed): start timed out after 500ms"),
        "{text}"
    );
    assert_eq!(out.row(&text, "after-stuck")[3], "disabled");
    assert_eq!(out.row(&text, "quick")[3], "active");
}

#[test]
fn a_panicking_boot_is_a_failure_not_a_crash() {
    let tree = PluginTree::new()
        .external(M::builtin("fragile", "1.0.0"))
        .external(M::builtin("sturdy", "1.0.0"))
        .plugin_config("fragile", json!({"panic_boot": true}));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "fragile"), "failed");
    let why = reason(&statuses, "fragile");
    assert!(
        why.contains("boot failed: panicked: probe fragile: panic_boot"),
        "{why}"
    );
    assert_eq!(state(&statuses, "sturdy"), "active");
}

fn level_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "level": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
            "record": {"type": "boolean"},
            "boot_sets": {"type": "object"},
        },
        "additionalProperties": false,
    })
}

#[test]
fn an_invalid_config_value_fails_the_plugin_with_its_json_pointer() {
    let tree = PluginTree::new()
        .external(M::builtin("strict", "1.0.0").schema(level_schema()))
        .external(M::builtin("lenient", "1.0.0").schema(level_schema()))
        .plugin_config("strict", json!({"level": 99}))
        .plugin("lenient");
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "strict"), "failed");
    let why = reason(&statuses, "strict");
    assert!(why.contains("invalid configuration"), "{why}");
    assert!(
        why.contains("/level: 99 is greater than the maximum of 5"),
        "{why}"
    );
    assert_eq!(state(&statuses, "lenient"), "active");

    let out = fault(&tree, &["run", "--once"]);
    out.code(1);
    assert!(
        out.stdout()
            .contains("/level: 99 is greater than the maximum of 5"),
        "{}",
        out.stdout()
    );

    // The defaults of the schema are what the plugin sees.
    let out = fault(&tree, &["call", "lenient", "config"]);
    out.code(0);
    assert_eq!(out.json(), json!({"level": 3}));
}

#[test]
fn a_config_that_boot_makes_invalid_fails_the_plugin() {
    let tree = PluginTree::new()
        .external(M::builtin("meddler", "1.0.0").schema(level_schema()))
        .plugin_config("meddler", json!({"boot_sets": {"level": "high"}}));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "meddler"), "failed");
    let why = reason(&statuses, "meddler");
    assert!(why.contains("boot set an invalid configuration"), "{why}");
    assert!(why.contains("/level"), "{why}");
}

/// Reads a child's stderr line by line on a thread, so that the test can wait for one.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
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

#[test]
fn a_serving_host_stops_gracefully_on_sigterm() {
    let tree = PluginTree::new()
        .external(M::builtin("base", "1.0.0"))
        .external(M::builtin("app", "1.0.0").requires("base", "^1"))
        .probe("base", json!({"record": true}))
        .probe("app", json!({"record": true}))
        .log_level("DEBUG");
    tree.write();
    let mut cmd = command(&fault_host(), tree.path());
    cmd.arg("run").stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("fault_host runs");
    let stderr = lines_of(child.stderr.take().expect("stderr is piped"));
    let mut running = Running::new(child);

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("serving")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match stderr.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!(
                "`run` did not start serving ({e}); stderr so far:\n{}",
                seen.join("\n")
            ),
        }
    }

    let pid = running.child.id().to_string();
    // `kill` through the shell, which has it built in on every Unix.
    let sent = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .expect("sh runs");
    assert!(sent.success(), "kill -TERM {pid} failed");

    let code = running
        .wait_until(Instant::now() + Duration::from_secs(10))
        .expect("`run` stops within 10s of SIGTERM");
    let (stdout, _) = running.output();
    // The rest of stderr, up to its end (the reader may still be behind the exit).
    let mut rest = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while let Ok(line) = stderr.recv_timeout(until.saturating_duration_since(Instant::now())) {
        rest.push(line);
    }
    assert_eq!(
        code,
        Some(0),
        "stderr:\n{}\n{}",
        seen.join("\n"),
        rest.join("\n")
    );
    assert!(
        rest.iter().any(|l| l == "stopping"),
        "stderr after SIGTERM: {rest:?}"
    );
    let table = String::from_utf8_lossy(&stdout);
    assert!(table.contains("active"), "{table}");

    for (id, version) in [("base", "1.0.0"), ("app", "1.0.0")] {
        let log = tree.read_log(id);
        let tag = format!("{id}@{version}");
        let order = [
            "state resolved -> loaded",
            "probe boot",
            "state loaded -> booted",
            "probe start",
            "state booted -> active",
            "state active -> stopping",
            "probe stop",
            "state stopping -> stopped",
            "state stopped -> unloaded",
        ];
        let lines: Vec<&str> = log.lines().collect();
        let mut next = 0;
        for record in order {
            let needle = format!("{tag} {record}");
            let at = lines[next..]
                .iter()
                .position(|l| l.contains(&needle))
                .unwrap_or_else(|| {
                    panic!("{id}'s log has no `{needle}` after line {next}:\n{log}")
                });
            next += at + 1;
        }
    }
    tree.journal()
        .assert_order(&[("app", "stop"), ("base", "stop")]);
}

#[test]
fn a_hanging_stop_is_given_up_on_after_the_hook_timeout() {
    let tree = PluginTree::new()
        .external(M::builtin("clingy", "1.0.0"))
        .external(M::builtin("polite", "1.0.0"))
        .probe("clingy", json!({"hang_stop": true}))
        .probe("polite", json!({}))
        .hook_timeout("300ms")
        .log_level("DEBUG");
    let out = fault(&tree, &["run", "--once"]);
    assert!(
        out.elapsed < Duration::from_secs(5),
        "took {:?}",
        out.elapsed
    );
    assert_eq!(
        out.code,
        Some(1),
        "a failed stop is a runtime failure: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("did not stop cleanly: clingy: stop timed out after 300ms"),
        "{}",
        out.stderr
    );
    let log = tree.read_log("clingy");
    assert!(
        log.contains("state stopping -> failed: stop timed out after 300ms"),
        "{log}"
    );
    assert!(log.contains("state failed -> unloaded"), "{log}");
    assert_eq!(
        tree.journal().events_of("polite"),
        ["boot", "start", "stop"]
    );
}

#[test]
fn a_lazy_dependency_is_started_by_its_dependent() {
    let tree = PluginTree::new()
        .external(M::builtin("lazy-base", "1.0.0").lazy())
        .external(M::builtin("eager-user", "1.0.0").requires("lazy-base", "^1"))
        .external(M::builtin("lazy-alone", "1.0.0").lazy())
        .probe("lazy-base", json!({}))
        .probe("eager-user", json!({}))
        .probe("lazy-alone", json!({}));
    let statuses = list(&tree, true);
    assert_eq!(state(&statuses, "lazy-base"), "active");
    assert_eq!(state(&statuses, "eager-user"), "active");
    assert_eq!(state(&statuses, "lazy-alone"), "resolved");
    let journal = tree.journal();
    journal.assert_order(&[("lazy-base", "start"), ("eager-user", "boot")]);
    assert!(journal.events_of("lazy-alone").is_empty(), "{journal}");
}
