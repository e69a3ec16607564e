//! Plugin directories and the host configuration, as an operator sets them up.

use plugboard_core::manifest::HostConfig;
use plugboard_core::{Host, PluginState};

use crate::support::{manifest, within, write_plugin_dir, Journal, Probe};

fn yaml(id: &str, version: &str, extra: &str) -> String {
    format!("id: {id}\nversion: {version}\nruntime: builtin\nentry: {id}\n{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_and_configuration_decide_what_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    write_plugin_dir(&one, "base", &yaml("base", "1.0.0", ""));
    // The higher version in the other directory wins.
    write_plugin_dir(&two, "base", &yaml("base", "1.1.0", ""));
    write_plugin_dir(
        &one,
        "app",
        &yaml("app", "2.0.0", "requires: {base: '^1.1'}\n"),
    );
    write_plugin_dir(&one, "off", &yaml("off", "1.0.0", ""));
    write_plugin_dir(&one, "pinned", &yaml("pinned", "1.0.0", ""));
    write_plugin_dir(&one, "unregistered", &yaml("unregistered", "1.0.0", ""));
    write_plugin_dir(&one, "broken", "id: broken\nversion: not-a-version\n");
    std::fs::create_dir_all(one.join("empty")).unwrap();

    let config = HostConfig::from_yaml_str(
        "directories:\n  external: [one, two]\nplugins:\n  - base\n  - id: off\n    enabled: false\n  - id: pinned\n    version: '^2'\n  - not-installed\n",
        "config.yaml",
    )
    .unwrap();
    let j = Journal::default();
    let mut builder = Host::builder()
        .config(config, tmp.path())
        .state_dir(tmp.path().join("state"));
    for id in ["base", "app", "off", "pinned"] {
        builder = builder.builtin(id, Probe::new(&j).factory());
    }
    let host = builder.build().unwrap();
    assert_eq!(
        host.descriptor("base").unwrap().version().to_string(),
        "1.1.0"
    );
    assert_eq!(host.shadowed().len(), 1);
    within(10, host.start()).await.unwrap();

    assert_eq!(host.state("base"), Some(PluginState::Active));
    assert_eq!(host.state("app"), Some(PluginState::Active));
    let reason = |id: &str| host.status(id).unwrap().reason.unwrap_or_default();
    assert_eq!(host.state("off"), Some(PluginState::Disabled));
    assert!(
        reason("off").contains("enabled: false"),
        "{}",
        reason("off")
    );
    assert_eq!(host.state("pinned"), Some(PluginState::Disabled));
    assert!(
        reason("pinned").contains("requires version ^2"),
        "{}",
        reason("pinned")
    );
    assert_eq!(host.state("unregistered"), Some(PluginState::Disabled));
    assert!(
        reason("unregistered").contains("no builtin plugin registered as \"unregistered\""),
        "{}",
        reason("unregistered")
    );

    let statuses = host.statuses();
    let row = |id: &str| statuses.iter().find(|s| s.id == id).unwrap();
    assert_eq!(row("base").shadowed.len(), 1);
    assert_eq!(row("base").origin, "external");
    assert_eq!(row("broken").state, PluginState::Disabled);
    assert_eq!(row("empty").state, PluginState::Disabled);
    assert!(row("empty")
        .reason
        .as_deref()
        .unwrap()
        .contains("no plugin.yaml"));
    assert_eq!(row("not-installed").origin, "missing");
    // Start order first, then the disabled ones.
    let ids: Vec<&str> = statuses.iter().take(2).map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["base", "app"]);
    assert_eq!(j.ids_of("start"), ["base", "app"]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_given_in_code_shadows_a_lower_version_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    write_plugin_dir(&dir, "dual", &yaml("dual", "1.0.0", ""));
    let config =
        HostConfig::from_yaml_str("directories:\n  external: [plugins]\n", "config.yaml").unwrap();
    let j = Journal::default();
    let mut m = manifest("dual", "");
    m.version = semver::Version::new(3, 0, 0);
    let host = Host::builder()
        .config(config, tmp.path())
        .plugin(m, Probe::new(&j).factory())
        .build()
        .unwrap();
    assert_eq!(
        host.descriptor("dual").unwrap().version().to_string(),
        "3.0.0"
    );
    assert_eq!(host.status("dual").unwrap().origin, "application");
    assert_eq!(host.shadowed().len(), 1);
}

#[test]
fn many_directories_are_all_discovered_in_order() {
    // Enough plugins that discovery spreads the parsing over threads.
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..300 {
        let id = format!("p{i:03}");
        if i % 50 == 7 {
            write_plugin_dir(tmp.path(), &id, "id: [not, an, id]\n");
        } else {
            write_plugin_dir(tmp.path(), &id, &yaml(&id, "1.0.0", ""));
        }
    }
    let found = plugboard_core::discover(None, &[tmp.path().to_path_buf()]);
    let ids: Vec<String> = found.plugins.iter().map(|d| d.id().to_string()).collect();
    let expected: Vec<String> = (0..300)
        .filter(|i| i % 50 != 7)
        .map(|i| format!("p{i:03}"))
        .collect();
    assert_eq!(ids, expected);
    let rejected: Vec<&str> = found.rejected.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(rejected, ["p007", "p057", "p107", "p157", "p207", "p257"]);
    assert!(found
        .rejected
        .iter()
        .all(|r| r.reason.contains("plugin.yaml")));
}
