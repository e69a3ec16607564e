//! Reloading a new version while calls run: the new version comes from a fresh copy, the old
//! library stays mapped (retired and leaked on purpose), and no call fails.

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use plugboard_core::manifest::RuntimeKind;
use plugboard_core::{Descriptor, HostApi, PluginInstance, Runtime, RuntimeError};
use plugboard_native::NativeRuntime;

use crate::plugins::variant;
use crate::support::Fixture;

/// The native runtime, keeping the `HostApi` and descriptor the host loads the plugin with, so
/// the test can load another version for the same plugin as a reloading host would.
#[derive(Debug)]
struct Capturing {
    inner: NativeRuntime,
    loaded: Mutex<Option<(Arc<Descriptor>, HostApi)>>,
}

#[async_trait]
impl Runtime for Capturing {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Native
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        *self.loaded.lock() = Some((descriptor.clone(), host.clone()));
        self.inner.load(descriptor, host).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_loads_from_a_fresh_copy_while_calls_to_the_old_one_run() {
    let f = Fixture::new();
    let v1 = variant(f.dir.path(), "v1.so", &[]);
    let v2 = variant(f.dir.path(), "v2.so", &["-DPB_VERSION=\"2.0.0\""]);
    let entry = f.native("variant", "1.0.0", &v1, "");
    let capturing = Arc::new(Capturing {
        inner: f.runtime.clone(),
        loaded: Mutex::new(None),
    });
    let host = f.bare_builder().runtime(capturing.clone()).build().unwrap();
    host.start().await.unwrap();
    let (d1, api) = capturing.loaded.lock().clone().unwrap();

    // The instance callers use, swapped by the "reload".
    let old = f.runtime.load(d1.clone(), api.clone()).await.unwrap();
    old.boot(serde_json::json!({})).await.unwrap();
    old.start().await.unwrap();
    let current: Arc<RwLock<Arc<dyn PluginInstance>>> = Arc::new(RwLock::new(old.clone()));
    let done = Arc::new(AtomicBool::new(false));
    let (ones, twos, failures) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (current, done) = (current.clone(), done.clone());
            let (ones, twos, failures) = (ones.clone(), twos.clone(), failures.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let instance = current.read().clone();
                    match instance.call("version", b"").now() {
                        Ok(Ok(v)) if v == b"1.0.0" => ones.fetch_add(1, Ordering::Relaxed),
                        Ok(Ok(v)) if v == b"2.0.0" => twos.fetch_add(1, Ordering::Relaxed),
                        _ => failures.fetch_add(1, Ordering::Relaxed),
                    };
                    // A call with a payload, on the same instance.
                    match host_call(&instance) {
                        true => 0,
                        false => failures.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The operator installs version 2 over the same file, in place: the running code is a
    // copy, so this cannot crash it.
    fs::write(&entry, fs::read(&v2).unwrap()).unwrap();
    let mut manifest = d1.manifest.clone();
    manifest.version = semver::Version::new(2, 0, 0);
    let d2 = Arc::new(Descriptor {
        manifest,
        ..(*d1).clone()
    });
    let new = f.runtime.load(d2, api).await.unwrap();
    new.boot(serde_json::json!({})).await.unwrap();
    new.start().await.unwrap();
    *current.write() = new.clone();
    old.stop().await.unwrap();
    old.unload().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    done.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().unwrap();
    }

    assert_eq!(failures.load(Ordering::Relaxed), 0, "no call failed");
    assert!(ones.load(Ordering::Relaxed) > 0 && twos.load(Ordering::Relaxed) > 0);
    // The retired library is still mapped: its code still answers.
    assert_eq!(old.call("version", b"").now().unwrap().unwrap(), b"1.0.0");
    assert_eq!(new.call("version", b"").now().unwrap().unwrap(), b"2.0.0");
    let memory = f.runtime.memory();
    assert_eq!(
        memory.loaded_libraries, 3,
        "the host's, the old and the new"
    );
    assert_eq!(memory.retired_libraries, 1);
    assert!(memory.retired_bytes >= fs::metadata(&v1).unwrap().len());
    // Each load was its own copy.
    let session = fs::read_dir(f.dir.path().join("state/native"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(fs::read_dir(session).unwrap().count(), 3);
    host.stop().await;
}

fn host_call(instance: &Arc<dyn PluginInstance>) -> bool {
    matches!(instance.call("echo", b"x").now(), Ok(Ok(v)) if v == b"x")
}

/// The same, through the host's own hot reload: the operator copies version 2 over the plugin's
/// files, `Host::rescan` starts it beside version 1, switches, drains and retires version 1,
/// and callers on other threads never see a failed call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_hot_reloads_a_native_plugin_under_load() {
    let f = Fixture::new();
    let v1 = variant(f.dir.path(), "v1.so", &[]);
    let v2 = variant(f.dir.path(), "v2.so", &["-DPB_VERSION=\"2.0.0\""]);
    f.native("variant", "1.0.0", &v1, "");
    let host = f.start().await;
    assert_eq!(
        host.call("variant", "version", b"").await.unwrap(),
        b"1.0.0"
    );

    let done = Arc::new(AtomicBool::new(false));
    let (ones, twos, failures) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::<String>::new())),
    );
    let callers: Vec<_> = (0..3)
        .map(|i| {
            let (host, done) = (host.clone(), done.clone());
            let (ones, twos, failures) = (ones.clone(), twos.clone(), failures.clone());
            std::thread::spawn(move || {
                let handle = host.plugin("variant").unwrap();
                while !done.load(Ordering::Relaxed) {
                    let reply = if i == 0 {
                        host.call("variant", "version", b"").now()
                    } else {
                        handle.call("version", b"").now()
                    };
                    match reply {
                        Ok(Ok(v)) if v == b"1.0.0" => ones.fetch_add(1, Ordering::Relaxed),
                        Ok(Ok(v)) if v == b"2.0.0" => twos.fetch_add(1, Ordering::Relaxed),
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

    // Version 2 copied over version 1's files, in place.
    f.native("variant", "2.0.0", &v2, "");
    let report = host.rescan().await.unwrap();
    assert!(
        matches!(&report.events[..], [plugboard_core::ReloadEvent::Updated { to, .. }] if to.to_string() == "2.0.0"),
        "{report:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    done.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().unwrap();
    }
    let failures = failures.lock().clone();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(ones.load(Ordering::Relaxed) > 0 && twos.load(Ordering::Relaxed) > 0);
    assert_eq!(
        host.call("variant", "version", b"").await.unwrap(),
        b"2.0.0"
    );
    let memory = f.runtime.memory();
    assert_eq!(
        memory.retired_libraries, 1,
        "version 1 is retired, not dlclosed"
    );
    host.stop().await;
}

/// `reload: { handoff: true }`: the pdk routes the host's export and import to the plugin's
/// `export_state` and `import_state`, so an in-memory count survives the reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_native_plugin_hands_its_state_to_the_next_load() {
    let f = Fixture::new();
    let (probe, _) = crate::plugins::rust_plugins(false);
    f.native("probe", "1.0.0", &probe, "reload: { handoff: true }\n");
    let host = f.start().await;
    for _ in 0..5 {
        host.call("probe", "tally", b"").await.unwrap();
    }
    // The operator installs the plugin again (a changed manifest is an update).
    f.native(
        "probe",
        "1.0.0",
        &probe,
        "description: reinstalled\nreload: { handoff: true }\n",
    );
    let report = host.rescan().await.unwrap();
    assert!(
        matches!(
            &report.events[..],
            [plugboard_core::ReloadEvent::Updated {
                handoff: Some(8),
                ..
            }]
        ),
        "{report:?}"
    );
    assert_eq!(host.call("probe", "tally", b"").await.unwrap(), b"6");
    assert_eq!(f.runtime.memory().retired_libraries, 1);
    host.stop().await;
}
