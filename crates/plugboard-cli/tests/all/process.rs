//! `plugboard` with process plugins: a Python plugin on grpcio (sdk/python's example) is
//! started and called through Plugboard's service, and through `call --proto` with JSON.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use plugboard_test_support::PluginTree;

use crate::support::{plugboard, run};

fn workspace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Whether python3 with grpcio is missing (a failure under CI).
fn grpcio_missing() -> bool {
    if plugboard_test_support::tool_missing("python3", "apt-get install python3") {
        return true;
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", "import grpc, grpc_health"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "python3 lacks grpcio; `pip install grpcio grpcio-health-checking` (scripts/test does)"
    );
    !ok
}

fn greeter_tree() -> PluginTree {
    let sdk = workspace().join("sdk/python");
    let tree = PluginTree::new()
        .raw_file(
            "external/greeter/plugin.yaml",
            format!(
                "id: greeter\nversion: 0.1.0\nruntime: process\nentry: greeter.py\nprocess:\n  env: {{PYTHONPATH: '{}'}}\n",
                sdk.display()
            ),
        )
        .raw_file(
            "external/greeter/greeter.py",
            std::fs::read(sdk.join("examples/greeter.py")).unwrap(),
        );
    let script = tree.external_dir().join("greeter/greeter.py");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    tree.write();
    tree
}

#[test]
fn a_python_process_plugin_is_called_by_method_and_by_proto() {
    if grpcio_missing() {
        return;
    }
    let tree = greeter_tree();
    let out = run(
        &plugboard(),
        tree.path(),
        &["call", "greeter", "greet", "--input", "\"Ada\""],
    );
    out.code(0);
    assert_eq!(out.stdout(), "\"hello, Ada\"");

    let proto = workspace().join("proto");
    let plugin_proto = proto.join("plugboard/v1/plugin.proto");
    // "IkFkYSI=" is base64 of "\"Ada\"": protobuf's JSON mapping writes bytes in base64.
    let out = run(
        &plugboard(),
        tree.path(),
        &[
            "call",
            "greeter",
            "plugboard.v1.Plugin/Call",
            "--proto",
            plugin_proto.to_str().unwrap(),
            "--import-path",
            proto.to_str().unwrap(),
            "--input",
            r#"{"method":"greet","payload":"IkFkYSI="}"#,
        ],
    );
    out.code(0);
    let answer: serde_json::Value = serde_json::from_str(out.stdout().trim()).unwrap();
    assert_eq!(answer["payload"], "ImhlbGxvLCBBZGEi");

    let health = proto.join("grpc/health/v1/health.proto");
    let out = run(
        &plugboard(),
        tree.path(),
        &[
            "call",
            "greeter",
            "Health/Check",
            "--proto",
            health.to_str().unwrap(),
            "--input",
            r#"{"service":"plugin"}"#,
        ],
    );
    out.code(0);
    assert_eq!(out.stdout().trim(), r#"{"status":"SERVING"}"#);

    let out = run(
        &plugboard(),
        tree.path(),
        &[
            "call",
            "greeter",
            "Health/Nope",
            "--proto",
            health.to_str().unwrap(),
        ],
    );
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("grpc.health.v1.Health/Check"),
        "{}",
        out.stderr
    );
}
