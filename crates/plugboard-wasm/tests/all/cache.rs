//! The compiled-module cache: a second start skips compilation; a corrupted entry is
//! recompiled, never loaded.

use std::fs;

use plugboard_core::Descriptor;
use plugboard_wasm::{CacheOutcome, WasmRuntime};

use crate::support::Fixture;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_start_loads_compiled_code_from_the_state_dir() {
    let f = Fixture::new();
    f.extism("vowels", "kernel", "");
    let host = f.start().await;
    assert_eq!(host.call("vowels", "echo", b"x").await.unwrap(), b"x");
    host.stop().await;
    let cache = f.dir.path().join("state/wasm-cache");
    let entries: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        entries
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "cwasm")),
        "{entries:?}"
    );

    let dir = f.plugin_dir("vowels");
    let mut d =
        Descriptor::in_code(plugboard_core::load_manifest(&dir.join("plugin.yaml")).unwrap());
    d.dir = Some(dir);
    let state = f.dir.path().join("state");
    let fresh = WasmRuntime::new().unwrap();
    assert_eq!(
        fresh.precompile(&d, Some(&state)).unwrap(),
        CacheOutcome::Disk
    );
    assert_eq!(
        fresh.precompile(&d, Some(&state)).unwrap(),
        CacheOutcome::Memory
    );

    for p in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
    {
        let mut bytes = fs::read(p).unwrap();
        let n = bytes.len();
        bytes.truncate(n / 2);
        fs::write(p, bytes).unwrap();
    }
    let again = WasmRuntime::new().unwrap();
    assert_eq!(
        again.precompile(&d, Some(&state)).unwrap(),
        CacheOutcome::Compiled,
        "a truncated entry is recompiled"
    );
}
