//! A Rust plugin served by `plugboard-pdk`, over go-plugin's gRPC protocol: loaded, called,
//! calling the host API back through the broker, health-checked and stopped with its group.

use plugboard_core::{CallError, Health, PluginState};

use crate::support::{gone, within, Fixture};

const STORAGE: &str = "permissions:\n  storage: true\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_plugin_is_loaded_called_and_uses_the_host_api() {
    let f = Fixture::new();
    f.probe("probe", "", STORAGE);
    let host = f.start().await;
    assert_eq!(
        host.state("probe"),
        Some(PluginState::Active),
        "{:?}",
        host.status("probe")
    );

    assert_eq!(host.call("probe", "echo", b"hi").await.unwrap(), b"hi");
    assert_eq!(
        host.call("probe", "upper", b"shout").await.unwrap(),
        b"SHOUT"
    );
    // The counter lives in the host's storage, reached through the broker.
    assert_eq!(host.call("probe", "count", b"").await.unwrap(), b"1");
    assert_eq!(host.call("probe", "count", b"").await.unwrap(), b"2");
    let config = host.call("probe", "config", b"").await.unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&config).is_ok());
    match host.call("probe", "nothing", b"").await.unwrap_err() {
        CallError::UnknownMethod { method, .. } => assert_eq!(method, "nothing"),
        other => panic!("unexpected {other:?}"),
    }

    // Events it publishes reach the host's bus.
    let mut sub = host.subscribe("probe.events");
    host.call("probe", "publish", b"{\"n\":1}").await.unwrap();
    let event = within(10, sub.recv()).await.unwrap();
    assert_eq!(event.payload, b"{\"n\":1}");

    host.check_health().await;
    let status = host.status("probe").unwrap();
    assert_eq!(status.health, Some(Health::Healthy), "{status:?}");

    let pid: u32 = String::from_utf8(host.call("probe", "pid", b"").await.unwrap())
        .unwrap()
        .parse()
        .unwrap();
    within(30, host.stop()).await;
    assert!(
        gone(pid).await,
        "the plugin process {pid} outlived the host's stop"
    );

    let log = host.read_log("probe").unwrap();
    // Its stderr line ([INFO] prefix) and its host-API log record are both in its log.
    assert!(log.contains("probe booting with"), "{log}");
    assert!(log.contains("booted through the host API"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_without_the_permission_is_denied_with_the_fix() {
    let f = Fixture::new();
    f.probe("probe", "", "");
    let host = f.start().await;
    let err = host.call("probe", "count", b"").await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("storage is not permitted"), "{shown}");
    assert!(shown.contains("permissions: { storage: true }"), "{shown}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_is_killed_with_the_group_on_stop() {
    let f = Fixture::new();
    f.probe("probe", "", "");
    let host = f.start().await;
    let grandchild: u32 = String::from_utf8(host.call("probe", "fork", b"").await.unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(crate::support::alive(grandchild));
    within(30, host.stop()).await;
    assert!(
        gone(grandchild).await,
        "grandchild {grandchild} survived the stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_is_reattached_from_its_reattach_config() {
    use plugboard_process::{ProcessRuntime, ReattachConfig};
    use std::sync::Arc;
    use tokio::io::AsyncBufReadExt;

    // Start the probe by hand, as a debugger would, and read its handshake.
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(crate::support::probe())
        .env(
            plugboard_process::DEFAULT_COOKIE_KEY,
            plugboard_process::DEFAULT_COOKIE_VALUE,
        )
        .env("PLUGIN_UNIX_SOCKET_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within(10, lines.next_line()).await.unwrap().unwrap();
    let fields: Vec<&str> = line.split('|').collect();
    let config = ReattachConfig::parse(&format!(
        r#"{{"Protocol":"grpc","ProtocolVersion":1,"Pid":{},"Test":true,"Addr":{{"Network":"unix","String":"{}"}}}}"#,
        child.id().unwrap(),
        fields[3]
    ))
    .unwrap();

    let f = Fixture::new();
    // A manifest whose entry does not exist: nothing is started.
    std::fs::create_dir_all(f.plugin_dir("attached")).unwrap();
    std::fs::write(
        f.plugin_dir("attached").join("plugin.yaml"),
        "id: attached\nversion: 1.0.0\nruntime: process\nentry: bin/not-here\n",
    )
    .unwrap();
    let host = f
        .bare_builder()
        .runtime(Arc::new(ProcessRuntime::new().reattach("attached", config)))
        .build()
        .unwrap();
    within(30, host.start()).await.unwrap();
    assert_eq!(
        host.call("attached", "echo", b"again").await.unwrap(),
        b"again"
    );
    let pid = host.call("attached", "pid", b"").await.unwrap();
    assert_eq!(
        String::from_utf8(pid).unwrap(),
        child.id().unwrap().to_string()
    );
    within(30, host.stop()).await;
    // The host asked it to shut down; it exits on its own.
    let status = within(10, child.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");
}

/// `plugboard call --proto`'s engine: any method of the plugin's gRPC server, from its `.proto`
/// file, JSON in and out. Here go-plugin's own health service and Plugboard's `Plugin` service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_method_is_called_from_its_proto_with_json() {
    use plugboard_process::{DynamicCallError, DynamicMethod, ProcessRuntime};
    use std::sync::Arc;
    use std::time::Duration;

    let f = Fixture::new();
    f.probe("probe", "", "");
    let runtime = ProcessRuntime::new();
    let host = f
        .bare_builder()
        .runtime(Arc::new(runtime.clone()))
        .build()
        .unwrap();
    within(30, host.start()).await.unwrap();
    let channel = runtime
        .grpc_channel("probe")
        .expect("a running gRPC plugin");
    let proto = crate::support::workspace().join("proto");

    let health = DynamicMethod::find(
        &proto.join("grpc/health/v1/health.proto"),
        std::slice::from_ref(&proto),
        "Health/Check",
    )
    .unwrap();
    assert_eq!(health.path(), "/grpc.health.v1.Health/Check");
    let out = health
        .call_json(
            channel.clone(),
            r#"{"service":"plugin"}"#,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(out, r#"{"status":"SERVING"}"#);

    let call = DynamicMethod::find(
        &proto.join("plugboard/v1/plugin.proto"),
        std::slice::from_ref(&proto),
        "plugboard.v1.Plugin/Call",
    )
    .unwrap();
    // "aGk=" is base64 for "hi", as protobuf's JSON mapping writes bytes.
    let out = call
        .call_json(
            channel.clone(),
            r#"{"method":"upper","payload":"aGk="}"#,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(out, r#"{"payload":"SEk="}"#);

    match call
        .call_json(channel.clone(), r#"{"methd":"x"}"#, Duration::from_secs(5))
        .await
    {
        Err(DynamicCallError::Input { message, .. }) => {
            assert_eq!(message, "plugboard.v1.CallRequest")
        }
        other => panic!("unexpected {other:?}"),
    }
    match DynamicMethod::find(
        &proto.join("plugboard/v1/plugin.proto"),
        std::slice::from_ref(&proto),
        "Plugin/Nope",
    ) {
        Err(e @ DynamicCallError::UnknownMethod { .. }) => {
            assert!(e.to_string().contains("plugboard.v1.Plugin/Call"), "{e}")
        }
        other => panic!("unexpected {other:?}"),
    }
    within(30, host.stop()).await;
    assert!(runtime.grpc_channel("probe").is_none());
}

/// A plugin that listens on TCP (as go-plugin plugins do on Windows) is dialled at its
/// `host:port`, inside the port range the host gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_on_tcp_is_dialled_at_its_port() {
    let f = Fixture::new();
    f.probe(
        "tcp",
        "  env: {PROBE_TCP: '1'}\n",
        "permissions:\n  storage: true\n",
    );
    let host = f.start().await;
    assert_eq!(
        host.state("tcp"),
        Some(PluginState::Active),
        "{:?}",
        host.status("tcp")
    );
    assert_eq!(
        host.call("tcp", "echo", b"over tcp").await.unwrap(),
        b"over tcp"
    );
    assert_eq!(host.call("tcp", "count", b"").await.unwrap(), b"1");
    let log = host.read_log("tcp").unwrap();
    assert!(log.contains("connected over tcp 127.0.0.1:"), "{log}");
    within(30, host.stop()).await;
}
