//! A real OCI registry (the CNCF distribution registry, Debian's `docker-registry`) on a
//! loopback port: push with Plugboard, install with Plugboard, and interoperate with the `oras`
//! Python SDK in both directions; signatures checked with the `minisign` tool.

use std::path::{Path, PathBuf};
use std::process::Command;

use plugboard_registry::{publish_to_oci, InstallOptions, Installer, Login, Want};
use plugboard_test_support::OciRegistry;

use crate::support::{keypair, package, sign, tool_missing, Host};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn oras_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import oras.client"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the oras Python SDK is missing (python3 -m pip install oras); scripts/test installs it"
        );
        eprintln!("skipping the oras part: python3 -m pip install oras");
    }
    ok
}

fn python(script: &str, cwd: &Path) {
    let out = Command::new("python3")
        .args(["-c", script])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn push_install_and_oras_interop() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let (key, public) = keypair(scratch.path(), "k");
    let rt = rt();
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        let p = package(scratch.path(), "a", v, &[]);
        let sig = sign(&key, &p);
        let reference = format!("oci://{}/plugins/{{plugin}}", registry.addr());
        rt.block_on(publish_to_oci(
            &p,
            Some(&sig),
            &reference,
            &Login::anonymous(),
        ))
        .unwrap();
    }
    let yaml = format!(
        "registry:\n  url: 'oci://{}/plugins/{{plugin}}:{{version}}'\n  trusted_keys: ['{public}']\n",
        registry.addr()
    );
    let host = Host::new(&yaml, &["{id: a, version: '^1'}"]);
    let mut inst = Installer::new(
        &host.config_path(),
        &host.config(),
        InstallOptions::default(),
    )
    .unwrap();
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(report.installed[0].version.to_string(), "1.1.0");
    assert_eq!(
        report.installed[0].key.as_deref(),
        Some(key.id().to_string().as_str())
    );
    assert_eq!(
        inst.lockfile().plugins["a"].source,
        format!("oci://{}/plugins/a:1.1.0", registry.addr())
    );
    assert_eq!(host.version_of("a"), "1.1.0");

    if !oras_available() {
        return;
    }
    // Pushed by oras (a plain file layer, no signature): installed where unsigned is allowed.
    let b = package(scratch.path(), "b", "3.1.0", &[]);
    let up = scratch.path().join("upload");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::write(up.join("b-3.1.0.tar.gz"), &b.bytes).unwrap();
    python(
        &format!(
            "import oras.client\nc = oras.client.OrasClient(hostname='{0}', insecure=True)\n\
             c.push(target='{0}/plugins/b:3.1.0', files=['b-3.1.0.tar.gz'])\n",
            registry.addr()
        ),
        &up,
    );
    let open = Host::new(&format!("{yaml}  allow_unsigned: true\n"), &["b"]);
    let mut inst = Installer::new(
        &open.config_path(),
        &open.config(),
        InstallOptions::default(),
    )
    .unwrap();
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(
        report.installed[0].digest, b.digest,
        "the bytes oras pushed"
    );
    assert_eq!(open.version_of("b"), "3.1.0");

    // Pushed by Plugboard: oras pulls the package and its signature, byte for byte.
    let down = scratch.path().join("down");
    std::fs::create_dir_all(&down).unwrap();
    python(
        &format!(
            "import oras.client\nc = oras.client.OrasClient(hostname='{0}', insecure=True)\n\
             c.pull(target='{0}/plugins/a:2.0.0', outdir='.')\n",
            registry.addr()
        ),
        &down,
    );
    let pulled = std::fs::read(down.join("a-2.0.0.tar.gz")).unwrap();
    let again = package(&scratch.path().join("again"), "a", "2.0.0", &[]);
    assert_eq!(
        pulled, again.bytes,
        "reproducible packing: the same directory, the same bytes"
    );
    let sig = down.join("a-2.0.0.tar.gz.minisig");
    assert!(sig.is_file());
    minisign_verifies(
        &down.join("a-2.0.0.tar.gz"),
        &sig,
        &scratch.path().join("k.pub"),
    );
}

