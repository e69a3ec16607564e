//! Named sources, packages for several platforms, and `latest` resolved by the server's
//! redirect when no index lists versions.

use std::path::Path;
use std::time::Duration;

use plugboard_registry::{
    current_platform, pack_dir, pack_dir_as, publish_to_dir, Error, FetchOptions, Format,
    InstallOptions, Installer, Limits, Lockfile, Package, Want,
};

use crate::support::{keypair, package, platform_dir, sign, Host, Server};

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

fn packed(dir: &Path) -> Package {
    let (_, bytes) = pack_dir(dir).unwrap();
    Package::from_bytes(bytes, &dir.display().to_string(), Limits::default()).unwrap()
}

fn file_source(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

#[test]
fn a_package_for_several_platforms_installs_this_one() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let here = current_platform();
    let multi = packed(&platform_dir(
        scratch.path(),
        "tool",
        "1.0.0",
        &[&here, "freebsd-riscv64"],
        false,
    ));
    publish_to_dir(&multi, None, site.path(), None).unwrap();
    let yaml = format!(
        "registry:\n  url: '{}'\n  allow_unsigned: true\n",
        file_source(site.path())
    );
    let host = Host::new(&yaml, &["tool"]);
    let rt = rt();
    let mut inst = installer(&host);
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(report.installed[0].platform.as_deref(), Some(here.as_str()));
    assert_eq!(host.version_of("tool"), "1.0.0");
    // The host runs this platform's entry.
    let m = plugboard_core_free_load(&host.plugins().join("tool/plugin.yaml"));
    assert_eq!(
        m.for_platform(&here).unwrap().entry,
        format!("bin/{here}/tool")
    );

    // 2.0.0 is built for other platforms only: refused, listing them; 1.0.0 stays.
    let other = packed(&platform_dir(
        &scratch.path().join("2"),
        "tool",
        "2.0.0",
        &["freebsd-riscv64", "windows-aarch64"],
        false,
    ));
    publish_to_dir(&other, None, site.path(), None).unwrap();
    let mut opts = quick();
    opts.update_all = true;
    let mut up = Installer::new(&host.config_path(), &host.config(), opts).unwrap();
    let err = rt.block_on(up.install(up.listed())).unwrap_err();
    assert!(matches!(err, Error::Resolve { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("no entry for this platform, {here}"))
            && text.contains("built for freebsd-riscv64, windows-aarch64")
            && text.contains("tool-2.0.0.tar.gz"),
        "{text}"
    );
    assert_eq!(
        host.version_of("tool"),
        "1.0.0",
        "the previous version stays"
    );
    assert_eq!(host.installed(), ["tool"], "nothing half-written");

    // 3.0.0 lists other platforms and a portable entry: the portable one is used.
    let portable = packed(&platform_dir(
        &scratch.path().join("3"),
        "tool",
        "3.0.0",
        &["freebsd-riscv64"],
        true,
    ));
    publish_to_dir(&portable, None, site.path(), None).unwrap();
    let mut opts = quick();
    opts.update_all = true;
    let mut up = Installer::new(&host.config_path(), &host.config(), opts).unwrap();
    let report = rt.block_on(up.install(up.listed())).unwrap();
    assert_eq!(report.installed[0].platform, None);
    assert_eq!(host.version_of("tool"), "3.0.0");
}

/// Reads an installed manifest as the registry itself does.
fn plugboard_core_free_load(path: &Path) -> plugboard_manifest::Manifest {
    let text = std::fs::read_to_string(path).unwrap();
    plugboard_manifest::Manifest::from_yaml_str(&text, "plugin.yaml").unwrap()
}

#[test]
fn named_sources_with_their_own_trust_and_the_lockfile_records_them() {
    let signed_site = tempfile::tempdir().unwrap();
    let open_site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (key, public) = keypair(scratch.path(), "k");
    // `a` is signed on the registry; `b` is unsigned on the team's source, and unsigned on
    // the registry too.
    let a = package(scratch.path(), "a", "1.0.0", &[("c", "^1")]);
    publish_to_dir(&a, Some(&sign(&key, &a)), signed_site.path(), None).unwrap();
    let c = package(scratch.path(), "c", "1.0.0", &[]);
    publish_to_dir(&c, Some(&sign(&key, &c)), signed_site.path(), None).unwrap();
    let b = package(scratch.path(), "b", "2.0.0", &[]);
    publish_to_dir(&b, None, open_site.path(), None).unwrap();
    let b_on_registry = package(&scratch.path().join("r"), "b", "9.0.0", &[]);
    publish_to_dir(&b_on_registry, None, signed_site.path(), None).unwrap();

    let yaml = format!(
        "registry:\n  url: '{}'\n  trusted_keys: ['{public}']\nsources:\n  team:\n    url: '{}'\n    allow_unsigned: true\n",
        file_source(signed_site.path()),
        file_source(open_site.path())
    );
    let host = Host::new(&yaml, &["a", "{id: b, source: team}"]);
    let rt = rt();
    let mut inst = installer(&host);
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    let got: Vec<(String, String, Option<String>)> = report
        .installed
        .iter()
        .map(|i| (i.id.clone(), i.version.to_string(), i.source_name.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("a".into(), "1.0.0".into(), Some("registry".into())),
            ("b".into(), "2.0.0".into(), Some("team".into())),
            // A dependency comes from the source of the plugin that requires it.
            ("c".into(), "1.0.0".into(), Some("registry".into())),
        ]
    );
    let lock = Lockfile::load(&host.root.path().join("plugboard.lock")).unwrap();
    assert_eq!(lock.plugins["b"].source_name.as_deref(), Some("team"));
    assert_eq!(lock.plugins["a"].source_name.as_deref(), Some("registry"));
    let text = std::fs::read_to_string(host.root.path().join("plugboard.lock")).unwrap();
    assert!(text.contains("\"source_name\": \"team\""), "{text}");

    // The registry does not allow unsigned packages: `b` from there is refused, and the
    // error says where to allow it.
    let strict = Host::new(&yaml, &["{id: b, source: registry}"]);
    let mut inst = installer(&strict);
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not signed") && err.contains("under registry:"),
        "{err}"
    );
    assert!(strict.installed().is_empty());

    // A want naming a source that does not exist.
    let mut inst = installer(&host);
    let err = rt
        .block_on(inst.install(vec![Want {
            id: "z".into(),
            version: None,
            source: Some("nowhere".into()),
        }]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no source named \"nowhere\"") && err.contains("registry, team"),
        "{err}"
    );
}

