//! Installs over HTTP from a registry directory laid out like GitHub releases, with the
//! lockfile, the cache, signatures and a misbehaving server.

use std::path::Path;
use std::time::Duration;

use plugboard_registry::{
    publish_to_dir, Error, FetchOptions, InstallOptions, Installer, Lockfile, Package, Want,
};

use crate::support::{keypair, package, sign, Fault, Host, Server};

const RELEASES: &str = "acme/plugins/releases/download/latest";

/// The design's `registry:` block, pointing at the local server.
fn registry_yaml(server: &Server, extra: &str) -> String {
    format!(
        "registry:\n  url: '{}/{{name}}/{{repository}}/releases/download/{{tag}}'\n  name: 'acme'\n  \
         repository: 'plugins'\n  tag: 'latest'\n{extra}",
        server.url()
    )
}

fn keys_yaml(public: &[&str]) -> String {
    let mut s = "  trusted_keys:\n".to_owned();
    for k in public {
        s.push_str(&format!("    - '{k}'\n"));
    }
    s
}

fn quick() -> InstallOptions {
    InstallOptions {
        fetch: FetchOptions {
            backoff: Duration::from_millis(20),
            ..FetchOptions::default()
        },
        ..InstallOptions::default()
    }
}

fn installer(host: &Host) -> Installer {
    Installer::new(&host.config_path(), &host.config(), quick()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn publish(site: &Path, p: &Package, sig: Option<&str>) {
    publish_to_dir(p, sig, &site.join(RELEASES), None).unwrap();
}

#[test]
fn github_layout_install_lock_and_second_machine() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (key, public) = keypair(scratch.path(), "k");
    for (id, v) in [
        ("advance-plugin", "1.0.0"),
        ("advance-plugin", "1.3.0"),
        ("sample-plugin", "0.2.0"),
    ] {
        let p = package(scratch.path(), id, v, &[]);
        publish(site.path(), &p, Some(&sign(&key, &p)));
    }
    let server = Server::serve(site.path());
    let yaml = registry_yaml(&server, &keys_yaml(&[&public]));
    let host = Host::new(&yaml, &["advance-plugin", "sample-plugin"]);
    let rt = rt();
    let mut inst = installer(&host);
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(report.installed.len(), 2, "{report:?}");
    assert_eq!(
        host.version_of("advance-plugin"),
        "1.3.0",
        "the newest version"
    );
    assert!(report
        .installed
        .iter()
        .all(|i| i.key.as_deref() == Some(&key.id().to_string())));
    assert_eq!(
        host.installed(),
        ["advance-plugin", "sample-plugin"],
        "no staging left behind"
    );
    let lock = Lockfile::load(&host.root.path().join("plugboard.lock")).unwrap();
    assert_eq!(lock.plugins["advance-plugin"].version.to_string(), "1.3.0");

    // Installing again changes nothing and downloads nothing.
    let before = server.requests.lock().unwrap().len();
    let report = rt
        .block_on(installer(&host).install(inst.listed()))
        .unwrap();
    assert_eq!(report.unchanged.len(), 2);
    assert_eq!(server.requests.lock().unwrap().len(), before);

    // Another machine with the lockfile: a newer version appears, the lock still wins.
    let p = package(scratch.path(), "advance-plugin", "1.4.0", &[]);
    publish(site.path(), &p, Some(&sign(&key, &p)));
    let other = Host::new(&yaml, &["advance-plugin", "sample-plugin"]);
    std::fs::copy(
        host.root.path().join("plugboard.lock"),
        other.root.path().join("plugboard.lock"),
    )
    .unwrap();
    rt.block_on(installer(&other).install(inst.listed()))
        .unwrap();
    assert_eq!(other.version_of("advance-plugin"), "1.3.0");

    // The locked bytes change on the server: a third machine refuses them.
    let locked = site
        .path()
        .join(RELEASES)
        .join("sample-plugin-0.2.0.tar.gz");
    let evil = package(scratch.path(), "sample-plugin", "0.2.0", &[("x", "^1")]);
    std::fs::write(&locked, &evil.bytes).unwrap();
    std::fs::write(format!("{}.minisig", locked.display()), sign(&key, &evil)).unwrap();
    let third = Host::new(&yaml, &["advance-plugin", "sample-plugin"]);
    std::fs::copy(
        host.root.path().join("plugboard.lock"),
        third.root.path().join("plugboard.lock"),
    )
    .unwrap();
    let err = rt
        .block_on(installer(&third).install(inst.listed()))
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("sample-plugin-0.2.0.tar.gz"),
        "{err}"
    );
    assert!(
        third.installed().is_empty(),
        "nothing installed: {:?}",
        third.installed()
    );

    // `update` moves to the newest version and rewrites the lock.
    let mut opts = quick();
    opts.update.insert("advance-plugin".into());
    let mut up = Installer::new(&other.config_path(), &other.config(), opts).unwrap();
    let report = rt
        .block_on(up.install(vec![Want {
            id: "advance-plugin".into(),
            version: None,
            source: None,
        }]))
        .unwrap();
    assert_eq!(report.installed[0].version.to_string(), "1.4.0");
    assert_eq!(other.version_of("advance-plugin"), "1.4.0");
    assert_eq!(
        up.lockfile().plugins["advance-plugin"].version.to_string(),
        "1.4.0"
    );
}

