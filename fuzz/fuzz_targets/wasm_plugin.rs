//! Arbitrary bytes loaded as a WebAssembly plugin, as a core module (Extism ABI) and as a
//! component (the plugboard:plugin world): format detection, compilation and linking.
//!
//! None may panic: every malformed input is a `LoadError` that names the plugin.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use plugboard_manifest::WasmAbi;
use plugboard_wasm::WasmRuntime;

fn runtime() -> &'static WasmRuntime {
    static RUNTIME: OnceLock<WasmRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| WasmRuntime::new().expect("the default engine builds"))
}

fuzz_target!(|data: &[u8]| {
    for abi in [WasmAbi::Extism, WasmAbi::Component] {
        if let Err(e) = runtime().inspect("fuzzed", data, abi) {
            assert!(e.to_string().contains("plugin fuzzed"), "{e}");
        }
    }
});
