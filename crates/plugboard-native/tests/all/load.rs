//! Loading and calling a Rust and a C plugin through a real host.

use plugboard_core::PluginState;

use crate::plugins::{compile_c, rust_plugins};
use crate::support::Fixture;

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_plugin_loads_and_answers_calls() {
    let (probe, _) = rust_plugins(false);
    let f = Fixture::new();
    f.native("probe", "1.0.0", &probe, "");
    let host = f.start().await;
    assert_eq!(host.state("probe"), Some(PluginState::Active));
    assert_eq!(host.call("probe", "echo", b"ping").await.unwrap(), b"ping");
    assert_eq!(host.call("probe", "echo", b"").await.unwrap(), b"");
    // A plain call is ready at once: no executor involved.
    let ready = host.call("probe", "echo", b"now").now();
    assert_eq!(ready.unwrap().unwrap(), b"now");
    let e = host
        .call("probe", "nope", b"")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no method \"nope\"") && e.contains("echo, fail"),
        "{e}"
    );
    // A result written in many pieces grows the host's buffer through `reserve`.
    let big = host.call("probe", "big", b"").await.unwrap();
    assert_eq!(big.len(), 40_000);
    assert_eq!(&big[39_996..], &9_999u32.to_le_bytes());
    let e = host
        .call("probe", "fail", b"disk full")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "plugin probe: disk full");
    host.stop().await;
    assert_eq!(host.state("probe"), Some(PluginState::Unloaded));
    assert_eq!(f.runtime.memory().retired_libraries, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_c_example_loads_greets_and_counts_visits_in_storage() {
    let f = Fixture::new();
    let lib = f.dir.path().join("libgreeter.so");
    compile_c("examples/native-c/greeter.c", &lib, &[]);
    let dir = f.plugin_dir("c-greeter");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&lib, dir.join("libgreeter.so")).unwrap();
    let example =
        crate::plugins::workspace().join("examples/native-c/plugins/c-greeter/plugin.yaml");
    std::fs::copy(example, dir.join("plugin.yaml")).unwrap();

    let host = f.start().await;
    assert_eq!(host.state("c-greeter"), Some(PluginState::Active));
    assert_eq!(
        host.call("c-greeter", "greet", b"Ada").await.unwrap(),
        b"hello, Ada!"
    );
    assert_eq!(host.call("c-greeter", "visits", b"").await.unwrap(), b"1");
    assert_eq!(host.call("c-greeter", "visits", b"").await.unwrap(), b"2");
    let e = host
        .call("c-greeter", "dance", b"")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("greet, visits"), "{e}");
    let log = host.read_log("c-greeter").unwrap();
    assert!(
        log.contains("the C greeter booted") && log.contains("hello, Ada!"),
        "{log}"
    );
    host.stop().await;

    // The count is in the host's storage, so a new host continues it.
    drop(host);
    let host = f.start().await;
    assert_eq!(host.call("c-greeter", "visits", b"").await.unwrap(), b"3");
    host.stop().await;
}
