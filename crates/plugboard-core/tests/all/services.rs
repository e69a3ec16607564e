//! The service registry: registered in `start`, resolved by declared dependents, withdrawn on
//! stop.

use std::sync::Arc;

use parking_lot::Mutex;
use plugboard_core::manifest::PluginId;
use plugboard_core::{CallError, Host, HostApi, PluginError, PluginState, Service};

use crate::support::{manifest, within, Journal, Probe};

fn kv_service() -> Arc<dyn Service> {
    Arc::new(
        |method: &str, payload: &[u8]| -> Result<Vec<u8>, CallError> {
            match method {
                "get" => Ok([b"value of ".as_slice(), payload].concat()),
                other => Err(CallError::plugin("kv", format!("no {other}"))),
            }
        },
    )
}

fn register(id: &'static str) -> impl Fn(&HostApi) -> Result<(), PluginError> + Send + Sync {
    move |host: &HostApi| {
        host.register_service(id, kv_service())
            .map_err(|e| PluginError::new(e.to_string()))
    }
}

/// A plugin whose `use` call resolves `kv.store` and calls its `get`.
fn user(j: &Journal, api: Option<Arc<Mutex<Option<HostApi>>>>) -> Probe {
    Probe::new(j)
        .on_start(move |host| {
            if let Some(keep) = &api {
                *keep.lock() = Some(host.clone());
            }
            Ok(())
        })
        .on_call(|host, _, payload| {
            let service = host.service("kv.store")?;
            assert_eq!(service.provider().as_str(), "kv");
            assert_eq!(service.id(), "kv.store");
            service
                .call("get", payload)
                .now()
                .expect("a closure service answers at once")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_dependent_resolves_a_service_and_an_undeclared_plugin_is_denied() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let seen_in_start: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let seen = seen_in_start.clone();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("kv", ""),
            Probe::new(&j).on_start(register("kv.store")).factory(),
        )
        .plugin(
            manifest("user", "requires: {kv: '^1'}\n"),
            user(&j, None).factory(),
        )
        .plugin(
            manifest("optional-user", "optional: {kv: '*'}\n"),
            user(&j, None).factory(),
        )
        .plugin(manifest("stranger", ""), user(&j, None).factory())
        .plugin(
            manifest("early", "requires: {kv: '*'}\n"),
            Probe::new(&j)
                .on_start(move |host| {
                    // The provider started first, so its service is there during `start`.
                    let s = host.service("kv.store").map_err(|e| e.to_string())?;
                    *seen.lock() = Some(s.call("get", b"early").now().unwrap().unwrap());
                    Ok(())
                })
                .factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    assert_eq!(
        seen_in_start.lock().as_deref(),
        Some(b"value of early".as_slice())
    );
    assert_eq!(
        host.services_of(&PluginId::new("kv").unwrap()),
        ["kv.store"]
    );
    assert_eq!(host.call("user", "use", b"k").await.unwrap(), b"value of k");
    assert_eq!(
        host.call("optional-user", "use", b"o").await.unwrap(),
        b"value of o"
    );
    match host.call("stranger", "use", b"k").await.unwrap_err() {
        CallError::Denied(msg) => {
            assert!(
                msg.contains("plugin stranger may not use services of kv"),
                "{msg}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_is_withdrawn_when_its_provider_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let api: Arc<Mutex<Option<HostApi>>> = Arc::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("kv", ""),
            Probe::new(&j).on_start(register("kv.store")).factory(),
        )
        .plugin(
            manifest("user", "requires: {kv: '^1'}\n"),
            user(&j, Some(api.clone())).factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    let api = api.lock().clone().unwrap();
    assert!(api.service("kv.store").is_ok());
    within(10, host.stop()).await;
    assert_eq!(host.state("kv"), Some(PluginState::Unloaded));
    assert!(host.services_of(&PluginId::new("kv").unwrap()).is_empty());
    match api.service("kv.store").unwrap_err() {
        CallError::Denied(msg) => assert!(msg.contains("no service \"kv.store\""), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_service_id_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("kv", ""),
            Probe::new(&j).on_start(register("kv.store")).factory(),
        )
        .plugin(
            manifest("copycat", "requires: {kv: '*'}\n"),
            Probe::new(&j).on_start(register("kv.store")).factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("copycat"), Some(PluginState::Failed));
    let reason = host.status("copycat").unwrap().reason.unwrap();
    assert!(
        reason.contains("service \"kv.store\" is already registered by kv"),
        "{reason}"
    );
    // The original stays.
    assert_eq!(
        host.services_of(&PluginId::new("kv").unwrap()),
        ["kv.store"]
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_after_registering_withdraws_its_services() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("flaky", ""),
            Probe::new(&j)
                .on_start(|host| {
                    register("flaky.store")(host)?;
                    Err("gave up after registering".into())
                })
                .factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("flaky"), Some(PluginState::Failed));
    assert!(host
        .services_of(&PluginId::new("flaky").unwrap())
        .is_empty());
    host.stop().await;
}
