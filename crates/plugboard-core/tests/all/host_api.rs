//! The host API a plugin sees: configuration, storage and its permission, health.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use plugboard_core::manifest::HostConfig;
use plugboard_core::{CallError, Error, Health, HealthReport, Host, PluginState};
use serde_json::{json, Value};

use crate::support::{api_of, manifest, within, write_plugin_dir, ApiSlot, Journal, Probe};

const SCHEMA: &str = "config:
  schema:
    type: object
    properties:
      greeting: { type: string, default: hello }
      max_words: { type: integer, minimum: 1, default: 1000 }
    additionalProperties: false
";

/// A host configured by `config_yaml`, finding `cfg/plugin.yaml` (with `manifest_extra`) in an
/// external directory, as an operator's installation would.
fn configured(dir: &Path, config_yaml: &str, manifest_extra: &str, probe: Probe) -> Host {
    let plugins = dir.join("plugins");
    write_plugin_dir(
        &plugins,
        "cfg",
        &format!("id: cfg\nversion: 1.0.0\nruntime: builtin\nentry: cfg-entry\n{manifest_extra}"),
    );
    let text = format!("directories:\n  external: [plugins]\nstate_dir: state\n{config_yaml}");
    let config = HostConfig::from_yaml_str(&text, "config.yaml").unwrap();
    let host = Host::builder()
        .config(config, dir)
        .builtin("cfg-entry", probe.factory())
        .build()
        .unwrap();
    assert_eq!(host.state_dir(), dir.join("state"));
    assert!(host.descriptor("cfg").unwrap().dir.as_deref() == Some(plugins.join("cfg").as_path()));
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_defaults_fill_an_absent_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let seen: Arc<Mutex<Option<Value>>> = Arc::default();
    let keep = seen.clone();
    let slot = ApiSlot::default();
    let probe = Probe::new(&Journal::default())
        .keep_api(&slot)
        .on_boot(move |ctx| {
            *keep.lock() = Some(ctx.config().clone());
            Ok(())
        });
    let host = configured(tmp.path(), "", SCHEMA, probe);
    let expected = json!({"greeting": "hello", "max_words": 1000});
    // Before it runs, the host already knows the effective configuration.
    assert_eq!(host.effective_config("cfg").unwrap(), expected);
    within(10, host.start()).await.unwrap();
    assert_eq!(seen.lock().clone().unwrap(), expected);
    assert_eq!(*api_of(&slot).config(), expected);
    assert_eq!(host.effective_config("cfg").unwrap(), expected);
    assert!(matches!(
        host.effective_config("nobody").unwrap_err(),
        Error::UnknownPlugin(_)
    ));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_values_are_completed_with_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let slot = ApiSlot::default();
    let host = configured(
        tmp.path(),
        "plugins:\n  - id: cfg\n    config: { greeting: howdy }\n",
        SCHEMA,
        Probe::new(&Journal::default()).keep_api(&slot),
    );
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("cfg"), Some(PluginState::Active));
    assert_eq!(
        *api_of(&slot).config(),
        json!({"greeting": "howdy", "max_words": 1000})
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_configured_value_fails_the_plugin_with_its_pointer() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = configured(
        tmp.path(),
        "plugins:\n  - id: cfg\n    config: { max_words: many }\n",
        SCHEMA,
        Probe::new(&j),
    );
    match host.effective_config("cfg").unwrap_err() {
        Error::Config(e) => assert!(e.to_string().contains("/max_words"), "{e}"),
        other => panic!("unexpected {other:?}"),
    }
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("cfg"), Some(PluginState::Failed));
    let reason = host.status("cfg").unwrap().reason.unwrap();
    assert!(reason.starts_with("invalid configuration:"), "{reason}");
    assert!(reason.contains("/max_words"), "{reason}");
    assert!(
        !j.contains("cfg.boot"),
        "boot never sees an invalid configuration"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_may_adjust_its_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let slot = ApiSlot::default();
    let probe = Probe::new(&Journal::default())
        .keep_api(&slot)
        .on_boot(|ctx| {
            assert_eq!(ctx.config()["greeting"], "hello");
            ctx.config_mut()["greeting"] = json!("adjusted");
            Ok(())
        });
    let host = configured(tmp.path(), "", SCHEMA, probe);
    within(10, host.start()).await.unwrap();
    let expected = json!({"greeting": "adjusted", "max_words": 1000});
    assert_eq!(*api_of(&slot).config(), expected);
    assert_eq!(host.effective_config("cfg").unwrap(), expected);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_adjustment_fails_the_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let probe = Probe::new(&j).on_boot(|ctx| {
        ctx.config_mut()["max_words"] = json!(0);
        Ok(())
    });
    let host = configured(tmp.path(), "", SCHEMA, probe);
    within(10, host.start()).await.unwrap();
    assert_eq!(host.state("cfg"), Some(PluginState::Failed));
    let reason = host.status("cfg").unwrap().reason.unwrap();
    assert!(
        reason.starts_with("boot set an invalid configuration:"),
        "{reason}"
    );
    assert!(reason.contains("/max_words"), "{reason}");
    assert!(!j.contains("cfg.start"));
    host.stop().await;
}

