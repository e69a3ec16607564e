//! The `plugboard` binary on the normal path: usage errors, no configuration, and the example
//! application end to end.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::{plugboard, run};

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["frobnicate"],
        &["run", "--frob"],
        &["list", "--json", "extra", "args"],
        &["logs"],
        &["validate"],
    ] {
        let out = run(&plugboard(), dir.path(), args);
        out.code(2);
        assert!(out.stderr.contains("Usage:"), "{args:?}: {}", out.stderr);
    }
    let out = run(&plugboard(), dir.path(), &["--help"]);
    out.code(0);
    assert!(
        out.stdout().contains("Usage: plugboard"),
        "{}",
        out.stdout()
    );
    let out = run(&plugboard(), dir.path(), &["--version"]);
    out.code(0);
    assert!(out.stdout().starts_with("plugboard "), "{}", out.stdout());
}

#[test]
fn run_without_a_config_points_at_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&plugboard(), dir.path(), &["run"]);
    out.code(2);
    assert!(
        out.stderr
            .contains("no config.yaml in the current directory"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("examples/config.yaml"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );

    let out = run(&plugboard(), dir.path(), &["run", "missing.yaml"]);
    out.code(2);
    assert!(
        out.stderr.contains("missing.yaml: no such file"),
        "{}",
        out.stderr
    );

    fs::write(dir.path().join("config.yaml"), "plugins: {not: a list}\n").unwrap();
    let out = run(&plugboard(), dir.path(), &["list"]);
    out.code(2);
    assert!(out.stderr.contains("config.yaml:1:"), "{}", out.stderr);
}

/// Copies the example application, except its state directory and links to build outputs, so
/// that a run starts fresh.
fn copy_examples(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || name == "builtin" {
            continue;
        }
        let target = to.join(&name);
        let kind = entry.file_type().unwrap();
        // The native example links to a build output that may not exist (or may live in
        // another target directory); the builtin example does not need it.
        if kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_examples(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn run_once_on_the_examples_prints_the_table_and_the_pipeline_output() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dir = tempfile::tempdir().unwrap();
    copy_examples(&examples, dir.path());

    let out = run(&plugboard(), dir.path(), &["run", "--once", "config.yaml"]);
    out.code(0);
    // The pipeline writes to stdout, so the table goes to stderr.
    for id in ["base-utils", "text-tools", "metrics"] {
        assert_eq!(out.row(&out.stderr, id)[3], "active", "{}", out.stderr);
    }

    // Each record: white space normalized, upper-cased, counted; the running word total is
    // kept in text-tools' storage, fresh in this copy.
    let input = fs::read_to_string(dir.path().join("input.jsonl")).unwrap();
    let mut total = 0;
    let expected: Vec<Value> = input
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let text: String = serde_json::from_str(l).unwrap();
            let words: Vec<&str> = text.split_whitespace().collect();
            total += words.len();
            serde_json::json!({
                "text": words.join(" ").to_uppercase(),
                "words": words.len(),
                "total_words": total,
            })
        })
        .collect();
    let stdout = out.stdout();
    let got: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(got, expected, "{stdout}");
    assert!(dir.path().join(".plugboard/storage.redb").is_file());
    let log = fs::read_to_string(dir.path().join(".plugboard/logs/text-tools.log")).unwrap();
    assert!(
        log.contains("text-tools@1.2.0 booted with greeting \"howdy\""),
        "{log}"
    );

    // A second run continues the total.
    let again = run(&plugboard(), dir.path(), &["run", "--once", "config.yaml"]);
    again.code(0);
    let last: Value = serde_json::from_str(again.stdout().lines().last().unwrap()).unwrap();
    assert_eq!(last["total_words"], 2 * total);
}
