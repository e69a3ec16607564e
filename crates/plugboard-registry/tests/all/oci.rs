//! A real OCI registry (the CNCF distribution registry, Debian's `docker-registry`) on a
//! loopback port: push with Plugboard, install with Plugboard, and interoperate with the `oras`
//! Python SDK in both directions; signatures checked with the `minisign` tool.

use std::path::{Path, PathBuf};
use std::process::Command;

use plugboard_registry::{publish_to_oci, InstallOptions, Installer, Want};
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
        rt.block_on(publish_to_oci(&p, Some(&sig), &reference))
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
        }]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("plugins/ghost"), "{err}");
    assert!(host.installed().is_empty());
}
