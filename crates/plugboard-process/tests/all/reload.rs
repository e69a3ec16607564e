//! Hot reload of a process plugin: the new version's process starts beside the old one, calls
//! switch to it, the old process finishes its calls and exits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use plugboard_core::ReloadEvent;

use crate::support::{alive, gone, within, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_plugin_is_replaced_by_a_new_process_with_no_failed_call() {
    let f = Fixture::new();
    f.probe("svc", "", "");
    let host = f.start().await;
    let old_pid: u32 = String::from_utf8(host.call("svc", "pid", b"").await.unwrap())
        .unwrap()
        .parse()
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (host, done, answered, failures) = (
                host.clone(),
                done.clone(),
                answered.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    match host.call("svc", "echo", b"ping").await {
                        Ok(out) if out == b"ping" => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures.lock().push(format!("{other:?}")),
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let manifest = f.plugin_dir("svc").join("plugin.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("version: 1.0.0", "version: 1.1.0")).unwrap();
    let report = within(30, host.rescan()).await.unwrap();
    assert!(
        matches!(&report.events[..], [ReloadEvent::Updated { to, .. }] if to.to_string() == "1.1.0"),
        "{report:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    done.store(true, Ordering::Relaxed);
    for c in callers {
        c.await.unwrap();
    }
    let failures = failures.lock().clone();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(answered.load(Ordering::Relaxed) > 0);

    let new_pid: u32 = String::from_utf8(host.call("svc", "pid", b"").await.unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(new_pid, old_pid, "the new version runs in a new process");
    assert!(alive(new_pid));
    assert!(gone(old_pid).await, "the old version's process exited");
    host.stop().await;
    assert!(gone(new_pid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_plugin_hands_its_state_to_the_new_process() {
    let f = Fixture::new();
    f.probe("svc", "", "reload: { handoff: true }\n");
    let host = f.start().await;
    for _ in 0..3 {
        host.call("svc", "tally", b"").await.unwrap();
    }
    let old_pid = host.call("svc", "pid", b"").await.unwrap();

    let manifest = f.plugin_dir("svc").join("plugin.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("version: 1.0.0", "version: 1.1.0")).unwrap();
    let report = within(30, host.rescan()).await.unwrap();
    assert!(
        matches!(
            &report.events[..],
            [ReloadEvent::Updated {
                handoff: Some(8),
                ..
            }]
        ),
        "{report:?}"
    );
    assert_ne!(host.call("svc", "pid", b"").await.unwrap(), old_pid);
    assert_eq!(
        host.call("svc", "tally", b"").await.unwrap(),
        b"4",
        "the new process goes on from the old one's count"
    );
    host.stop().await;
}
