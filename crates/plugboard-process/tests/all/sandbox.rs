//! The OS sandbox (`ProcessRuntime::with_os_sandbox`, plugboard-sandbox): a plugin's process
//! reads what its permissions grant and nothing else; `process.sandbox: off` lifts it.

use std::sync::Arc;

use plugboard_core::PluginState;
use plugboard_process::ProcessRuntime;

use crate::support::{within, Fixture};

/// The probe, confined, reads a file under a granted path and is denied one outside; the same
/// probe with `sandbox: off` reads both, and its log says the sandbox is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_plugin_reads_only_what_it_is_granted() {
    let support = ProcessRuntime::sandbox_support();
    if !support.enforces_filesystem() {
        // Without Landlock nothing can be denied; CI must run on a kernel that has it.
        assert!(
            std::env::var_os("CI").is_none(),
            "this kernel enforces no Landlock ({support}): the sandbox test cannot run"
        );
        eprintln!("skipped: this kernel enforces no Landlock ({support})");
        return;
    }
    let f = Fixture::new();
    let perms = "permissions:\n  fs:\n    read: [data]\n";
    f.probe("confined", "  restart: {policy: never}\n", perms);
    f.probe("free", "  sandbox: off\n", perms);
    for id in ["confined", "free"] {
        std::fs::create_dir_all(f.plugin_dir(id).join("data")).unwrap();
        std::fs::write(f.plugin_dir(id).join("data/granted.txt"), "granted").unwrap();
    }
    let outside = f.dir.path().join("secret.txt");
    std::fs::write(&outside, "secret").unwrap();

    let host = f
        .bare_builder()
        .runtime(Arc::new(ProcessRuntime::new().with_os_sandbox()))
        .build()
        .unwrap();
    within(60, host.start()).await.unwrap();
    assert_eq!(host.state("confined"), Some(PluginState::Active));
    assert_eq!(host.state("free"), Some(PluginState::Active));

    let granted = f.plugin_dir("confined").join("data/granted.txt");
    let reply = host
        .call("confined", "read", granted.to_string_lossy().as_bytes())
        .await
        .unwrap();
    assert_eq!(reply, b"granted");
    let denied = host
        .call("confined", "read", outside.to_string_lossy().as_bytes())
        .await
        .unwrap_err()
        .to_string();
    assert!(denied.contains("Permission denied"), "{denied}");
    // The process is still healthy after a denial.
    assert_eq!(host.call("confined", "echo", b"ok").await.unwrap(), b"ok");

    let reply = host
        .call("free", "read", outside.to_string_lossy().as_bytes())
        .await
        .unwrap();
    assert_eq!(reply, b"secret");
    host.stop().await;
    let log = host.read_log("free").unwrap();
    assert!(log.contains("the OS sandbox is off"), "{log}");
    let log = host.read_log("confined").unwrap();
    assert!(!log.contains("the OS sandbox is off"), "{log}");
}
