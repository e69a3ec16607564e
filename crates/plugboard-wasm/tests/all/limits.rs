//! Each limit: a deadline, memory, the stack, fuel, a trap in boot. The host survives each,
//! the instance is replaced, and the next call works.

use std::time::{Duration, Instant};

use plugboard_core::{CallError, Health, PluginState};

use crate::support::Fixture;

/// The shortest of three runs of `op`: the deadline is the host's to keep, but on a loaded
/// machine (2 cores shared by parallel builds) a single run also measures the scheduler.
async fn fastest_of_3<F, Fut>(op: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        op().await;
        best = best.min(started.elapsed());
    }
    best
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_is_stopped_at_its_deadline_and_the_next_call_works() {
    let _serial = crate::support::SPINNING.lock().await;
    let f = Fixture::new();
    f.extism("bad", "limits", "  timeout: 200ms\n");
    let host = f.start().await;
    let took = fastest_of_3(|| async {
        let e = host.call("bad", "spin", b"").await.unwrap_err();
        assert!(matches!(e, CallError::Timeout { millis: 200, .. }), "{e}");
    })
    .await;
    assert!(
        took >= Duration::from_millis(200),
        "stopped early: {took:?}"
    );
    assert!(
        took <= Duration::from_millis(220),
        "stopped later than deadline + 10 %: {took:?}"
    );
    assert_eq!(host.call("bad", "ok", b"").await.unwrap(), b"ok");
    assert!(host
        .read_log("bad")
        .unwrap()
        .contains("the instance was discarded"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_growth_past_the_limit_fails_the_call_not_the_host() {
    let f = Fixture::new();
    f.extism("bad", "limits", "  memory_max: 1MiB\n");
    let host = f.start().await;
    match host.call("bad", "grow", b"").await.unwrap_err() {
        CallError::Crashed { message, .. } => {
            assert!(
                message.contains("out of memory") && message.contains("1048576"),
                "{message}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(host.call("bad", "ok", b"").await.unwrap(), b"ok");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_overflow_and_a_trap_fail_their_call_and_repeated_faults_mark_unhealthy() {
    let f = Fixture::new();
    f.extism("bad", "limits", "");
    let host = f.start().await;
    match host.call("bad", "recurse", b"").await.unwrap_err() {
        CallError::Crashed { message, .. } => {
            assert!(message.contains("stack overflow"), "{message}")
        }
        other => panic!("{other}"),
    }
    assert_eq!(host.status("bad").unwrap().health, Some(Health::Degraded));
    match host.call("bad", "trap", b"").await.unwrap_err() {
        CallError::Crashed { message, .. } => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("{other}"),
    }
    let _ = host.call("bad", "trap", b"").await.unwrap_err();
    assert_eq!(host.status("bad").unwrap().health, Some(Health::Unhealthy));
    assert_eq!(host.call("bad", "ok", b"").await.unwrap(), b"ok");
    assert_eq!(
        host.status("bad").unwrap().health,
        Some(Health::Healthy),
        "recovers after a success"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fuel_budget_stops_a_loop() {
    let _serial = crate::support::SPINNING.lock().await;
    let f = Fixture::new();
    f.extism("bad", "limits", "  fuel: 100000\n");
    let host = f.start().await;
    match host.call("bad", "spin", b"").await.unwrap_err() {
        CallError::Crashed { message, .. } => {
            assert!(message.contains("ran out of fuel"), "{message}")
        }
        other => panic!("{other}"),
    }
    assert_eq!(host.call("bad", "ok", b"").await.unwrap(), b"ok");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_in_boot_fails_that_plugin_and_the_host_goes_on() {
    let f = Fixture::new();
    f.extism("bad", "limits", "");
    f.extism("good", "limits", "");
    f.config(
        "plugins:\n  - id: bad\n    config: { long: 'a configuration longer than twenty bytes' }\n",
    );
    let host = f.start().await;
    let status = host.status("bad").unwrap();
    assert_eq!(status.state, PluginState::Failed);
    let reason = status.reason.unwrap_or_default();
    assert!(
        reason.contains("boot") && reason.contains("unreachable"),
        "{reason}"
    );
    assert_eq!(host.call("good", "ok", b"").await.unwrap(), b"ok");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_loops_or_traps_is_replaced() {
    let _serial = crate::support::SPINNING.lock().await;
    let f = Fixture::new();
    f.wasm(
        "comp",
        &crate::support::component(),
        "wasm:\n  timeout: 200ms\n  memory_max: 2MiB\n",
    );
    let host = f.start().await;
    let took = fastest_of_3(|| async {
        let e = host.call("comp", "spin", b"").await.unwrap_err();
        assert!(matches!(e, CallError::Timeout { .. }), "{e}");
    })
    .await;
    assert!(
        took >= Duration::from_millis(200) && took <= Duration::from_millis(220),
        "stopped outside [deadline, deadline + 10 %]: {took:?}"
    );
    match host.call("comp", "grow", b"").await.unwrap_err() {
        CallError::Crashed { message, .. } => {
            assert!(message.contains("out of memory"), "{message}")
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        host.call("comp", "trap", b"").await.unwrap_err(),
        CallError::Crashed { .. }
    ));
    assert_eq!(
        host.call("comp", "echo", b"still here").await.unwrap(),
        b"still here"
    );
    host.stop().await;
}
