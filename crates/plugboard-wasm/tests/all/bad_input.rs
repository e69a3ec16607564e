//! Bad input: each refused with an error naming the plugin and what is missing or wrong.

use std::path::Path;

use plugboard_core::{Descriptor, PluginState, Runtime};

use crate::support::{component_from, wat, Fixture};

/// Starts a host and returns why `id` failed.
async fn failure(f: &Fixture, id: &str) -> String {
    let host = match f.builder().build() {
        Ok(host) => host,
        Err(e) => return e.to_string(),
    };
    host.start().await.unwrap();
    let status = host.status(id).unwrap();
    assert!(
        matches!(status.state, PluginState::Failed | PluginState::Disabled),
        "{id} is {:?}",
        status.state
    );
    host.stop().await;
    status.reason.unwrap_or_default()
}

fn descriptor(f: &Fixture, id: &str) -> Descriptor {
    let dir = f.plugin_dir(id);
    let manifest = plugboard_core::load_manifest(&dir.join("plugin.yaml")).unwrap();
    let mut d = Descriptor::in_code(manifest);
    d.dir = Some(dir);
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_wasm_is_refused_by_check_and_load() {
    let f = Fixture::new();
    f.wasm("junk", b"#!/bin/sh\necho not wasm\n", "");
    let e = f
        .runtime
        .check(&descriptor(&f, "junk"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("plugin junk") && e.contains("is not a WebAssembly file"),
        "{e}"
    );
    let reason = failure(&f, "junk").await;
    assert!(reason.contains("not a WebAssembly file"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_module_is_refused() {
    let f = Fixture::new();
    let bytes = wat("kernel");
    f.wasm("cut", &bytes[..bytes.len() / 2], "wasm:\n  abi: extism\n");
    let reason = failure(&f, "cut").await;
    assert!(
        reason.contains("plugin cut") && reason.contains("not a valid WebAssembly module"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_of_another_world_names_what_is_missing() {
    let f = Fixture::new();
    let wit = f.dir.path().join("other-wit");
    std::fs::create_dir_all(&wit).unwrap();
    std::fs::write(
        wit.join("other.wit"),
        "package test:other;\nworld other {\n  export hello: func() -> u32;\n}\n",
    )
    .unwrap();
    let other = component_from("other", Path::new(&wit), "other");
    f.wasm("other", &other, "");
    let reason = failure(&f, "other").await;
    assert!(
        reason.contains("plugin other") && reason.contains("plugboard:plugin"),
        "{reason}"
    );
    assert!(
        reason.contains("boot"),
        "names the missing export: {reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_with_wrong_exports_or_imports_is_refused() {
    let f = Fixture::new();
    let none =
        wat::parse_str("(module (memory (export \"memory\") 1) (func (export \"f\") (param i32)))")
            .unwrap();
    f.wasm("noexports", &none, "wasm:\n  abi: extism\n");
    let reason = failure(&f, "noexports").await;
    assert!(
        reason.contains("plugin noexports")
            && reason.contains("exports no function of type `() -> i32`"),
        "{reason}"
    );

    let f = Fixture::new();
    let foreign = wat::parse_str(
        "(module (import \"env\" \"launch_missiles\" (func)) (memory (export \"memory\") 1) (func (export \"go\") (result i32) i32.const 0))",
    )
    .unwrap();
    f.wasm("foreign", &foreign, "wasm:\n  abi: extism\n");
    let reason = failure(&f, "foreign").await;
    assert!(
        reason.contains("plugin foreign") && reason.contains("env::launch_missiles"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_where_a_component_is_expected_says_which_abi_to_set() {
    let f = Fixture::new();
    f.wasm("mod", &wat("kernel"), "");
    let reason = failure(&f, "mod").await;
    assert!(
        reason.contains("is a core module") && reason.contains("abi: extism"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_mismatch_is_refused() {
    let f = Fixture::new();
    f.extism(
        "tampered",
        "kernel",
        &format!("integrity: sha256:{}\n", "0".repeat(64)),
    );
    let reason = failure(&f, "tampered").await;
    assert!(
        reason.contains("plugin tampered") && reason.contains("integrity"),
        "{reason}"
    );
}

#[test]
fn inspect_accepts_the_test_guests_and_refuses_junk_with_the_plugin_named() {
    use plugboard_core::manifest::WasmAbi;
    let rt = plugboard_wasm::WasmRuntime::new().unwrap();
    rt.inspect("k", &wat("kernel"), WasmAbi::Extism).unwrap();
    rt.inspect("c", &crate::support::component(), WasmAbi::Component)
        .unwrap();
    for junk in [
        &b""[..],
        b"\0asm",
        b"\0asm\x01\0\0\0\xff\xff",
        b"\0asm\x0d\0\x01\0\x07",
    ] {
        for abi in [WasmAbi::Extism, WasmAbi::Component] {
            let e = rt.inspect("junk", junk, abi).unwrap_err().to_string();
            assert!(e.contains("plugin junk"), "{e}");
        }
    }
}
