//! go-plugin's AutoMTLS (`process.auto_mtls: true`) with the Rust probe served by
//! `plugboard-pdk`: the host sends a fresh client certificate in `PLUGIN_CLIENT_CERT`, the
//! plugin answers with its own in the handshake line, and everything (calls, the health check,
//! the host API through the broker, the shutdown) goes over mutual TLS; a plaintext client is
//! refused. Plugins that get it wrong are refused with an error that names them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use plugboard_core::{Health, PluginState};
use plugboard_process::ProcessRuntime;
use plugboard_protocol::grpc::health::health_check_response::ServingStatus;
use plugboard_protocol::grpc::health::health_client::HealthClient;
use plugboard_protocol::grpc::health::HealthCheckRequest;
use tonic::transport::Endpoint;

use crate::support::{within, Fixture};

const STORAGE: &str = "permissions:\n  storage: true\n";
const MTLS: &str = "  auto_mtls: true\n";

pub(crate) fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: "plugin".to_owned(),
    }
}

/// The socket the plugin's log says the host connected to over TLS: the log line is there
/// only when the handshake line carried a certificate that the host pinned.
pub(crate) fn tls_socket(log: &str) -> PathBuf {
    let line = log
        .lines()
        .find(|l| l.contains("with TLS (AutoMTLS)"))
        .unwrap_or_else(|| panic!("no TLS connection in the log:\n{log}"));
    let rest = &line[line.find("connected over unix ").expect("a unix socket") + 20..];
    PathBuf::from(rest.split(" with TLS").next().unwrap())
}

/// Asserts that a plaintext gRPC client of `socket` gets no answer from the plugin.
pub(crate) async fn plaintext_is_refused(socket: &Path) {
    let plain = async {
        let path = socket.to_path_buf();
        let channel = Endpoint::from_static("http://plain.invalid")
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map(TokioIo::new)
                }
            }))
            .await?;
        HealthClient::new(channel)
            .check(check())
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error + Send + Sync>)
    };
    // Refused, or never answered: either way no plaintext client gets through.
    let answered = tokio::time::timeout(Duration::from_secs(10), plain).await;
    assert!(
        !matches!(answered, Ok(Ok(_))),
        "a plaintext health check of {socket:?} was answered: {answered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_plugin_is_called_over_mutual_tls_and_refuses_plaintext() {
    let f = Fixture::new();
    f.probe("tls", MTLS, STORAGE);
    let runtime = ProcessRuntime::new();
    let host = f
        .bare_builder()
        .runtime(Arc::new(runtime.clone()))
        .build()
        .unwrap();
    within(60, host.start()).await.unwrap();
    assert_eq!(
        host.state("tls"),
        Some(PluginState::Active),
        "{:?}",
        host.status("tls")
    );

    assert_eq!(host.call("tls", "echo", b"hi").await.unwrap(), b"hi");
    // The host API through go-plugin's broker, itself over mutual TLS.
    assert_eq!(host.call("tls", "count", b"").await.unwrap(), b"1");
    assert_eq!(host.call("tls", "count", b"").await.unwrap(), b"2");
    let config = host.call("tls", "config", b"").await.unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&config).is_ok());
    within(10, host.check_health()).await;
    let status = host.status("tls").unwrap();
    assert_eq!(status.health, Some(Health::Healthy), "{status:?}");

    // The child was given a certificate, PEM.
    let pem = String::from_utf8(host.call("tls", "client-cert", b"").await.unwrap()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem:?}");

    // The runtime's channel is the TLS one; a plaintext client of the same socket gets nothing.
    let channel = runtime.grpc_channel("tls").expect("a channel");
    let answer = HealthClient::new(channel).check(check()).await.unwrap();
    assert_eq!(answer.get_ref().status, ServingStatus::Serving as i32);
    plaintext_is_refused(&tls_socket(&host.read_log("tls").unwrap())).await;

    within(30, host.stop()).await;
    let log = host.read_log("tls").unwrap();
    assert!(
        log.contains("stopped: its process exited with status 0 when asked to shut down"),
        "{log}"
    );
    // The plaintext attempt was refused by the plugin's TLS server, which said so on stderr.
    assert!(log.contains("its TLS handshake failed (AutoMTLS)"), "{log}");
}

/// Starts a probe with `PROBE_FAULT=fault` and AutoMTLS, and returns its failure reason.
async fn mtls_failure(fault: &str) -> String {
    let f = Fixture::new();
    f.probe(
        "faulty",
        &format!("  env: {{PROBE_FAULT: {fault}}}\n  restart: {{policy: never}}\n{MTLS}"),
        "",
    );
    let host = f.start().await;
    assert_eq!(host.state("faulty"), Some(PluginState::Failed));
    let reason = host.status("faulty").unwrap().reason.unwrap();
    host.stop().await;
    println!("{fault}: {reason}");
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_prints_no_certificate_is_refused_with_the_fix() {
    let reason = mtls_failure("no-cert").await;
    assert!(reason.contains("plugin faulty"), "{reason}");
    assert!(
        reason
            .contains("process.auto_mtls is on, but its handshake line has no server certificate"),
        "{reason}"
    );
    assert!(reason.contains("`process.auto_mtls: false`"), "{reason}");
    assert!(reason.contains("|grpc|\""), "the line is quoted: {reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_field_that_is_no_certificate_is_refused_and_quoted() {
    let reason = mtls_failure("not-a-cert").await;
    assert!(reason.contains("plugin faulty"), "{reason}");
    assert!(
        reason
            .contains("the server certificate in its handshake line (sixth field) cannot be used"),
        "{reason}"
    );
    assert!(reason.contains("not an X.509 certificate"), "{reason}");
    // base64 of the DER header 0x30 0x3c.
    assert!(reason.contains("|grpc|MDwAAAAA"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_serving_another_certificate_than_it_printed_is_refused() {
    let reason = mtls_failure("other-cert").await;
    assert!(reason.contains("plugin faulty"), "{reason}");
    assert!(
        reason.contains("the TLS handshake with its process at unix"),
        "{reason}"
    );
    assert!(
        reason.contains("other than the one it was pinned to"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mtls_on_a_stdio_plugin_is_refused_at_check() {
    let f = Fixture::new();
    f.script(
        "pipes",
        "#!/bin/sh\nexit 0\n",
        "  protocol: stdio\n  auto_mtls: true\n",
        "",
    );
    let host = f.start().await;
    // Refused at `check`: the core disables it, with the reason.
    assert_ne!(host.state("pipes"), Some(PluginState::Active));
    let reason = host.status("pipes").unwrap().reason.unwrap();
    host.stop().await;
    assert!(reason.contains("plugin pipes"), "{reason}");
    assert!(reason.contains("for `protocol: grpc`"), "{reason}");
}