#[test]
fn several_sources_and_no_registry_need_a_choice() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    publish_to_dir(
        &package(scratch.path(), "a", "1.0.0", &[]),
        None,
        one.path(),
        None,
    )
    .unwrap();
    let yaml = format!(
        "sources:\n  one:\n    url: '{}'\n    allow_unsigned: true\n  two:\n    url: '{}'\n",
        file_source(one.path()),
        file_source(two.path())
    );
    let host = Host::new(&yaml, &["a"]);
    let rt = rt();
    let mut inst = installer(&host);
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("several sources (one, two)") && err.contains("source: NAME"),
        "{err}"
    );
    // One source alone is the default.
    let yaml = format!(
        "sources:\n  one:\n    url: '{}'\n    allow_unsigned: true\n",
        file_source(one.path())
    );
    let host = Host::new(&yaml, &["a"]);
    let mut inst = installer(&host);
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(report.installed[0].source_name.as_deref(), Some("one"));
}

/// No index.json: `latest` is what the server's redirect says, as on GitHub, and the
/// lockfile pins the concrete URL.
#[test]
fn latest_follows_the_redirect_and_the_lock_pins_it() {
    let site = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let releases = site.path().join("acme/plugins/releases/download");
    for v in ["1.1.0", "1.2.0"] {
        let p = package(scratch.path(), "a", v, &[]);
        let dir = releases.join(format!("v{v}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.tar.zst"), rezstd(&p)).unwrap();
    }
    let server = Server::serve(site.path());
    server.redirect(
        "/acme/plugins/releases/latest/download/a.tar.zst",
        "/acme/plugins/releases/download/v1.1.0/a.tar.zst",
    );
    let yaml = format!(
        "registry:\n  url: '{}/{{name}}/{{repository}}/releases/{{tag}}/download/{{plugin}}.tar.zst'\n  \
         name: acme\n  repository: plugins\n  tag: latest\n  allow_unsigned: true\n",
        server.url()
    );
    let host = Host::new(&yaml, &["a"]);
    let rt = rt();
    let mut inst = installer(&host);
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    let concrete = format!(
        "{}/acme/plugins/releases/download/v1.1.0/a.tar.zst",
        server.url()
    );
    assert_eq!(report.installed[0].version.to_string(), "1.1.0");
    assert_eq!(report.installed[0].source, concrete);
    assert_eq!(inst.lockfile().plugins["a"].source, concrete);
    assert_eq!(host.version_of("a"), "1.1.0");

    // A new release: another machine with the lock still gets 1.1.0; `update` moves on.
    server.redirect(
        "/acme/plugins/releases/latest/download/a.tar.zst",
        "/acme/plugins/releases/download/v1.2.0/a.tar.zst",
    );
    let other = Host::new(&yaml, &["a"]);
    std::fs::copy(
        host.root.path().join("plugboard.lock"),
        other.root.path().join("plugboard.lock"),
    )
    .unwrap();
    let mut inst = installer(&other);
    rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(other.version_of("a"), "1.1.0");
    let mut opts = quick();
    opts.update_all = true;
    let mut up = Installer::new(&other.config_path(), &other.config(), opts).unwrap();
    let report = rt.block_on(up.install(up.listed())).unwrap();
    assert_eq!(report.installed[0].version.to_string(), "1.2.0");
    assert!(up.lockfile().plugins["a"].source.contains("/v1.2.0/"));

    // A requirement the latest release does not meet: a clear error, nothing changed.
    let pinned = Host::new(&yaml, &["{id: a, version: '~1.1'}"]);
    let mut inst = installer(&pinned);
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("1.2.0") && err.contains("~1.1"), "{err}");
    assert!(pinned.installed().is_empty());

    // A "latest" that is served directly (no redirect) cannot be pinned; a missing one is a
    // 404 that names the URL and the template.
    std::fs::create_dir_all(site.path().join("acme/plugins/releases/latest/download")).unwrap();
    std::fs::write(
        site.path()
            .join("acme/plugins/releases/latest/download/b.tar.zst"),
        rezstd(&package(scratch.path(), "b", "1.0.0", &[])),
    )
    .unwrap();
    let host = Host::new(&yaml, &["b", "ghost"]);
    let mut inst = installer(&host);
    let err = rt
        .block_on(inst.install(vec![Want::new("b")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("answered with a file rather than a redirect") && err.contains("index.json"),
        "{err}"
    );
    let err = rt
        .block_on(inst.install(vec![Want::new("ghost")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/releases/latest/download/ghost.tar.zst")
            && err.contains("404")
            && err.contains("{name}/{repository}"),
        "{err}"
    );
    assert!(host.installed().is_empty());
}

/// The same package as `.tar.zst`.
fn rezstd(p: &Package) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    plugboard_registry::unpack(&p.bytes, out.path(), Limits::default(), "p").unwrap();
    pack_dir_as(out.path(), Format::Zstd).unwrap().1
}
