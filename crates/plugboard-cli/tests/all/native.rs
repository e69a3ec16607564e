//! `plugboard call` of a native plugin under `native: { isolation: process }`: the C greeter
//! (examples/native-c), compiled here with `cc`, runs in `plugboard-native-shim` (built here with
//! cargo, named by `PLUGBOARD_NATIVE_SHIM`) under the CLI's process runtime and its OS sandbox.
//! Under CI=true a missing C compiler fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use plugboard_test_support::PluginTree;

use crate::support::{command, finish, plugboard};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The shim, built into the same directory as plugboard-native's test plugins (a target
/// directory of its own, so the outer cargo's lock is never waited for).
fn shim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace().join("target"))
        .join("native-test-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(workspace())
        .args([
            "build",
            "--quiet",
            "-p",
            "plugboard-native-shim",
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "building plugboard-native-shim failed");
    target.join("debug/plugboard-native-shim")
}

fn isolated_greeter() -> PluginTree {
    let tree = PluginTree::new().raw_file(
        "external/c-greeter/plugin.yaml",
        "id: c-greeter\nversion: 1.0.0\nruntime: native\nentry: libgreeter.so\npermissions:\n  storage: true\nnative:\n  isolation: process\n",
    );
    tree.write();
    let ws = workspace();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(cc)
        .args(["-shared", "-fPIC", "-O2", "-I"])
        .arg(ws.join("sdk/c"))
        .arg("-o")
        .arg(tree.external_dir().join("c-greeter/libgreeter.so"))
        .arg(ws.join("examples/native-c/greeter.c"))
        .status()
        .unwrap();
    assert!(status.success(), "compiling the C greeter failed");
    tree
}

fn call(tree: &PluginTree, shim: Option<&Path>, args: &[&str]) -> crate::support::Output {
    let mut cmd = command(&plugboard(), tree.path());
    match shim {
        Some(shim) => cmd.env("PLUGBOARD_NATIVE_SHIM", shim),
        None => cmd.env("PLUGBOARD_NATIVE_SHIM", tree.path().join("no-shim-here")),
    };
    cmd.arg("call").args(args);
    finish(cmd)
}

#[test]
fn an_isolated_c_plugin_is_called_through_plugboard_call() {
    if plugboard_test_support::tool_missing("cc", "apt-get install gcc") {
        return;
    }
    let shim = shim();
    let tree = isolated_greeter();
    let out = call(
        &tree,
        Some(&shim),
        &["c-greeter", "greet", "--input", "\"Ada\""],
    );
    out.code(0);
    assert_eq!(out.stdout().trim(), "hello, \"Ada\"!");
    // Storage through the host API, kept by the host across runs (each call is a host).
    for _ in 0..2 {
        call(&tree, Some(&shim), &["c-greeter", "visits"]).code(0);
    }
    let out = call(&tree, Some(&shim), &["c-greeter", "visits", "--json"]);
    out.code(0);
    let json = out.json();
    assert_eq!(json["ok"], true, "{json}");
    assert!(json["output"].to_string().contains('3'), "{json}");

    // Without the shim: a clear error that says how to fix it.
    let out = call(&tree, None, &["c-greeter", "greet", "--input", "\"Ada\""]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("PLUGBOARD_NATIVE_SHIM") && out.stderr.contains("no-shim-here"),
        "{}",
        out.stderr
    );
}
