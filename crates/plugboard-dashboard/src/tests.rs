//! Unit tests of the checks that need no server.

use std::fs;

use crate::api::log_line;
use crate::assets::{inside, Refused};
use crate::auth::{same_secret, suspicious_path, Sessions};
use crate::live::Tail;

#[test]
fn traversal_in_raw_paths_is_spotted() {
    for bad in [
        "/assets/../secret",
        "/assets/%2e%2e/secret",
        "/assets/%2E%2e/x",
        "/assets/.%2e/x",
        "/assets/a%2fb",
        "/assets/a%5Cb",
        "/assets/a\\b",
        "/assets/./app.js",
        "/assets/a%00",
    ] {
        assert!(suspicious_path(bad), "{bad}");
    }
    for good in [
        "/",
        "/assets/app.js",
        "/api/plugins/text-tools",
        "/panel/ab12/files/ui/x.js",
    ] {
        assert!(!suspicious_path(good), "{good}");
    }
}

#[test]
fn panel_files_stay_inside_the_plugin_directory() {
    let root = tempfile::tempdir().expect("temp dir");
    let plugin = root.path().join("plugin");
    fs::create_dir_all(plugin.join("ui")).expect("dirs");
    fs::write(plugin.join("ui/index.js"), "1").expect("file");
    fs::write(root.path().join("secret.txt"), "secret").expect("file");
    assert!(inside(&plugin, "ui/index.js").is_ok());
    for bad in [
        "../secret.txt",
        "ui/../../secret.txt",
        "/etc/passwd",
        "ui\\index.js",
        "",
        "ui//index.js",
        "./ui/index.js",
        "c:/x",
    ] {
        assert_eq!(inside(&plugin, bad), Err(Refused::Path), "{bad}");
    }
    assert_eq!(inside(&plugin, "ui/missing.js"), Err(Refused::Missing));
    assert_eq!(
        inside(&plugin, "ui"),
        Err(Refused::Missing),
        "a directory is not a file"
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.path().join("secret.txt"), plugin.join("ui/link.js"))
            .expect("link");
        assert_eq!(
            inside(&plugin, "ui/link.js"),
            Err(Refused::Path),
            "a link out is refused"
        );
    }
}

#[test]
fn secrets_compare_whole() {
    assert!(same_secret(b"abcdef", b"abcdef"));
    assert!(!same_secret(b"abcdef", b"abcdeg"));
    assert!(!same_secret(b"abc", b"abcdef"));
    assert!(!same_secret(b"", b"a"));
}

#[test]
fn sessions_and_panel_keys_are_bounded_and_random() {
    let mut s = Sessions::default();
    let first = s.open();
    assert_eq!(first.len(), 64);
    assert!(s.get(&first).is_some());
    let csrf = s.get(&first).map(|x| x.csrf.clone()).unwrap_or_default();
    assert_eq!(csrf.len(), 64);
    assert_ne!(csrf, first);
    for _ in 0..100 {
        s.open();
    }
    assert!(s.get(&first).is_none(), "the oldest session is forgotten");
    let key = s.grant_panel("text-tools");
    assert_eq!(s.panel(&key).map(|g| g.plugin.as_str()), Some("text-tools"));
    assert!(s.panel("not-a-key").is_none());
}

#[test]
fn log_lines_carry_their_level() {
    let l = log_line("2026-11-22T01:55:01.123Z WARN slow start ms=12");
    assert_eq!(l.level.as_deref(), Some("warn"));
    let l = log_line("2026-11-22T01:55:01.123Z ERROR boom");
    assert_eq!(l.level.as_deref(), Some("error"));
    assert_eq!(log_line("not a record").level, None);
    assert_eq!(log_line("").level, None);
}

#[test]
fn a_log_tail_starts_near_the_end_and_follows_growth_and_rotation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("p.log");
    let old: String = (0..100).map(|n| format!("old line {n:03}\n")).collect();
    fs::write(&path, &old).expect("write");
    // The last 40 bytes start inside a line, which is dropped.
    let mut tail = Tail::near_end(path.clone(), 40);
    let first = tail.read_new();
    assert_eq!(first, ["old line 097", "old line 098", "old line 099"]);
    assert!(tail.read_new().is_empty(), "nothing new");
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    std::io::Write::write_all(&mut f, b"new line 1\nnew li").expect("append");
    assert_eq!(tail.read_new(), ["new line 1"], "a partial line waits");
    std::io::Write::write_all(&mut f, b"ne 2\n").expect("append");
    assert_eq!(tail.read_new(), ["new line 2"]);
    fs::write(&path, "rotated\n").expect("rotate");
    assert_eq!(
        tail.read_new(),
        ["rotated"],
        "a shorter file is read from its start"
    );
}
