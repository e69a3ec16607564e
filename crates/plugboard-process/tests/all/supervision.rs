//! Supervision: a process that dies is noticed at once, calls in flight get a clear error,
//! and the plugin is back under its restart policy, or failed with the reason.

use std::sync::Arc;

use plugboard_core::{CallError, PluginState};

use crate::support::{kill9, state_waiter, within, Fixture};

async fn pid_of(host: &plugboard_core::Host, id: &str) -> u32 {
    String::from_utf8(host.call(id, "pid", b"").await.unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_stream_of_calls_then_the_plugin_is_back() {
    let f = Fixture::new();
    f.probe(
        "victim",
        "  restart: {policy: on-failure, max: 5, window: 1m}\n",
        "",
    );
    let host = Arc::new(f.start().await);
    let first = pid_of(&host, "victim").await;

    let caller = {
        let host = host.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..400u32 {
                let payload = i.to_string();
                let r = within(10, host.call("victim", "echo", payload.as_bytes())).await;
                match &r {
                    Ok(bytes) => assert_eq!(bytes, payload.as_bytes()),
                    Err(e) => {
                        let shown = e.to_string();
                        assert!(
                            shown.contains("SIGKILL")
                                || shown.contains("being restarted")
                                || shown.contains("its process"),
                            "an unclear error: {shown}"
                        );
                    }
                }
                outcomes.push(r.is_ok());
                tokio::task::yield_now().await;
            }
            outcomes
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    kill9(first);
    let outcomes = within(60, caller).await.unwrap();
    assert!(outcomes.iter().any(|ok| *ok), "no call succeeded");

    // Back, in a new process.
    let mut second = first;
    for _ in 0..100 {
        if let Ok(bytes) = host.call("victim", "pid", b"").await {
            second = String::from_utf8(bytes).unwrap().parse().unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(
        second, first,
        "the plugin did not come back in a new process"
    );
    assert_eq!(host.state("victim"), Some(PluginState::Active));
    assert_eq!(host.call("victim", "echo", b"back").await.unwrap(), b"back");
    let log = host.read_log("victim").unwrap();
    assert!(log.contains("killed by signal 9"), "{log}");
    assert!(log.contains("restarted the plugin's process"), "{log}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_when_the_process_dies_gets_a_crash_error() {
    let f = Fixture::new();
    f.probe("dies", "  restart: {policy: never}\n", "");
    let host = f.start().await;
    let failed = state_waiter(&host, "dies", PluginState::Failed);
    match within(10, host.call("dies", "exit", b""))
        .await
        .unwrap_err()
    {
        CallError::Crashed { message, .. } => {
            assert!(message.contains("exited with status 3"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    let reason = within(10, failed).await.unwrap().unwrap();
    assert!(reason.contains("exited with status 3"), "{reason}");
    assert!(reason.contains("restart policy is `never`"), "{reason}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_crashes_fail_the_plugin_and_tell_its_dependents() {
    let f = Fixture::new();
    f.probe(
        "flaky",
        "  restart: {policy: always, max: 2, window: 1m}\n",
        "",
    );
    f.probe("user", "", "requires:\n  flaky: '*'\n");
    let host = f.start().await;
    let failed = state_waiter(&host, "flaky", PluginState::Failed);
    let mut crashes = 0;
    for _ in 0..200 {
        match host.call("flaky", "exit", b"").await {
            Err(CallError::Crashed { .. }) => crashes += 1,
            Err(CallError::NotActive { .. }) => break,
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
        if crashes == 3 {
            break;
        }
    }
    assert_eq!(crashes, 3);
    let reason = within(30, failed).await.unwrap().unwrap();
    assert!(
        reason.contains("more than process.restart.max (2)"),
        "{reason}"
    );
    assert!(reason.contains("exited with status 3"), "{reason}");
    let told = host.read_log("user").unwrap();
    assert!(
        told.contains("plugin flaky, which this plugin depends on, failed"),
        "{told}"
    );
    host.stop().await;
}

/// A process that hangs as a whole (here it stops itself with SIGSTOP): the call meets its
/// deadline, the host finds the process does not answer its health check either, kills it,
/// and the supervisor restarts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_process_is_killed_and_restarted() {
    let f = Fixture::new();
    f.probe("frozen", "  call_timeout: 500ms\n", "");
    let host = f.start().await;
    let first = pid_of(&host, "frozen").await;
    match within(10, host.call("frozen", "freeze", b""))
        .await
        .unwrap_err()
    {
        CallError::Timeout { .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    let mut again = first;
    for _ in 0..200 {
        if let Ok(bytes) = host.call("frozen", "pid", b"").await {
            again = String::from_utf8(bytes).unwrap().parse().unwrap();
            if again != first {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(again, first, "the hung process was not replaced");
    assert!(crate::support::gone(first).await);
    let log = host.read_log("frozen").unwrap();
    assert!(log.contains("is hung"), "{log}");
    host.stop().await;
}
