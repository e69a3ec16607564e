//! Hot reload of a WebAssembly plugin: a new module and manifest copied over the old ones are
//! loaded beside the running version and switched to with no failed call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use plugboard_core::ReloadEvent;

use crate::support::{guests, Fixture};

/// The `versioned` guest compiled with `version` (five bytes) as its answer.
pub(crate) fn versioned(version: &str) -> Vec<u8> {
    assert_eq!(version.len(), 5, "the guest's version string is five bytes");
    let text = std::fs::read_to_string(guests().join("versioned.wat")).unwrap();
    wat::parse_str(text.replace("\"1.0.0\"", &format!("\"{version}\""))).unwrap()
}

fn install(f: &Fixture, version: &str) {
    let dir = f.wasm("hot", &versioned(version), "wasm:\n  abi: extism\n");
    let manifest = std::fs::read_to_string(dir.join("plugin.yaml")).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        manifest.replace("version: 1.0.0", &format!("version: {version}")),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_plugin_is_replaced_under_load_with_no_failed_call() {
    let f = Fixture::new();
    install(&f, "1.0.0");
    let host = f.start().await;
    assert_eq!(host.call("hot", "version", b"").await.unwrap(), b"1.0.0");

    let done = Arc::new(AtomicBool::new(false));
    let (ones, twos) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (host, done, ones, twos, failures) = (
                host.clone(),
                done.clone(),
                ones.clone(),
                twos.clone(),
                failures.clone(),
            );
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    match futures::executor::block_on(host.call("hot", "version", b"")) {
                        Ok(v) if v == b"1.0.0" => ones.fetch_add(1, Ordering::Relaxed),
                        Ok(v) if v == b"2.0.0" => twos.fetch_add(1, Ordering::Relaxed),
                        other => {
                            failures.lock().push(format!("{other:?}"));
                            0
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;

    for (n, version) in ["2.0.0", "1.0.0", "2.0.0"].iter().enumerate() {
        install(&f, version);
        let report = host.rescan().await.unwrap();
        assert!(
            matches!(&report.events[..], [ReloadEvent::Updated { to, .. }] if to.to_string() == *version),
            "swap {n}: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    done.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().unwrap();
    }
    let failures = failures.lock().clone();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(ones.load(Ordering::Relaxed) > 0 && twos.load(Ordering::Relaxed) > 0);
    assert_eq!(host.call("hot", "version", b"").await.unwrap(), b"2.0.0");
    host.stop().await;
}
