//! Every way a library can be refused, each with a message that names the plugin and the file
//! and says what to do.

use std::fs;

use plugboard_core::{Descriptor, PluginState, Runtime};
use plugboard_native::NativeRuntime;

use crate::plugins::{rust_plugins, variant};
use crate::support::Fixture;

/// Starts a host and returns the reason `variant` failed, after checking `check` says the same.
async fn failure(f: &Fixture, id: &str) -> String {
    let host = f.builder().build();
    let host = match host {
        Ok(host) => host,
        Err(e) => return e.to_string(),
    };
    host.start().await.unwrap();
    let status = host.status(id).unwrap();
    let reason = status.reason.clone().unwrap_or_default();
    assert!(
        matches!(status.state, PluginState::Failed | PluginState::Disabled),
        "{id} is {:?}",
        status.state
    );
    host.stop().await;
    reason
}

pub(crate) fn descriptor(f: &Fixture, id: &str) -> Descriptor {
    let dir = f.plugin_dir(id);
    let manifest = plugboard_core::load_manifest(&dir.join("plugin.yaml")).unwrap();
    let mut d = Descriptor::in_code(manifest);
    d.dir = Some(dir);
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_entry_is_reported_by_check_and_load() {
    let f = Fixture::new();
    let entry = f.native("variant", "1.0.0", &rust_plugins(false).0, "");
    fs::remove_file(&entry).unwrap();
    let e = NativeRuntime::new()
        .check(&descriptor(&f, "variant"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("plugin variant: its entry") && e.contains("does not exist"),
        "{e}"
    );
    let reason = failure(&f, "variant").await;
    assert!(reason.contains("does not exist"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_abi_version_is_refused_before_anything_runs() {
    let f = Fixture::new();
    let lib = variant(f.dir.path(), "abi99.so", &["-DPB_ABI=99"]);
    f.native("variant", "1.0.0", &lib, "");
    let reason = failure(&f, "variant").await;
    assert!(
        reason.contains("built for native ABI version 99, and this host speaks version 1"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_library_without_the_entry_symbol_is_refused() {
    let f = Fixture::new();
    let lib = variant(f.dir.path(), "nosym.so", &["-DPB_NO_EXPORT"]);
    f.native("variant", "1.0.0", &lib, "");
    let reason = failure(&f, "variant").await;
    assert!(
        reason.contains("does not export `plugboard_plugin`"),
        "{reason}"
    );
    assert!(reason.contains("export_native!"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_dependency_library_shows_what_dlopen_said() {
    let f = Fixture::new();
    let deps = f.dir.path().join("deps");
    fs::create_dir_all(&deps).unwrap();
    let dep_src = f.dir.path().join("pbdep.c");
    fs::write(&dep_src, "int pbdep_value(void) { return 7; }\n").unwrap();
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(deps.join("libpbdep.so"))
        .arg(&dep_src)
        .status()
        .unwrap();
    assert!(status.success());
    let lib = variant(
        f.dir.path(),
        "needsdep.so",
        &["-DPB_NEEDS_DEP", "-L", deps.to_str().unwrap(), "-lpbdep"],
    );
    fs::remove_file(deps.join("libpbdep.so")).unwrap();
    f.native("variant", "1.0.0", &lib, "");
    let reason = failure(&f, "variant").await;
    assert!(
        reason.contains("libpbdep.so: cannot open shared object file"),
        "{reason}"
    );
    assert!(
        reason.contains("A library it links against is missing"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_library_for_another_architecture_is_refused_from_its_header() {
    let f = Fixture::new();
    let mut bytes = fs::read(rust_plugins(false).0).unwrap();
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    if std::env::consts::ARCH == "aarch64" {
        bytes[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    }
    let lib = f.dir.path().join("foreign.so");
    fs::write(&lib, bytes).unwrap();
    f.native("variant", "1.0.0", &lib, "");
    let e = NativeRuntime::new()
        .check(&descriptor(&f, "variant"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("was built for") && e.contains("this host is"),
        "{e}"
    );
    let f2 = Fixture::new();
    f2.native(
        "variant",
        "1.0.0",
        &f.dir.path().join("plugins/variant/plugin.yaml"),
        "",
    );
    let e = NativeRuntime::new()
        .check(&descriptor(&f2, "variant"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("it is not an ELF file"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn integrity_is_checked_before_the_library_is_opened() {
    let f = Fixture::new();
    let lib = variant(f.dir.path(), "v.so", &[]);
    let zeros = format!("integrity: sha256:{}\n", "0".repeat(64));
    f.native("variant", "1.0.0", &lib, &zeros);
    let reason = failure(&f, "variant").await;
    assert!(reason.contains("does not match `integrity:`"), "{reason}");
    assert_eq!(f.runtime.memory().loaded_libraries, 0, "nothing was opened");

    let digest = {
        use std::process::Command;
        let out = Command::new("sha256sum").arg(&lib).output().unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    };
    f.native(
        "variant",
        "1.0.0",
        &lib,
        &format!("integrity: sha256:{digest}\n"),
    );
    let host = f.start().await;
    assert_eq!(
        host.call("variant", "version", b"").await.unwrap(),
        b"1.0.0"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_descriptor_that_disagrees_with_the_manifest_is_refused() {
    let f = Fixture::new();
    let lib = variant(f.dir.path(), "v.so", &["-DPB_VERSION=\"2.0.0\""]);
    f.native("variant", "1.0.0", &lib, "");
    let reason = failure(&f, "variant").await;
    assert!(
        reason.contains("describes itself as variant 2.0.0, but plugin.yaml says variant 1.0.0"),
        "{reason}"
    );
}