#[test]
fn semver_requirements_and_dependencies() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    for (id, v, req) in [
        ("app", "1.0.0", vec![("lib", "^1.1")]),
        ("app", "2.0.0", vec![("lib", "^2")]),
        ("lib", "1.0.0", vec![]),
        ("lib", "1.2.0", vec![("base", "*")]),
        ("lib", "2.0.0", vec![]),
        ("base", "0.1.0", vec![]),
    ] {
        publish(site.path(), &package(scratch.path(), id, v, &req), None);
    }
    let server = Server::serve(site.path());
    let host = Host::new(
        &registry_yaml(&server, "  allow_unsigned: true\n"),
        &["{id: app, version: '^1'}"],
    );
    let rt = rt();
    let mut inst = installer(&host);
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    let got: Vec<(String, String, Option<String>)> = report
        .installed
        .iter()
        .map(|i| (i.id.clone(), i.version.to_string(), i.required_by.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("app".into(), "1.0.0".into(), None),
            ("base".into(), "0.1.0".into(), Some("lib".into())),
            ("lib".into(), "1.2.0".into(), Some("app".into())),
        ]
    );
    let err = rt
        .block_on(installer(&host).install(vec![Want {
            id: "app".into(),
            version: Some("^3".parse().unwrap()),
            source: None,
        }]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no version matching ^3") && err.contains("1.0.0, 2.0.0"),
        "{err}"
    );
}

#[test]
fn offline_uses_only_the_lock_and_the_cache() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    publish(
        site.path(),
        &package(scratch.path(), "a", "1.0.0", &[]),
        None,
    );
    let server = Server::serve(site.path());
    let yaml = registry_yaml(&server, "  allow_unsigned: true\n");
    let host = Host::new(&yaml, &["a"]);
    let rt = rt();
    let mut inst = installer(&host);
    rt.block_on(inst.install(inst.listed())).unwrap();
    drop(server); // no network from here on
    std::fs::remove_dir_all(host.plugins().join("a")).unwrap();
    let mut offline = quick();
    offline.offline = true;
    let mut inst = Installer::new(&host.config_path(), &host.config(), offline.clone()).unwrap();
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    assert!(report.installed[0].from_cache);
    assert_eq!(host.version_of("a"), "1.0.0");

    // Not in the lock: offline says what to do.
    let fresh = Host::new(&yaml, &["a"]);
    let mut inst = Installer::new(&fresh.config_path(), &fresh.config(), offline).unwrap();
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("offline") && err.contains("plugboard install"),
        "{err}"
    );
}

