//! The lifecycle in motion: order, events, concurrency, lazy activation, stopping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use plugboard_core::{Host, PluginState, StateChange, STATE_TOPIC};

use crate::support::{manifest, within, Journal, Probe, Transitions};

const NORMAL_START: [&str; 3] = ["resolved->loaded", "loaded->booted", "booted->active"];
const NORMAL_STOP: [&str; 3] = ["active->stopping", "stopping->stopped", "stopped->unloaded"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_start_first_and_every_transition_is_observed() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("app", "requires: {base: '^1'}\n"),
            Probe::new(&j).factory(),
        )
        .plugin(manifest("base", ""), Probe::new(&j).factory())
        .build()
        .unwrap();
    let ids = host.plugin_ids();
    let ids: Vec<&str> = ids.iter().map(|p| p.as_str()).collect();
    assert_eq!(ids, ["base", "app"]);
    assert_eq!(host.state("app"), Some(PluginState::Resolved));
    assert!(j.entries().is_empty(), "build runs no plugin code");

    let seen = Transitions::default();
    host.on_state_change(seen.listener());
    let mut events = host.subscribe(STATE_TOPIC);

    within(10, host.start()).await.unwrap();
    assert_eq!(
        j.entries(),
        ["base.boot", "base.start", "app.boot", "app.start"]
    );
    assert_eq!(seen.of("base"), NORMAL_START);
    assert_eq!(seen.of("app"), NORMAL_START);
    // base is active before app is even loaded.
    let all = seen.all();
    let at = |id: &str, to: PluginState| {
        all.iter()
            .position(|c| c.id.as_str() == id && c.to == to)
            .unwrap()
    };
    assert!(at("base", PluginState::Active) < at("app", PluginState::Loaded));
    assert!(all
        .iter()
        .all(|c| c.reason.is_none() && c.version.to_string() == "1.0.0"));

    // The same transitions arrive on the event topic, as JSON.
    let mut published: Vec<StateChange> = Vec::new();
    while let Some(e) = events.try_recv() {
        assert_eq!(e.topic, STATE_TOPIC);
        assert_eq!(e.source, None, "the host publishes state changes");
        published.push(e.json().unwrap());
    }
    let brief = |cs: &[StateChange]| -> Vec<(String, PluginState, PluginState)> {
        cs.iter()
            .map(|c| (c.id.to_string(), c.from, c.to))
            .collect()
    };
    assert_eq!(brief(&published), brief(&all));

    within(10, host.stop()).await;
    assert_eq!(seen.of("app")[3..], NORMAL_STOP);
    assert_eq!(seen.of("base")[3..], NORMAL_STOP);
    assert_eq!(j.ids_of("stop"), ["app", "base"]);
    assert_eq!(host.state("app"), Some(PluginState::Unloaded));
    // Stopping twice is harmless.
    within(10, host.stop()).await;
    assert_eq!(seen.all().len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_starts_once() {
    let tmp = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("a", ""), Probe::new(&Journal::default()).factory())
        .build()
        .unwrap();
    host.start().await.unwrap();
    assert!(host.start().await.is_err());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_plugins_start_concurrently() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let slow = || {
        Probe::new(&j)
            .on_start(|_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .factory()
    };
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("slow-a", ""), slow())
        .plugin(manifest("slow-b", ""), slow())
        .build()
        .unwrap();
    let began = Instant::now();
    within(10, host.start()).await.unwrap();
    let took = began.elapsed();
    assert_eq!(host.state("slow-a"), Some(PluginState::Active));
    assert_eq!(host.state("slow-b"), Some(PluginState::Active));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // One after the other would take 600 ms; together, 300 ms and some overhead.
    assert!(
        took < Duration::from_millis(500),
        "started one after the other: {took:?}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_waits_for_its_dependency_to_finish_starting() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let finished: Arc<Mutex<Option<Instant>>> = Arc::default();
    let booted: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (f, b) = (finished.clone(), booted.clone());
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("dep", ""),
            Probe::new(&j)
                .on_start(move |_| {
                    std::thread::sleep(Duration::from_millis(200));
                    *f.lock() = Some(Instant::now());
                    Ok(())
                })
                .factory(),
        )
        .plugin(
            manifest("user", "requires: {dep: '*'}\n"),
            Probe::new(&j)
                .on_boot(move |_| {
                    *b.lock() = Some(Instant::now());
                    Ok(())
                })
                .factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    assert!(booted.lock().unwrap() >= finished.lock().unwrap());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_order_is_the_reverse_of_start_order() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let p = || Probe::new(&j).factory();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("d", "requires: {c: '*', b: '*'}\n"), p())
        .plugin(manifest("c", "requires: {b: '*'}\n"), p())
        .plugin(manifest("b", "requires: {a: '*'}\n"), p())
        .plugin(manifest("a", ""), p())
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    assert_eq!(j.ids_of("start"), ["a", "b", "c", "d"]);
    within(10, host.stop()).await;
    assert_eq!(j.ids_of("stop"), ["d", "c", "b", "a"]);
    for id in ["a", "b", "c", "d"] {
        assert_eq!(host.state(id), Some(PluginState::Unloaded), "{id}");
    }
    let dependents: Vec<String> = host
        .dependents("b")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(dependents, ["c", "d"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_plugin_starts_on_its_first_call_and_not_before() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("base", ""), Probe::new(&j).factory())
        .plugin(
            manifest("sleepy", "activation: lazy\nrequires: {base: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    let seen = Transitions::default();
    host.on_state_change(seen.listener());
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("sleepy"), Some(PluginState::Resolved));
    assert_eq!(j.entries(), ["base.boot", "base.start"]);
    assert!(seen.of("sleepy").is_empty());

    let out = within(10, host.call("sleepy", "echo", b"wake"))
        .await
        .unwrap();
    assert_eq!(out, b"wake");
    assert_eq!(host.state("sleepy"), Some(PluginState::Active));
    assert_eq!(seen.of("sleepy"), NORMAL_START);
    assert_eq!(
        j.entries()[2..],
        ["sleepy.boot", "sleepy.start", "sleepy.call:echo"]
    );
    // Started once: later calls go straight through.
    within(10, host.call("sleepy", "echo", b"again"))
        .await
        .unwrap();
    assert_eq!(j.ids_of("boot"), ["base", "sleepy"]);

    within(10, host.stop()).await;
    assert_eq!(j.ids_of("stop"), ["sleepy", "base"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_start_a_lazy_plugin_once() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("sleepy", "activation: lazy\n"),
            Probe::new(&j)
                .on_start(|_| {
                    std::thread::sleep(Duration::from_millis(50));
                    Ok(())
                })
                .factory(),
        )
        .build()
        .unwrap();
    host.start().await.unwrap();
    let calls = (0..8).map(|_| {
        let host = host.clone();
        tokio::spawn(async move { host.call("sleepy", "echo", b"x").await })
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().unwrap(), b"x");
    }
    assert_eq!(j.ids_of("boot"), ["sleepy"]);
    assert_eq!(j.ids_of("start"), ["sleepy"]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_plugin_that_is_never_called_is_never_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("sleepy", "activation: lazy\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    let seen = Transitions::default();
    host.on_state_change(seen.listener());
    host.start().await.unwrap();
    host.stop().await;
    assert!(j.entries().is_empty());
    assert!(seen.all().is_empty());
    assert_eq!(host.state("sleepy"), Some(PluginState::Resolved));
    // Nor is it started once the host has stopped: nobody would stop it again.
    assert!(matches!(
        within(10, host.call("sleepy", "echo", b""))
            .await
            .unwrap_err(),
        plugboard_core::CallError::NotActive {
            state: PluginState::Resolved,
            ..
        }
    ));
    assert!(j.entries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_plugin_starts_a_lazy_plugin_and_reports_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("sleepy", "activation: lazy\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    host.start().await.unwrap();
    assert_eq!(
        within(10, host.start_plugin("sleepy")).await.unwrap(),
        PluginState::Active
    );
    assert!(host.start_plugin("nobody").await.is_err());
    let status = host.status("sleepy").unwrap();
    assert!(status.start_ms.is_some());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_count_calls_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("counted", ""),
            Probe::new(&j)
                .on_call(|_, method, payload| match method {
                    "fail" => Err(plugboard_core::CallError::plugin("counted", "no")),
                    _ => Ok(payload.to_vec()),
                })
                .factory(),
        )
        .build()
        .unwrap();
    host.start().await.unwrap();
    for _ in 0..3 {
        host.call("counted", "ok", b"").await.unwrap();
    }
    host.call("counted", "fail", b"").await.unwrap_err();
    let s = host.status("counted").unwrap();
    assert_eq!((s.calls, s.errors), (4, 1));
    assert_eq!(s.state, PluginState::Active);
    assert_eq!(s.origin, "application");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_optional_dependency_stays_lazy_until_called() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("extra", "activation: lazy\n"),
            Probe::new(&j).factory(),
        )
        .plugin(
            manifest("user", "optional: {extra: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    host.start().await.unwrap();
    assert_eq!(host.state("user"), Some(PluginState::Active));
    assert_eq!(host.state("extra"), Some(PluginState::Resolved));
    assert!(!j.contains("extra.boot"), "{:?}", j.entries());
    // The first call starts it.
    within(10, host.call("extra", "echo", b"x")).await.unwrap();
    assert_eq!(host.state("extra"), Some(PluginState::Active));
    host.stop().await;
}
