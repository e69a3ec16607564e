//! A real go-plugin plugin written in Go (examples/go/kv, built offline from Debian's Go
//! packages by scripts/build-go) loaded by Plugboard: health, its own KV service called with
//! dynamic protobuf, a graceful stop through `GRPCController.Shutdown`; plain and sandboxed,
//! in plaintext and with go-plugin's AutoMTLS (`process.auto_mtls: true`: the Go plugin's
//! ECDSA P-521 certificate, verified by Plugboard's own P-521 code).
//! Under CI=true a missing Go toolchain fails these tests; elsewhere they skip.

use std::sync::{Arc, OnceLock};

use plugboard_core::{Health, PluginState};
use plugboard_interop::go::{self, GoPeers};
use plugboard_process::{DynamicMethod, ProcessRuntime};

use crate::support::{within, workspace, Fixture};

/// Builds the Go peers once per test binary; `None` (skip) only when Go is missing outside CI.
pub(crate) fn peers() -> Option<GoPeers> {
    static BUILT: OnceLock<Result<GoPeers, String>> = OnceLock::new();
    if plugboard_test_support::tool_missing("go", &format!("apt-get install {}", go::APT_PACKAGES))
    {
        return None;
    }
    let built = BUILT.get_or_init(|| go::build().map_err(|e| e.to_string()));
    Some(built.clone().unwrap_or_else(|e| panic!("{e}")))
}

/// The KV plugin's `process:` section, in plaintext.
pub(crate) const KV_PROCESS: &str = "  handshake:\n    cookie_key: PLUGBOARD_KV_PLUGIN\n    cookie_value: b7e5d3a1-kv\n    versions: [1]\n";

fn kv_method(name: &str) -> DynamicMethod {
    let proto = workspace().join("examples/go/kv/proto/kv.proto");
    DynamicMethod::find(&proto, &[], &format!("{}/{name}", go::KV_SERVICE)).unwrap()
}

async fn puts_gets_and_stops(sandboxed: bool, auto_mtls: bool) {
    let Some(peers) = peers() else { return };
    let f = Fixture::new();
    let process = if auto_mtls {
        format!("{KV_PROCESS}  auto_mtls: true\n")
    } else {
        KV_PROCESS.to_owned()
    };
    f.install("go-kv", &peers.kv_plugin, &process, "");
    let runtime = if sandboxed {
        ProcessRuntime::new().with_os_sandbox()
    } else {
        ProcessRuntime::new()
    };
    let host = f
        .bare_builder()
        .runtime(Arc::new(runtime.clone()))
        .build()
        .unwrap();
    within(60, host.start()).await.unwrap();
    let status = host.status("go-kv").unwrap();
    assert_eq!(
        host.state("go-kv"),
        Some(PluginState::Active),
        "{:?}",
        status.reason
    );
    within(10, host.check_health()).await;
    let status = host.status("go-kv").unwrap();
    assert_eq!(status.health, Some(Health::Healthy), "{status:?}");

    let channel = runtime.grpc_channel("go-kv").expect("a gRPC connection");
    let t = std::time::Duration::from_secs(10);
    let put = kv_method("Put")
        .call_json(channel.clone(), r#"{"key":"colour","value":"Ymx1ZQ=="}"#, t)
        .await
        .unwrap();
    assert_eq!(put.trim(), "{}");
    let got: serde_json::Value = serde_json::from_str(
        &kv_method("Get")
            .call_json(channel.clone(), r#"{"key":"colour"}"#, t)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(got["value"], "Ymx1ZQ==", "{got}");
    assert_eq!(got["found"], true, "{got}");
    let missing: serde_json::Value = serde_json::from_str(
        &kv_method("Get")
            .call_json(channel, r#"{"key":"nothing"}"#, t)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_ne!(missing["found"], true, "{missing}");

    within(30, host.stop()).await;
    let log = host.read_log("go-kv").unwrap();
    assert!(
        log.contains("stopped: its process exited with status 0 when asked to shut down"),
        "{log}"
    );
    assert!(!log.contains("SIGKILL"), "{log}");
    assert!(!log.contains("the OS sandbox is off"), "{log}");
    // go-plugin says on stderr that it configured AutoMTLS; the host says it dialled TLS.
    assert_eq!(
        log.contains("configuring server automatic mTLS"),
        auto_mtls,
        "{log}"
    );
    assert_eq!(log.contains("with TLS (AutoMTLS)"), auto_mtls, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_kv_plugin_is_loaded_called_and_shut_down_gracefully() {
    puts_gets_and_stops(false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_kv_plugin_works_inside_the_os_sandbox() {
    puts_gets_and_stops(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_kv_plugin_is_loaded_and_called_over_auto_mtls() {
    puts_gets_and_stops(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_kv_plugin_works_over_auto_mtls_inside_the_os_sandbox() {
    puts_gets_and_stops(true, true).await;
}