#[test]
fn signatures_are_required_and_checked() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (key, public) = keypair(scratch.path(), "trusted");
    let (stranger, _) = keypair(scratch.path(), "stranger");
    let good = package(scratch.path(), "a", "1.0.0", &[]);
    publish(site.path(), &good, Some(&sign(&key, &good)));
    let server = Server::serve(site.path());
    let host = Host::new(&registry_yaml(&server, &keys_yaml(&[&public])), &["a"]);
    let rt = rt();
    let mut inst = installer(&host);
    rt.block_on(inst.install(inst.listed())).unwrap();

    let cases: Vec<(&str, Package, Option<String>, String)> = vec![
        (
            "unsigned",
            package(scratch.path(), "a", "1.1.0", &[]),
            None,
            "is not signed".into(),
        ),
        (
            "unknown key",
            package(scratch.path(), "a", "1.2.0", &[]),
            Some("stranger".into()),
            format!("key {}, which is not trusted", stranger.id()),
        ),
        (
            "wrong signature",
            package(scratch.path(), "a", "1.3.0", &[]),
            Some("other".into()),
            "does not match the package".into(),
        ),
        (
            "moved signature",
            package(scratch.path(), "a", "1.4.0", &[]),
            Some("moved".into()),
            "is for a@1.0.0, not a@1.4.0".into(),
        ),
    ];
    for (what, p, how, expected) in cases {
        let sig = match how.as_deref() {
            None => None,
            Some("stranger") => Some(sign(&stranger, &p)),
            Some("other") => Some(sign(&key, &package(scratch.path(), "z", "9.9.9", &[]))),
            // Same key, same bytes-independent comment trick: a valid signature of another version.
            _ => {
                let mut fake = p.clone();
                fake.manifest.version = "1.0.0".parse().unwrap();
                Some(key.sign(&p.bytes, "a", "1.0.0").unwrap())
            }
        };
        publish(site.path(), &p, sig.as_deref());
        let mut opts = quick();
        opts.update_all = true;
        let mut up = Installer::new(&host.config_path(), &host.config(), opts).unwrap();
        let err = rt
            .block_on(up.install(vec![Want {
                id: "a".into(),
                version: Some(format!("={}", p.manifest.version).parse().unwrap()),
                source: None,
            }]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&expected), "{what}: {err}");
        assert!(
            err.contains(&format!("a-{}.tar.gz", p.manifest.version)),
            "{what} names the package: {err}"
        );
        assert_eq!(
            host.version_of("a"),
            "1.0.0",
            "{what}: the previous version stays"
        );
        assert_eq!(host.installed(), ["a"], "{what}: nothing half-written");
    }
}

#[test]
fn broken_connections_are_retried_then_reported() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let big = package(scratch.path(), "a", "1.0.0", &[]);
    publish(site.path(), &big, None);
    let server = Server::serve(site.path());
    let path = format!("/{RELEASES}/a-1.0.0.tar.gz");
    let yaml = registry_yaml(&server, "  allow_unsigned: true\n");
    let rt = rt();

    // Dropped once: the retry gets it.
    server.fault(&path, Fault::DropMidBody(1));
    let host = Host::new(&yaml, &["a"]);
    let mut inst = installer(&host);
    rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(server.count(&path), 2);

    // Dropped every time: a clear error, nothing installed.
    server.fault(&path, Fault::DropMidBody(usize::MAX));
    let host = Host::new(&yaml, &["a"]);
    let mut inst = installer(&host);
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("connection broke") && err.contains("gave up after 4 attempts"),
        "{err}"
    );
    assert!(err.contains(&path), "{err}");
    assert!(host.installed().is_empty(), "{:?}", host.installed());

    // A 404 names the URL and the template.
    let host = Host::new(&yaml, &["{id: nope, version: '=1.0.0'}"]);
    let mut inst = installer(&host);
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no version matching =1.0.0"), "{err}");
    std::fs::remove_file(site.path().join(RELEASES).join("index.json")).unwrap();
    let mut inst = installer(&host);
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("404")
            && err.contains("/nope-1.0.0.tar.gz")
            && err.contains("{name}/{repository}"),
        "{err}"
    );
}

#[test]
fn a_local_directory_source_and_no_install_dir() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    publish_to_dir(
        &package(scratch.path(), "a", "1.0.0", &[]),
        None,
        site.path(),
        None,
    )
    .unwrap();
    let yaml = format!(
        "registry:\n  url: 'file://{}'\n  allow_unsigned: true\n",
        site.path().display()
    );
    let host = Host::new(&yaml, &["a"]);
    let mut inst = installer(&host);
    rt().block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(host.version_of("a"), "1.0.0");
    let err = inst
        .uninstall(&["../plugins".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a plugin id"), "{err}");
    assert_eq!(inst.uninstall(&["a".into()]).unwrap(), ["a"]);
    assert!(host.installed().is_empty());
    assert!(!inst.lockfile().plugins.contains_key("a"));

    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("config.yaml"), "plugins: [a]\n").unwrap();
    let config = plugboard_manifest::HostConfig::from_yaml_str("plugins: [a]\n", "c").unwrap();
    let err = Installer::new(&root.path().join("config.yaml"), &config, quick())
        .unwrap_err()
        .to_string();
    assert!(err.contains("external: [plugins]"), "{err}");
}