/// The `minisign` tool accepts Plugboard's signature.
fn minisign_verifies(file: &Path, sig: &Path, public: &PathBuf) {
    if tool_missing("minisign", "apt-get install minisign") {
        return;
    }
    let out = Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(public)
        .arg("-m")
        .arg(file)
        .arg("-x")
        .arg(sig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign -V: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("plugboard:a@2.0.0"));
}

#[test]
fn a_missing_tag_is_a_clear_error() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let yaml = format!(
        "registry:\n  url: 'oci://{}/plugins/{{plugin}}:{{version}}'\n  allow_unsigned: true\n",
        registry.addr()
    );
    let host = Host::new(&yaml, &["ghost"]);
    let mut inst = Installer::new(
        &host.config_path(),
        &host.config(),
        InstallOptions::default(),
    )
    .unwrap();
    let err = rt()
        .block_on(inst.install(vec![Want {
            id: "ghost".into(),
            version: None,
            source: None,
        }]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("plugins/ghost"), "{err}");
    assert!(host.installed().is_empty());
}

/// A registry with htpasswd logins: refused without credentials and with wrong ones (each
/// error naming the registry, where the credentials came from and what to do), accepted with
/// the right ones from config.yaml, whose secret is an environment variable.
#[test]
fn a_registry_that_needs_a_login() {
    let Some(registry) = OciRegistry::start_with_login("ci", "s3cret") else {
        return;
    };
    let addr = registry.addr().to_owned();
    let scratch = tempfile::tempdir().unwrap();
    let rt = rt();
    let p = package(scratch.path(), "private", "1.0.0", &[]);
    let reference = format!("oci://{addr}/plugins/{{plugin}}");

    let err = rt
        .block_on(publish_to_oci(&p, None, &reference, &Login::anonymous()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("the registry {addr} requires a login"))
            && err.contains(&format!("docker login {addr}"))
            && err.contains("auth:"),
        "{err}"
    );
    let err = rt
        .block_on(publish_to_oci(
            &p,
            None,
            &reference,
            &Login::basic("ci", "wrong", "the test's login"),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "the registry {addr} refused the credentials from the test's login"
        )),
        "{err}"
    );
    rt.block_on(publish_to_oci(
        &p,
        None,
        &reference,
        &Login::basic("ci", "s3cret", "the test's login"),
    ))
    .unwrap();

    // Installs: the password comes from an environment variable named in config.yaml.
    let port = addr.rsplit(':').next().unwrap();
    let good = format!("PLUGBOARD_TEST_OCI_PASSWORD_{port}");
    let bad = format!("PLUGBOARD_TEST_OCI_WRONG_{port}");
    std::env::set_var(&good, "s3cret");
    std::env::set_var(&bad, "nope");
    let config = |var: &str| {
        format!(
            "registry:\n  url: 'oci://{addr}/plugins/{{plugin}}:{{version}}'\n  allow_unsigned: true\n  \
             auth:\n    username: ci\n    password_env: {var}\n"
        )
    };
    let host = Host::new(&config(&good), &["private"]);
    let mut inst = Installer::new(
        &host.config_path(),
        &host.config(),
        InstallOptions::default(),
    )
    .unwrap();
    let report = rt.block_on(inst.install(inst.listed())).unwrap();
    assert_eq!(report.installed[0].digest, p.digest);
    assert_eq!(host.version_of("private"), "1.0.0");

    let host = Host::new(&config(&bad), &["private"]);
    let mut inst = Installer::new(
        &host.config_path(),
        &host.config(),
        InstallOptions::default(),
    )
    .unwrap();
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "refused the credentials from registry.auth (user ci, password from ${bad})"
        )),
        "{err}"
    );
    assert!(host.installed().is_empty(), "{:?}", host.installed());

    let unset = format!("PLUGBOARD_TEST_OCI_UNSET_{port}");
    let host = Host::new(&config(&unset), &["private"]);
    let mut inst = Installer::new(
        &host.config_path(),
        &host.config(),
        InstallOptions::default(),
    )
    .unwrap();
    let err = rt
        .block_on(inst.install(inst.listed()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "registry.auth.password_env: the environment variable {unset} is not set"
        )),
        "{err}"
    );
    assert!(host.installed().is_empty());
}