fn storage_of(slot: &ApiSlot) -> Result<plugboard_core::PluginStore, CallError> {
    api_of(slot).storage()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_needs_the_permission() {
    let tmp = tempfile::tempdir().unwrap();
    let (allowed, denied, other) = (ApiSlot::default(), ApiSlot::default(), ApiSlot::default());
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("keeper", "permissions: {storage: true}\n"),
            Probe::new(&j).keep_api(&allowed).factory(),
        )
        .plugin(
            manifest("neighbour", "permissions: {storage: true}\n"),
            Probe::new(&j).keep_api(&other).factory(),
        )
        .plugin(
            manifest("nosy", ""),
            Probe::new(&j).keep_api(&denied).factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();

    match storage_of(&denied).unwrap_err() {
        CallError::Denied(msg) => {
            assert!(
                msg.contains("plugin nosy: storage is not permitted"),
                "{msg}"
            );
            assert!(msg.contains("permissions: { storage: true }"), "{msg}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(host
        .read_log("nosy")
        .unwrap()
        .contains("storage is not permitted"));

    let store = storage_of(&allowed).unwrap();
    assert_eq!(store.plugin().as_str(), "keeper");
    store.put(b"colour", b"blue").unwrap();
    assert_eq!(
        store.get(b"colour").unwrap().as_deref(),
        Some(b"blue".as_slice())
    );
    // Each plugin has a namespace of its own.
    let theirs = storage_of(&other).unwrap();
    assert_eq!(theirs.get(b"colour").unwrap(), None);
    theirs.put(b"colour", b"red").unwrap();
    assert_eq!(
        store.get(b"colour").unwrap().as_deref(),
        Some(b"blue".as_slice())
    );
    host.stop().await;
    drop((host, store, theirs));

    // And it outlives the host: a new host on the same state directory reads it back.
    let again = ApiSlot::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("keeper", "permissions: {storage: true}\n"),
            Probe::new(&j).keep_api(&again).factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    let store = storage_of(&again).unwrap();
    assert_eq!(
        store.get(b"colour").unwrap().as_deref(),
        Some(b"blue".as_slice())
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_narrows_what_the_manifest_asks_for() {
    let tmp = tempfile::tempdir().unwrap();
    let slot = ApiSlot::default();
    let host = configured(
        tmp.path(),
        "plugins:\n  - id: cfg\n    grant: { storage: false }\n",
        "permissions: {storage: true}\n",
        Probe::new(&Journal::default()).keep_api(&slot),
    );
    assert!(!host.effective_permissions("cfg").unwrap().storage);
    within(10, host.start()).await.unwrap();
    assert!(matches!(
        storage_of(&slot).unwrap_err(),
        CallError::Denied(_)
    ));
    host.stop().await;

    // A grant that allows it keeps the request.
    let tmp = tempfile::tempdir().unwrap();
    let slot = ApiSlot::default();
    let host = configured(
        tmp.path(),
        "plugins:\n  - id: cfg\n    grant: { storage: true }\n",
        "permissions: {storage: true}\n",
        Probe::new(&Journal::default()).keep_api(&slot),
    );
    assert!(host.effective_permissions("cfg").unwrap().storage);
    within(10, host.start()).await.unwrap();
    storage_of(&slot).unwrap().put(b"k", b"v").unwrap();
    host.stop().await;

    // A grant cannot add what the manifest does not ask for.
    let tmp = tempfile::tempdir().unwrap();
    let slot = ApiSlot::default();
    let host = configured(
        tmp.path(),
        "plugins:\n  - id: cfg\n    grant: { storage: true }\n",
        "",
        Probe::new(&Journal::default()).keep_api(&slot),
    );
    assert!(!host.effective_permissions("cfg").unwrap().storage);
    within(10, host.start()).await.unwrap();
    assert!(storage_of(&slot).is_err());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reported_by_plugins_and_asked_by_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let answer: Arc<Mutex<Option<HealthReport>>> = Arc::default();
    let asked = answer.clone();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("reporter", ""),
            Probe::new(&j)
                .on_start(|host| {
                    host.report_health(HealthReport::new(Health::Degraded, "cache is cold"));
                    Ok(())
                })
                .factory(),
        )
        .plugin(
            manifest("asked", ""),
            Probe::new(&j)
                .on_health(move || asked.lock().clone())
                .factory(),
        )
        .plugin(
            manifest("panicky", ""),
            Probe::new(&j).on_health(|| panic!("health bug")).factory(),
        )
        .plugin(manifest("quiet", ""), Probe::new(&j).factory())
        .plugin(
            manifest("off", "requires: {missing: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    let health = |id: &str| {
        let s = host.status(id).unwrap();
        (s.health, s.health_message)
    };
    assert_eq!(
        health("reporter"),
        (Some(Health::Degraded), Some("cache is cold".to_owned()))
    );
    assert!(host
        .read_log("reporter")
        .unwrap()
        .contains("health: degraded (cache is cold)"));
    assert_eq!(health("asked"), (Some(Health::Healthy), None));
    assert_eq!(
        health("off"),
        (None, None),
        "no health for a plugin that is not running"
    );

    *answer.lock() = Some(HealthReport::new(Health::Unhealthy, "disk full"));
    within(10, host.check_health()).await;
    assert_eq!(
        health("asked"),
        (Some(Health::Unhealthy), Some("disk full".to_owned()))
    );
    let (level, message) = health("panicky");
    assert_eq!(level, Some(Health::Unhealthy));
    assert!(message
        .unwrap()
        .contains("health check panicked: health bug"));
    assert_eq!(health("quiet"), (Some(Health::Healthy), None));
    // The plugin's own report stands beside the host's check; the worse one shows.
    assert_eq!(health("reporter").0, Some(Health::Degraded));

    // A later, better answer replaces the host's record.
    *answer.lock() = Some(HealthReport::new(Health::Healthy, "recovered"));
    host.check_health().await;
    assert_eq!(
        health("asked"),
        (Some(Health::Healthy), Some("recovered".to_owned()))
    );
    host.stop().await;
}
