//! Plugins that fail, hang or panic: the host survives, the plugin is `failed` with its cause,
//! its dependents are `disabled`, and everything else goes on.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use plugboard_core::{CallError, Host, HostBuilder, PluginError, PluginState};

use crate::support::{manifest, within, Journal, Probe, Transitions};

/// A host with `bad` (built by the caller), `child` requiring it, `optional-user` that would use
/// it, and `bystander`, independent of all.
fn around_bad(builder: HostBuilder, j: &Journal, bad: Probe) -> HostBuilder {
    builder
        .plugin(manifest("bad", ""), bad.factory())
        .plugin(
            manifest("child", "requires: {bad: '*'}\n"),
            Probe::new(j).factory(),
        )
        .plugin(
            manifest("grandchild", "requires: {child: '*'}\n"),
            Probe::new(j).factory(),
        )
        .plugin(
            manifest("optional-user", "optional: {bad: '*'}\n"),
            Probe::new(j).factory(),
        )
        .plugin(manifest("bystander", ""), Probe::new(j).factory())
}

/// Starts the host and checks what every failure shares; returns `bad`'s reason.
async fn start_and_check(host: &Host, j: &Journal) -> String {
    let seen = Transitions::default();
    host.on_state_change(seen.listener());
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("bad"), Some(PluginState::Failed));
    let reason = host
        .status("bad")
        .unwrap()
        .reason
        .expect("a failed plugin says why");

    assert_eq!(host.state("child"), Some(PluginState::Disabled));
    let child = host.status("child").unwrap().reason.unwrap();
    assert!(child.contains("requires bad, which is failed"), "{child}");
    assert_eq!(seen.of("child"), ["resolved->disabled"]);
    assert_eq!(host.state("grandchild"), Some(PluginState::Disabled));
    assert!(!j.contains("child.boot") && !j.contains("grandchild.boot"));

    // Optional users and independent plugins go on.
    assert_eq!(host.state("optional-user"), Some(PluginState::Active));
    assert_eq!(host.state("bystander"), Some(PluginState::Active));
    assert_eq!(
        host.call("bystander", "echo", b"still").await.unwrap(),
        b"still"
    );
    assert!(host
        .read_log("optional-user")
        .unwrap()
        .contains("optional dependency bad is failed; going on without it"));

    // Calls to the failed plugin say why it cannot take them.
    match host.call("bad", "echo", b"").await.unwrap_err() {
        CallError::NotActive {
            plugin,
            state,
            reason: Some(r),
        } => {
            assert_eq!((plugin.as_str(), state), ("bad", PluginState::Failed));
            assert_eq!(r, reason);
        }
        other => panic!("unexpected {other:?}"),
    }
    // And the failure is in the plugin's log.
    assert!(host.read_log("bad").unwrap().contains("-> failed"));
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_hook_that_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let bad = Probe::new(&j).on_start(|_| Err(PluginError::new("the database is down")));
    let host = around_bad(Host::builder().state_dir(tmp.path()), &j, bad)
        .build()
        .unwrap();
    let reason = start_and_check(&host, &j).await;
    assert_eq!(reason, "start failed: the database is down");
    within(10, host.stop()).await;
    assert!(!j.contains("bad.stop"), "a failed plugin is not stopped");
    assert_eq!(host.state("bad"), Some(PluginState::Failed));
    assert_eq!(host.state("bystander"), Some(PluginState::Unloaded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_hook_that_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let bad = Probe::new(&j).on_boot(|_| Err("no licence".into()));
    let host = around_bad(Host::builder().state_dir(tmp.path()), &j, bad)
        .build()
        .unwrap();
    assert_eq!(start_and_check(&host, &j).await, "boot failed: no licence");
    assert!(!j.contains("bad.start"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_hook_that_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let bad = Probe::new(&j).on_start(|_| panic!("index out of bounds"));
    let host = around_bad(Host::builder().state_dir(tmp.path()), &j, bad)
        .build()
        .unwrap();
    assert_eq!(
        start_and_check(&host, &j).await,
        "start failed: panicked: index out of bounds"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factory_that_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("bad", ""), || -> crate::support::ProbePlugin {
            panic!("cannot construct")
        })
        .plugin(
            manifest("child", "requires: {bad: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .plugin(
            manifest("grandchild", "requires: {child: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .plugin(
            manifest("optional-user", "optional: {bad: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .plugin(manifest("bystander", ""), Probe::new(&j).factory())
        .build()
        .unwrap();
    let reason = start_and_check(&host, &j).await;
    assert!(reason.starts_with("cannot load: "), "{reason}");
    assert!(
        reason.contains("factory panicked: cannot construct"),
        "{reason}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_hangs_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    // The hook blocks until the test lets it go, so the runtime can shut down afterwards.
    let (release, hold) = mpsc::channel::<()>();
    let hold = Arc::new(Mutex::new(hold));
    let bad = Probe::new(&j).on_start(move |_| {
        let _ = hold.lock().recv_timeout(Duration::from_secs(10));
        Ok(())
    });
    let host = around_bad(
        Host::builder()
            .state_dir(tmp.path())
            .hook_timeout(Duration::from_millis(200)),
        &j,
        bad,
    )
    .build()
    .unwrap();
    let began = Instant::now();
    let reason = start_and_check(&host, &j).await;
    let took = began.elapsed();
    assert_eq!(reason, "start timed out after 200ms");
    assert!(
        took < Duration::from_secs(3),
        "the timeout did not bound the start: {took:?}"
    );
    release.send(()).unwrap();
    within(10, host.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_hook_that_hangs_times_out_without_holding_up_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let (release, hold) = mpsc::channel::<()>();
    let hold = Arc::new(Mutex::new(hold));
    let bad = Probe::new(&j).on_boot(move |_| {
        let _ = hold.lock().recv_timeout(Duration::from_secs(10));
        Ok(())
    });
    let host = around_bad(
        Host::builder()
            .state_dir(tmp.path())
            .hook_timeout(Duration::from_millis(300)),
        &j,
        bad,
    )
    .build()
    .unwrap();
    let reason = start_and_check(&host, &j).await;
    assert_eq!(reason, "boot timed out after 300ms");
    release.send(()).unwrap();
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_hook_that_fails_leaves_the_plugin_failed_and_unloaded() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("grumpy", ""),
            Probe::new(&j)
                .on_stop(|_| Err("will not stop".into()))
                .factory(),
        )
        .plugin(manifest("calm", ""), Probe::new(&j).factory())
        .build()
        .unwrap();
    let seen = Transitions::default();
    host.on_state_change(seen.listener());
    host.start().await.unwrap();
    within(10, host.stop()).await;
    assert_eq!(
        seen.of("grumpy")[3..],
        ["active->stopping", "stopping->failed", "failed->unloaded"]
    );
    let status = host.status("grumpy").unwrap();
    assert_eq!(status.state, PluginState::Unloaded);
    assert_eq!(status.reason.as_deref(), Some("stop failed: will not stop"));
    assert_eq!(host.state("calm"), Some(PluginState::Unloaded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_panics_is_a_crash_and_the_host_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("fragile", ""),
            Probe::new(&j)
                .on_call(|_, method, payload| match method {
                    "explode" => panic!("kaboom"),
                    _ => Ok(payload.to_vec()),
                })
                .factory(),
        )
        .plugin(manifest("other", ""), Probe::new(&j).factory())
        .build()
        .unwrap();
    host.start().await.unwrap();
    let err = host.call("fragile", "explode", b"x").await.unwrap_err();
    assert_eq!(
        err,
        CallError::Crashed {
            plugin: "fragile".into(),
            method: "explode".into(),
            message: "panicked: kaboom".into(),
        }
    );
    // The plugin and the host keep serving.
    assert_eq!(host.call("fragile", "echo", b"ok").await.unwrap(), b"ok");
    assert_eq!(host.call("other", "echo", b"ok").await.unwrap(), b"ok");
    assert_eq!(host.state("fragile"), Some(PluginState::Active));
    let status = host.status("fragile").unwrap();
    assert_eq!((status.calls, status.errors), (2, 1));
    host.stop().await;
    assert_eq!(host.state("fragile"), Some(PluginState::Unloaded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_state_listener_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("a", ""), Probe::new(&Journal::default()).factory())
        .build()
        .unwrap();
    host.on_state_change(|_| panic!("listener bug"));
    let seen = Transitions::default();
    host.on_state_change(seen.listener());
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("a"), Some(PluginState::Active));
    assert_eq!(seen.of("a").len(), 3);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_unknown_and_disabled_plugins_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("orphan", "requires: {nowhere: '^1'}\n"),
            Probe::new(&Journal::default()).factory(),
        )
        .build()
        .unwrap();
    host.start().await.unwrap();
    assert_eq!(
        host.call("nobody", "x", b"").await.unwrap_err(),
        CallError::UnknownPlugin("nobody".into())
    );
    match host.call("orphan", "x", b"").await.unwrap_err() {
        CallError::NotActive {
            state: PluginState::Disabled,
            reason: Some(r),
            ..
        } => {
            assert!(
                r.contains("requires nowhere ^1, which is not installed"),
                "{r}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(host.plugin("nobody").is_err());
    host.stop().await;
}

/// A runtime whose plugin dies on its own (a process plugin past its restart policy) reports it
/// through `HostApi::report_failure`: the plugin is `failed` with the reason, calls to it say
/// so, dependents are told, and a second report changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_reported_by_the_runtime_fails_the_active_plugin() {
    let j = Journal::default();
    let slot = crate::support::ApiSlot::default();
    let tmp = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("bad", ""),
            Probe::new(&j).keep_api(&slot).factory(),
        )
        .plugin(
            manifest("child", "requires: {bad: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Mutex::new(Some(tx));
    host.on_state_change(move |c| {
        if c.id.as_str() == "bad" && c.to == PluginState::Failed {
            if let Some(tx) = tx.lock().take() {
                let _ = tx.send(c.reason.clone());
            }
        }
    });
    within(10, host.start()).await.unwrap();
    let api = crate::support::api_of(&slot);
    api.report_failure("crashed 3 times in 1m; last stderr: boom");
    let reason = within(10, rx).await.unwrap().unwrap();
    assert_eq!(reason, "crashed 3 times in 1m; last stderr: boom");
    assert_eq!(host.state("bad"), Some(PluginState::Failed));
    // A report about a plugin that is no longer active changes nothing.
    api.report_failure("a second report");
    tokio::task::yield_now().await;
    let still = host.status("bad").unwrap().reason.unwrap();
    assert!(still.contains("boom"), "{still}");
    match host.call("bad", "x", b"").await.unwrap_err() {
        CallError::NotActive {
            reason: Some(r), ..
        } => assert!(r.contains("boom"), "{r}"),
        other => panic!("unexpected {other:?}"),
    }
    let told = host.read_log("child").unwrap();
    assert!(
        told.contains("plugin bad, which this plugin depends on, failed: crashed 3 times"),
        "{told}"
    );
    host.stop().await;
}