#[test]
fn a_package_file_installs_with_its_signature() {
    let scratch = tempfile::tempdir().unwrap();
    let (key, public) = keypair(scratch.path(), "k");
    let p = package(scratch.path(), "local", "0.3.0", &[]);
    let file = scratch.path().join("local-0.3.0.tar.gz");
    std::fs::write(&file, &p.bytes).unwrap();
    let host = Host::new(&format!("registry:\n{}", keys_yaml(&[&public])), &[]);
    let rt = rt();
    let mut inst = installer(&host);
    let err = rt
        .block_on(inst.install_packages(std::slice::from_ref(&file)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not signed"), "{err}");
    assert!(host.installed().is_empty());
    std::fs::write(format!("{}.minisig", file.display()), sign(&key, &p)).unwrap();
    let report = rt
        .block_on(inst.install_packages(std::slice::from_ref(&file)))
        .unwrap();
    assert_eq!(
        report.installed[0].source,
        format!("file://{}", file.display())
    );
    assert_eq!(host.version_of("local"), "0.3.0");
}

/// A hostile package with a correct digest (its publisher is the attacker): refused by the
/// unpacker, the staging directory removed, the previous version left running.
#[test]
fn hostile_packages_leave_the_previous_version() {
    use crate::archive::{gzip, raw_archive};
    use tar::{EntryType, Header};

    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    publish(
        site.path(),
        &package(scratch.path(), "a", "1.0.0", &[]),
        None,
    );
    let server = Server::serve(site.path());
    let host = Host::new(&registry_yaml(&server, "  allow_unsigned: true\n"), &["a"]);
    let rt = rt();
    let mut inst = installer(&host);
    rt.block_on(inst.install(inst.listed())).unwrap();

    let manifest = |v: &str| format!("id: a\nversion: {v}\nruntime: builtin\nentry: probe\n");
    let m2 = manifest("2.0.0");
    let m3 = manifest("3.0.0");
    let mut huge = Vec::new();
    let mut h = Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(10 << 30);
    h.set_cksum();
    huge.extend_from_slice(h.as_bytes());
    huge.extend(std::iter::repeat_n(0u8, 1 << 20));
    let evil: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "2.0.0",
            raw_archive(&[
                ("plugin.yaml", EntryType::Regular, m2.as_bytes(), None),
                ("../../escape", EntryType::Regular, b"x", None),
            ]),
            "leaves the package",
        ),
        (
            "3.0.0",
            raw_archive(&[
                ("plugin.yaml", EntryType::Regular, m3.as_bytes(), None),
                ("etc", EntryType::Symlink, b"", Some("../../../etc")),
            ]),
            "outside the package",
        ),
        ("4.0.0", gzip(&huge), "size limit"),
    ];
    let dir = site.path().join(RELEASES);
    for (version, bytes, expected) in evil {
        let file = format!("a-{version}.tar.gz");
        std::fs::write(dir.join(&file), &bytes).unwrap();
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        index["plugins"]["a"][version] = serde_json::json!({
            "file": file,
            "digest": plugboard_registry::Digest::of(&bytes).to_string(),
        });
        std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
        let mut opts = quick();
        opts.update_all = true;
        let mut up = Installer::new(&host.config_path(), &host.config(), opts).unwrap();
        let err = rt
            .block_on(up.install(up.listed()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(expected) && err.contains(&file),
            "{version}: {err}"
        );
        assert_eq!(
            host.installed(),
            ["a"],
            "{version}: no staging directory left"
        );
        assert_eq!(
            host.version_of("a"),
            "1.0.0",
            "{version}: the previous version stays"
        );
        assert!(!host.root.path().join("escape").exists());
    }
}

#[test]
fn platform_packages_are_chosen_by_os_and_arch() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dir = site.path().join(RELEASES);
    let here = plugboard_registry::current_platform();
    let mine = package(scratch.path(), "native", "2.0.0", &[]);
    let theirs = package(
        &scratch.path().join("other"),
        "native",
        "2.0.0",
        &[("x", "*")],
    );
    publish_to_dir(&theirs, None, &dir, Some("plan9-mips")).unwrap();
    let err = {
        let server = Server::serve(site.path());
        let host = Host::new(
            &registry_yaml(&server, "  allow_unsigned: true\n"),
            &["native"],
        );
        let mut inst = installer(&host);
        rt().block_on(inst.install(inst.listed()))
            .unwrap_err()
            .to_string()
    };
    assert!(err.contains(&format!("no version for {here}")), "{err}");
    let path = publish_to_dir(&mine, None, &dir, Some(&here)).unwrap();
    assert!(path.ends_with(format!("native-2.0.0-{here}.tar.gz")));
    let server = Server::serve(site.path());
    let host = Host::new(
        &registry_yaml(&server, "  allow_unsigned: true\n"),
        &["native"],
    );
    let mut inst = installer(&host);
    let report = rt().block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(report.installed[0].digest, mine.digest);
}
