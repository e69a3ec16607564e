//! The sandbox, deny by default: files only under granted directories (read-only unless
//! `write`), only granted environment variables, network only to listed hosts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use plugboard_core::CallError;

use crate::support::{guests, tool_missing, Fixture};

/// `guests/sandbox.c` built with clang and wasi-libc, as a WASI reactor.
fn sandbox_guest(out_dir: &Path) -> Option<PathBuf> {
    if tool_missing(
        "clang",
        "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32",
    ) {
        return None;
    }
    let out = out_dir.join("sandbox.wasm");
    let status = Command::new("clang")
        .args([
            "--target=wasm32-wasi",
            "--sysroot=/usr",
            "-O2",
            "-mexec-model=reactor",
            "-o",
        ])
        .arg(&out)
        .arg(guests().join("sandbox.c"))
        .status()
        .unwrap();
    assert!(status.success(), "clang failed to build guests/sandbox.c");
    Some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn files_and_environment_are_limited_to_what_is_granted() {
    let f = Fixture::new();
    let Some(wasm) = sandbox_guest(f.dir.path()) else {
        return;
    };
    let dir = f.wasm(
        "boxed",
        &fs::read(wasm).unwrap(),
        "wasm:\n  abi: extism\npermissions:\n  fs: { read: [data/], write: [out/] }\n  env: [PB_TEST_GRANTED]\n",
    );
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::create_dir_all(dir.join("out")).unwrap();
    fs::write(dir.join("data/hello.txt"), "hi").unwrap();
    fs::write(dir.join("secret.txt"), "secret").unwrap();
    // The variables are set before the host starts and never changed; no other test reads them.
    std::env::set_var("PB_TEST_GRANTED", "granted-value");
    std::env::set_var("PB_TEST_SECRET", "secret-value");
    let host = f.start().await;
    let call = |m: &'static str, p: &'static str| {
        let host = &host;
        async move { String::from_utf8(host.call("boxed", m, p.as_bytes()).await.unwrap()).unwrap() }
    };
    assert_eq!(call("read", "data/hello.txt").await, "ok: hi");
    assert!(
        call("read", "secret.txt").await.starts_with("denied"),
        "outside the preopened directory"
    );
    assert!(call("read", "/etc/passwd").await.starts_with("denied"));
    assert!(
        call("read", "data/../secret.txt")
            .await
            .starts_with("denied"),
        "no climbing out"
    );
    assert!(
        call("write", "data/new.txt").await.starts_with("denied"),
        "data/ is read-only"
    );
    assert_eq!(call("write", "out/new.txt").await, "ok");
    assert_eq!(
        fs::read_to_string(dir.join("out/new.txt")).unwrap(),
        "written"
    );
    assert_eq!(call("env", "PB_TEST_GRANTED").await, "granted-value");
    assert_eq!(call("env", "PB_TEST_SECRET").await, "(unset)");
    let log = host.read_log("boxed").unwrap();
    assert!(
        log.contains("sandbox: fs [out (read-write), data (read)] (other paths need `permissions.fs`), env [PB_TEST_GRANTED] (others need `permissions.env`)"),
        "{log}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_request_to_an_unlisted_host_is_denied_and_logged() {
    let f = Fixture::new();
    f.extism(
        "api",
        "host_api",
        "permissions:\n  net: [allowed.example:80]\n",
    );
    let host = f.start().await;
    match host.call("api", "http", b"").await.unwrap_err() {
        CallError::Denied(m) => assert!(
            m.contains("blocked.example:80") && m.contains("permissions.net"),
            "{m}"
        ),
        other => panic!("{other}"),
    }
    let log = host.read_log("api").unwrap();
    assert!(
        log.contains("denied an HTTP request to blocked.example:80; add \"blocked.example:80\" to `permissions.net`"),
        "{log}"
    );
    assert!(
        host.call("api", "config", b"").await.is_ok(),
        "the plugin still works"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_to_an_unlisted_address_is_denied_and_logged() {
    let f = Fixture::new();
    let net = crate::support::net_component();
    f.wasm("net", &net, "permissions:\n  net: ['127.0.0.1:9']\n");
    f.wasm("offline", &net, "");
    let host = f.start().await;
    // error-code 1 is `access-denied` (wasi:sockets/network).
    let listed = host
        .call("net", "connect", &9u16.to_le_bytes())
        .await
        .unwrap();
    assert_ne!(
        listed,
        [5, 1],
        "a listed address is not refused by the sandbox"
    );
    let unlisted = host
        .call("net", "connect", &1u16.to_le_bytes())
        .await
        .unwrap();
    assert_eq!(
        unlisted,
        [5, 1],
        "an unlisted address is refused: access-denied"
    );
    let log = host.read_log("net").unwrap();
    assert!(
        log.contains("denied: TcpConnect to 127.0.0.1:1; add \"127.0.0.1:1\" (or its host name and port) to `permissions.net`"),
        "{log}"
    );
    assert!(
        !log.contains("127.0.0.1:9;"),
        "the listed address was not refused: {log}"
    );
    let none = host
        .call("offline", "connect", &9u16.to_le_bytes())
        .await
        .unwrap();
    assert_eq!(
        none[0], 1,
        "without `permissions.net` there are no sockets at all: {none:?}"
    );
    host.stop().await;
}
