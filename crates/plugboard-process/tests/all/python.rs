//! A Python plugin on grpcio, served with `sdk/python`: loaded over go-plugin's protocol,
//! called, calling the host API through the broker, health-checked and stopped; and the same
//! with go-plugin's AutoMTLS, everything over mutual TLS.

use std::sync::Arc;

use plugboard_core::{Health, PluginState};
use plugboard_process::ProcessRuntime;
use plugboard_protocol::grpc::health::health_check_response::ServingStatus;
use plugboard_protocol::grpc::health::health_client::HealthClient;

use crate::mtls::{check, plaintext_is_refused, tls_socket};
use crate::support::{within, workspace, Fixture};

/// Whether python3 lacks one of the modules `imports` (comma-separated), from the PyPI
/// `packages`: a failure under CI, else a skip.
fn python_lacks(imports: &str, packages: &str) -> bool {
    if plugboard_test_support::tool_missing("python3", "apt-get install python3") {
        return true;
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {imports}")])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return false;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "python3 lacks {imports}; `pip install {packages}` (scripts/test does)"
    );
    eprintln!("skipping: python3 lacks {imports} (pip install {packages})");
    true
}

/// Whether python3 with grpcio and grpcio-health-checking is missing (a failure under CI).
fn grpcio_missing() -> bool {
    python_lacks("grpc, grpc_health", "grpcio grpcio-health-checking")
}

/// Installs `sdk/python/examples/greeter.py` as plugin `greeter`, with `process` settings.
fn install_greeter(f: &Fixture, process: &str) {
    let sdk = workspace().join("sdk/python").canonicalize().unwrap();
    f.install(
        "greeter",
        &sdk.join("examples/greeter.py"),
        &format!("  env: {{PYTHONPATH: '{}'}}\n{process}", sdk.display()),
        "permissions:\n  storage: true\nconfig:\n  schema:\n    type: object\n",
    );
    f.config("plugins:\n  - id: greeter\n    config: {greeting: howdy}\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_grpcio_plugin_is_loaded_and_uses_the_host_api() {
    if grpcio_missing() {
        return;
    }
    let f = Fixture::new();
    install_greeter(&f, "");
    let host = f.start().await;
    assert_eq!(
        host.state("greeter"),
        Some(PluginState::Active),
        "{:?}",
        host.status("greeter")
    );
    assert_eq!(
        host.call("greeter", "greet", br#""Ada""#).await.unwrap(),
        br#""howdy, Ada""#
    );
    assert_eq!(host.call("greeter", "count", b"").await.unwrap(), b"1");
    assert_eq!(host.call("greeter", "count", b"").await.unwrap(), b"2");
    let err = host.call("greeter", "wave", b"").await.unwrap_err();
    assert!(err.to_string().contains("wave"), "{err}");
    host.check_health().await;
    let status = host.status("greeter").unwrap();
    assert_eq!(status.health, Some(Health::Healthy), "{status:?}");
    within(30, host.stop()).await;
    let log = host.read_log("greeter").unwrap();
    assert!(log.contains("greeter booted"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_grpcio_plugin_with_auto_mtls_is_called_over_mutual_tls() {
    if grpcio_missing() || python_lacks("cryptography", "cryptography (plugboard-plugin[mtls])") {
        return;
    }
    let f = Fixture::new();
    install_greeter(&f, "  auto_mtls: true\n");
    let runtime = ProcessRuntime::new();
    let host = f
        .bare_builder()
        .runtime(Arc::new(runtime.clone()))
        .build()
        .unwrap();
    within(60, host.start()).await.unwrap();
    assert_eq!(
        host.state("greeter"),
        Some(PluginState::Active),
        "{:?}",
        host.status("greeter")
    );
    assert_eq!(
        host.call("greeter", "greet", br#""Ada""#).await.unwrap(),
        br#""howdy, Ada""#
    );
    // The host API (storage) through go-plugin's broker, itself over mutual TLS.
    assert_eq!(host.call("greeter", "count", b"").await.unwrap(), b"1");
    assert_eq!(host.call("greeter", "count", b"").await.unwrap(), b"2");
    let err = host.call("greeter", "wave", b"").await.unwrap_err();
    assert!(err.to_string().contains("wave"), "{err}");
    within(10, host.check_health()).await;
    let status = host.status("greeter").unwrap();
    assert_eq!(status.health, Some(Health::Healthy), "{status:?}");

    // The handshake line carried the plugin's certificate and the host connected with TLS
    // (the log says so only then); the runtime's channel is that TLS one, and a plaintext
    // client of the same socket gets nothing.
    let channel = runtime.grpc_channel("greeter").expect("a channel");
    let answer = HealthClient::new(channel).check(check()).await.unwrap();
    assert_eq!(answer.get_ref().status, ServingStatus::Serving as i32);
    plaintext_is_refused(&tls_socket(&host.read_log("greeter").unwrap())).await;

    within(30, host.stop()).await;
    let log = host.read_log("greeter").unwrap();
    // The log record of `boot`, sent through the TLS broker too.
    assert!(log.contains("greeter booted"), "{log}");
    assert!(
        log.contains("stopped: its process exited with status 0 when asked to shut down"),
        "{log}"
    );
}
