//! `plugboard keygen`, `pack`, `publish`, `install`, `update`, `uninstall` and `verify`, and
//! `run` installing what is missing: the real binaries against a local HTTP server laid out
//! like GitHub releases, serving the design's `config.yaml` shape.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use plugboard_test_support::OciRegistry;

use crate::support::{fault_host, plugboard, run, Output};

const RELEASES: &str = "acme/plugins/releases/download/latest";

/// A static file server over `root` on a loopback port, for the life of the test process.
fn serve(root: &Path) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = root.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || answer(stream, &root));
        }
    });
    port
}

fn answer(mut stream: TcpStream, root: &Path) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let reply = match std::fs::read(root.join(path.trim_start_matches('/'))) {
        Ok(body) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend(body);
            r
        }
        Err(_) => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.read_to_end(&mut Vec::new());
}

fn plugin_dir(parent: &Path, id: &str, version: &str) -> PathBuf {
    let dir = parent.join(format!("{id}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("id: {id}\nversion: {version}\napi: '^1'\nruntime: builtin\nentry: probe\n"),
    )
    .unwrap();
    dir
}

/// Packs and publishes `id` `version` signed with `key` into the site; returns the package.
fn release(work: &Path, site: &Path, key: &Path, id: &str, version: &str) -> PathBuf {
    let dir = plugin_dir(&work.join("src"), id, version);
    let pkg = work.join(format!("{id}-{version}.tar.gz"));
    let (d, p) = (dir.to_str().unwrap(), pkg.to_str().unwrap());
    run(&plugboard(), work, &["pack", d, "-o", p]).code(0);
    let dest = site.join(RELEASES);
    let out = run(
        &plugboard(),
        work,
        &[
            "publish",
            p,
            "--key",
            key.to_str().unwrap(),
            "--to",
            dest.to_str().unwrap(),
        ],
    );
    out.code(0);
    pkg
}

/// The design's `config.yaml`, with name and repository filled in, the trusted key, and the
/// directory to install into.
fn design_config(port: u16, public: &str) -> String {
    format!(
        "registry:\n  url: 'http://127.0.0.1:{port}/{{name}}/{{repository}}/releases/download/{{tag}}'\n  \
         name: 'acme'\n  repository: 'plugins'\n  tag: 'latest'\n  trusted_keys: ['{public}']\n\
         logging:\n  level: 'DEBUG'\nplugins:\n  - advance-plugin\n  - sample-plugin\n\
         directories:\n  external: [plugins]\n"
    )
}

fn active(out: &Output, id: &str, version: &str) {
    let text = out.stdout();
    let row = out.row(&text, id);
    assert_eq!(row[1], version, "{text}");
    assert_eq!(row[3], "active", "{text}\n{}", out.stderr);
}

#[test]
fn install_then_run_brings_up_both_plugins() {
    let work = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let w = work.path();
    let keygen = run(&plugboard(), w, &["keygen", "release"]);
    keygen.code(0);
    let public = std::fs::read_to_string(w.join("release.pub")).unwrap();
    let public = public.lines().nth(1).unwrap().to_owned();
    assert!(keygen.stdout().contains(&public));
    let key = w.join("release.key");
    release(w, site.path(), &key, "advance-plugin", "1.0.0");
    let advance = site
        .path()
        .join(RELEASES)
        .join("advance-plugin-1.0.0.tar.gz");
    release(w, site.path(), &key, "sample-plugin", "0.4.0");
    let port = serve(site.path());

    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(h.join("config.yaml"), design_config(port, &public)).unwrap();
    let out = run(&fault_host(), h, &["install"]);
    out.code(0);
    assert!(
        out.stdout()
            .contains("installed advance-plugin 1.0.0 (sha256:"),
        "{}",
        out.stdout()
    );
    assert!(h.join("plugboard.lock").is_file());
    let out = run(&fault_host(), h, &["run", "--once"]);
    out.code(0);
    active(&out, "advance-plugin", "1.0.0");
    active(&out, "sample-plugin", "0.4.0");

    // verify: the package with its signature and the configured keys; a tampered copy fails.
    let cfg = h.join("config.yaml");
    let out = run(
        &plugboard(),
        w,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "verify",
            advance.to_str().unwrap(),
        ],
    );
    out.code(0);
    assert!(out.stdout().contains("signed by key"), "{}", out.stdout());
    let mut bytes = std::fs::read(&advance).unwrap();
    let tampered = w.join("tampered.tar.gz");
    let n = bytes.len();
    bytes[n - 12] ^= 0xff; // inside the gzip trailer: still a package, other bytes
    std::fs::write(&tampered, &bytes).unwrap();
    std::fs::copy(
        format!("{}.minisig", advance.display()),
        format!("{}.minisig", tampered.display()),
    )
    .unwrap();
    let out = run(
        &plugboard(),
        w,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "verify",
            tampered.to_str().unwrap(),
        ],
    );
    assert_ne!(
        out.code,
        Some(0),
        "a tampered package verified: {}",
        out.stdout()
    );

    // A tampered update on the server: refused, and the previous version keeps running.
    release(w, site.path(), &key, "sample-plugin", "0.5.0");
    let published = site
        .path()
        .join(RELEASES)
        .join("sample-plugin-0.5.0.tar.gz");
    let other = release(w, &w.join("elsewhere"), &key, "sample-plugin", "0.6.0");
    std::fs::copy(&other, &published).unwrap();
    let out = run(&fault_host(), h, &["update", "sample-plugin"]);
    out.code(1);
    assert!(
        out.stderr.contains("digest mismatch") && out.stderr.contains("sample-plugin-0.5.0.tar.gz"),
        "{}",
        out.stderr
    );
    let out = run(&fault_host(), h, &["run", "--once"]);
    out.code(0);
    active(&out, "sample-plugin", "0.4.0");
    let names: Vec<String> = std::fs::read_dir(h.join("plugins"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no staging directory left: {names:?}");

    // uninstall, then `run` installs what is missing by itself.
    run(&fault_host(), h, &["uninstall", "advance-plugin"]).code(0);
    assert!(!h.join("plugins/advance-plugin").exists());
    let out = run(&fault_host(), h, &["run", "--once"]);
    out.code(0);
    assert!(
        out.stderr.contains("installed advance-plugin 1.0.0"),
        "{}",
        out.stderr
    );
    active(&out, "advance-plugin", "1.0.0");

    // Offline, `run` does not reach for the network: it says what to do.
    run(&fault_host(), h, &["uninstall", "advance-plugin"]).code(0);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("  tag: 'latest'\n", "  tag: 'latest'\n  offline: true\n"),
    )
    .unwrap();
    let out = run(&fault_host(), h, &["run", "--once"]);
    out.code(2);
    assert!(
        out.stderr.contains("offline") && out.stderr.contains("plugboard install"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_keys_and_missing_directories_are_explained() {
    let work = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let w = work.path();
    run(&plugboard(), w, &["keygen", "release"]).code(0);
    run(&plugboard(), w, &["keygen", "stranger"]).code(0);
    let stranger = std::fs::read_to_string(w.join("stranger.pub")).unwrap();
    let stranger = stranger.lines().nth(1).unwrap().to_owned();
    release(
        w,
        site.path(),
        &w.join("release.key"),
        "advance-plugin",
        "1.0.0",
    );
    release(
        w,
        site.path(),
        &w.join("release.key"),
        "sample-plugin",
        "1.0.0",
    );
    let port = serve(site.path());
    let host = tempfile::tempdir().unwrap();
    std::fs::write(
        host.path().join("config.yaml"),
        design_config(port, &stranger),
    )
    .unwrap();
    let out = run(&fault_host(), host.path(), &["install"]);
    out.code(1);
    assert!(
        out.stderr.contains("which is not trusted") && out.stderr.contains("registry.trusted_keys"),
        "{}",
        out.stderr
    );
    assert!(!host.path().join("plugins/advance-plugin").exists());

    let text = design_config(port, &stranger).replace("directories:\n  external: [plugins]\n", "");
    std::fs::write(host.path().join("config.yaml"), text).unwrap();
    let out = run(&fault_host(), host.path(), &["install"]);
    out.code(2);
    assert!(
        out.stderr.contains("no external plugin directory")
            && out.stderr.contains("external: [plugins]"),
        "{}",
        out.stderr
    );
}

#[test]
fn publish_to_and_install_from_an_oci_registry() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    run(&plugboard(), w, &["keygen", "release"]).code(0);
    let public = std::fs::read_to_string(w.join("release.pub")).unwrap();
    let public = public.lines().nth(1).unwrap().to_owned();
    let to = format!("oci://{}/plugins/{{plugin}}", registry.addr());
    for (id, v) in [
        ("advance-plugin", "1.0.0"),
        ("advance-plugin", "1.1.0"),
        ("sample-plugin", "2.0.0"),
    ] {
        let dir = plugin_dir(&w.join("src"), id, v);
        let out = run(
            &plugboard(),
            w,
            &[
                "publish",
                dir.to_str().unwrap(),
                "--key",
                "release.key",
                "--to",
                &to,
            ],
        );
        out.code(0);
        assert!(
            out.stdout().contains(&format!("pushed {id} {v}")),
            "{}",
            out.stdout()
        );
    }
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(
        h.join("config.yaml"),
        format!(
            "registry:\n  url: 'oci://{}/plugins/{{plugin}}:{{version}}'\n  trusted_keys: ['{public}']\n\
             plugins:\n  - {{id: advance-plugin, version: '~1.0'}}\n  - sample-plugin\n\
             directories:\n  external: [plugins]\n",
            registry.addr()
        ),
    )
    .unwrap();
    let out = run(&fault_host(), h, &["install"]);
    out.code(0);
    assert!(
        out.stdout().contains("installed advance-plugin 1.0.0"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("signed by"), "{}", out.stdout());
    let out = run(&fault_host(), h, &["run", "--once"]);
    out.code(0);
    active(&out, "advance-plugin", "1.0.0");
    active(&out, "sample-plugin", "2.0.0");
    let lock = std::fs::read_to_string(h.join("plugboard.lock")).unwrap();
    assert!(
        lock.contains(&format!(
            "oci://{}/plugins/sample-plugin:2.0.0",
            registry.addr()
        )),
        "{lock}"
    );
}

/// `pack --zstd` (or an output named `.tar.zst`) makes a zstd package, reproducibly;
/// `verify` and `install` read it by its bytes, whatever its name.
#[test]
fn zstd_packages_pack_verify_and_install() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    run(&plugboard(), w, &["keygen", "release"]).code(0);
    let public = std::fs::read_to_string(w.join("release.pub")).unwrap();
    let public = public.lines().nth(1).unwrap().to_owned();
    let dir = plugin_dir(&w.join("src"), "zed", "1.0.0");
    let d = dir.to_str().unwrap();
    let out = run(&plugboard(), w, &["pack", d, "--zstd"]);
    out.code(0);
    assert!(
        out.stdout().starts_with("zed-1.0.0.tar.zst sha256:"),
        "{}",
        out.stdout()
    );
    let first = std::fs::read(w.join("zed-1.0.0.tar.zst")).unwrap();
    assert_eq!(&first[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    run(&plugboard(), w, &["pack", d, "-o", "again.tar.zst"]).code(0);
    assert_eq!(
        std::fs::read(w.join("again.tar.zst")).unwrap(),
        first,
        "the same directory, the same bytes"
    );
    let out = run(&plugboard(), w, &["pack", d, "--zstd", "-o", "x.tar.gz"]);
    out.code(2);
    assert!(out.stderr.contains("disagree"), "{}", out.stderr);

    // Signed into a registry directory, then installed from a copy named without extension.
    let site = w.join("site");
    run(
        &plugboard(),
        w,
        &[
            "publish",
            "zed-1.0.0.tar.zst",
            "--key",
            "release.key",
            "--to",
            site.to_str().unwrap(),
        ],
    )
    .code(0);
    assert!(site.join("zed-1.0.0.tar.zst.minisig").is_file());
    let index = std::fs::read_to_string(site.join("index.json")).unwrap();
    assert!(index.contains("zed-1.0.0.tar.zst"), "{index}");
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(
        h.join("config.yaml"),
        format!("registry:\n  trusted_keys: ['{public}']\ndirectories:\n  external: [plugins]\n"),
    )
    .unwrap();
    let pkg = h.join("zed-package");
    std::fs::copy(site.join("zed-1.0.0.tar.zst"), &pkg).unwrap();
    std::fs::copy(
        site.join("zed-1.0.0.tar.zst.minisig"),
        h.join("zed-package.minisig"),
    )
    .unwrap();
    let out = run(&plugboard(), h, &["verify", pkg.to_str().unwrap()]);
    out.code(0);
    assert!(out.stdout().contains("zed 1.0.0"), "{}", out.stdout());
    let out = run(&plugboard(), h, &["install", pkg.to_str().unwrap()]);
    out.code(0);
    assert!(
        out.stdout().contains("installed zed 1.0.0"),
        "{}",
        out.stdout()
    );
    assert!(h.join("plugins/zed/plugin.yaml").is_file());
}

/// A registry that needs a login: the credentials `docker login` stored in Docker's
/// config.json (`$DOCKER_CONFIG`) serve `publish` and `install`; without them, the error says
/// what to do.
#[test]
fn docker_config_logs_into_a_registry() {
    let Some(registry) = OciRegistry::start_with_login("deploy", "t0ps3cret") else {
        return;
    };
    let addr = registry.addr();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let docker = w.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    // base64("deploy:t0ps3cret"), as `docker login` writes it.
    std::fs::write(
        docker.join("config.json"),
        format!("{{\"auths\": {{\"{addr}\": {{\"auth\": \"ZGVwbG95OnQwcHMzY3JldA==\"}}}}}}"),
    )
    .unwrap();
    let empty = w.join("no-docker");
    std::fs::create_dir_all(&empty).unwrap();
    let dir = plugin_dir(&w.join("src"), "secret-plugin", "1.0.0");
    let to = format!("oci://{addr}/plugins/{{plugin}}");
    let publish = |docker_dir: &Path| {
        let mut cmd = crate::support::command(&plugboard(), w);
        cmd.env("DOCKER_CONFIG", docker_dir)
            .args(["publish", dir.to_str().unwrap(), "--to", &to]);
        crate::support::finish(cmd)
    };
    let out = publish(&empty);
    out.code(1);
    assert!(
        out.stderr
            .contains(&format!("the registry {addr} requires a login"))
            && out.stderr.contains(&format!("docker login {addr}")),
        "{}",
        out.stderr
    );
    publish(&docker).code(0);

    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(
        h.join("config.yaml"),
        format!(
            "sources:\n  private:\n    url: 'oci://{addr}/plugins/{{plugin}}:{{version}}'\n    allow_unsigned: true\n\
             plugins:\n  - {{id: secret-plugin, source: private}}\ndirectories:\n  external: [plugins]\n"
        ),
    )
    .unwrap();
    let install = |docker_dir: &Path| {
        let mut cmd = crate::support::command(&fault_host(), h);
        cmd.env("DOCKER_CONFIG", docker_dir).arg("install");
        crate::support::finish(cmd)
    };
    let out = install(&empty);
    out.code(1);
    assert!(out.stderr.contains("requires a login"), "{}", out.stderr);
    assert!(!h.join("plugins/secret-plugin").exists());
    let out = install(&docker);
    out.code(0);
    assert!(
        out.stdout().contains("installed secret-plugin 1.0.0")
            && out.stdout().contains("source private"),
        "{}",
        out.stdout()
    );
    let lock = std::fs::read_to_string(h.join("plugboard.lock")).unwrap();
    assert!(lock.contains("\"source_name\": \"private\""), "{lock}");
}
