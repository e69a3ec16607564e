//! Calls between plugins through the host API, and handles on plugins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use plugboard_core::{CallError, Host, HostApi, PluginState};

use crate::support::{manifest, within, Journal, Probe};

/// `relay` forwards a `relay:<target>` call to `<target>`'s `echo` with `call_blocking`.
fn relay(j: &Journal) -> Probe {
    Probe::new(j).on_call(|host, method, payload| {
        if let Some(target) = method.strip_prefix("relay:") {
            let mut out = b"via relay: ".to_vec();
            out.extend(host.call_blocking(target, "echo", payload)?);
            return Ok(out);
        }
        Ok(payload.to_vec())
    })
}

fn host_with_relay(state: &std::path::Path, j: &Journal) -> Host {
    Host::builder()
        .state_dir(state)
        .plugin(
            manifest(
                "relay",
                "requires: {target: '^1'}\noptional: {lazy-target: '*', absent: '*'}\n",
            ),
            relay(j).factory(),
        )
        .plugin(manifest("target", ""), Probe::new(j).factory())
        .plugin(
            manifest("lazy-target", "activation: lazy\n"),
            Probe::new(j).factory(),
        )
        .plugin(manifest("stranger", ""), Probe::new(j).factory())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_blocking_between_builtins() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = host_with_relay(tmp.path(), &j);
    within(10, host.start()).await.unwrap();
    let out = host.call("relay", "relay:target", b"ping").await.unwrap();
    assert_eq!(out, b"via relay: ping");
    assert!(j.position("relay.call:relay:target") < j.position("target.call:echo"));
    // Calling itself is always allowed.
    assert_eq!(
        host.call("relay", "relay:relay", b"me").await.unwrap(),
        b"via relay: me"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_optional_dependency_starts_on_the_first_call_through_its_user() {
    // A lazy plugin that an eager one uses only optionally stays lazy when the host starts; the
    // user's first call to it (through the host API, from a synchronous builtin call) starts it.
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = host_with_relay(tmp.path(), &j);
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("relay"), Some(PluginState::Active));
    assert_eq!(host.state("lazy-target"), Some(PluginState::Resolved));
    let out = within(10, host.call("relay", "relay:lazy-target", b"zz"))
        .await
        .unwrap();
    assert_eq!(out, b"via relay: zz");
    assert_eq!(host.state("lazy-target"), Some(PluginState::Active));
    assert!(j.position("relay.boot") < j.position("lazy-target.start"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_an_undeclared_plugin_is_denied() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = host_with_relay(tmp.path(), &j);
    within(10, host.start()).await.unwrap();
    let err = host
        .call("relay", "relay:stranger", b"hi")
        .await
        .unwrap_err();
    match &err {
        CallError::Denied(msg) => {
            assert!(msg.contains("plugin relay may not call stranger"), "{msg}");
            assert!(msg.contains("`requires` or `optional`"), "{msg}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!j.contains("stranger.call:echo"));
    assert!(host
        .read_log("relay")
        .unwrap()
        .contains("may not call stranger"));
    // A declared optional dependency that is not installed is allowed, and simply unknown.
    assert_eq!(
        host.call("relay", "relay:absent", b"").await.unwrap_err(),
        CallError::UnknownPlugin("absent".into())
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_api_calls_from_async_code_and_other_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let api: Arc<Mutex<Option<HostApi>>> = Arc::default();
    let keep = api.clone();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("caller", "requires: {target: '*'}\n"),
            Probe::new(&j)
                .on_start(move |h| {
                    *keep.lock() = Some(h.clone());
                    Ok(())
                })
                .factory(),
        )
        .plugin(manifest("target", ""), Probe::new(&j).factory())
        .plugin(manifest("stranger", ""), Probe::new(&j).factory())
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    let api = api.lock().clone().unwrap();
    assert_eq!(api.id().as_str(), "caller");
    assert_eq!(
        api.call("target", "echo", b"async").await.unwrap(),
        b"async"
    );
    assert!(matches!(
        api.call("stranger", "echo", b"").await.unwrap_err(),
        CallError::Denied(_)
    ));
    // From a thread outside the runtime, a builtin target answers at once.
    let from_thread = {
        let api = api.clone();
        std::thread::spawn(move || api.call_blocking("target", "echo", b"thread"))
            .join()
            .unwrap()
    };
    assert_eq!(from_thread.unwrap(), b"thread");
    host.stop().await;
    // After the target stopped, it cannot take calls.
    assert!(matches!(
        api.call("target", "echo", b"").await.unwrap_err(),
        CallError::NotActive {
            state: PluginState::Unloaded,
            ..
        }
    ));
    // After the host is dropped, the api says so instead of keeping it alive. A task of the
    // host's that is finishing on another worker thread (a start task dropping its handle
    // right after it settled, on a loaded machine) may hold the host a moment longer: what
    // matters is that the api holds nothing, so the host goes soon.
    drop(host);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match api.call("target", "echo", b"").await.unwrap_err() {
            CallError::Denied(msg) => {
                assert!(msg.contains("the host has shut down"), "{msg}");
                break;
            }
            CallError::NotActive { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("the host is still alive 5 s after it was dropped: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_handle_calls_without_a_lookup() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("target", ""), Probe::new(&j).factory())
        .build()
        .unwrap();
    let handle = host.plugin("target").unwrap();
    assert_eq!(handle.id().as_str(), "target");
    assert!(matches!(
        handle.call("echo", b"").await.unwrap_err(),
        CallError::NotActive {
            state: PluginState::Resolved,
            ..
        }
    ));
    host.start().await.unwrap();
    assert_eq!(handle.call("echo", b"abc").await.unwrap(), b"abc");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builtin_reply_can_be_taken_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("target", ""), Probe::new(&j).factory())
        .plugin(
            manifest("sleepy", "activation: lazy\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    host.start().await.unwrap();
    // An active builtin answers without a future to drive.
    let now = host.call("target", "echo", b"fast").now();
    assert_eq!(now.ok().unwrap().unwrap(), b"fast");
    let handle = host.plugin("target").unwrap();
    assert_eq!(handle.call("echo", b"h").now().ok().unwrap().unwrap(), b"h");
    assert_eq!(
        host.call("nobody", "echo", b"")
            .now()
            .ok()
            .unwrap()
            .unwrap_err(),
        CallError::UnknownPlugin("nobody".into())
    );
    // A lazy plugin's first call has to start it: that one is a future.
    let pending = host.call("sleepy", "echo", b"slow").now().unwrap_err();
    assert_eq!(within(10, pending).await.unwrap(), b"slow");
    host.stop().await;
}
