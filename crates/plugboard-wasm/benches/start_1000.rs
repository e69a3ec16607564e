//! 1,000 small WebAssembly plugins (the Extism-ABI `kernel` guest, 1 MiB memory limit each) in
//! one host: the time from `build` to every plugin `active`, and the resident memory before and
//! after. The module is the same file in every directory, so the runtime compiles it once and
//! each plugin pays for its `InstancePre`, its first instance and its hooks.
//!
//! Target (issue #3): under 2 s and under 1 GiB.
//!
//! `cargo bench -p plugboard-wasm --bench start_1000`

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use plugboard_core::manifest::HostConfig;
use plugboard_core::{Host, PluginState};
use plugboard_wasm::WasmRuntime;

const PLUGINS: usize = 1000;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let plugins = if smoke { 10 } else { PLUGINS };
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/guests/kernel.wat");
    let bytes = wat::parse_file(guest).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    for i in 0..plugins {
        let d = dir.join(format!("p{i:04}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("plugin.wasm"), &bytes).unwrap();
        std::fs::write(
            d.join("plugin.yaml"),
            format!("id: p{i:04}\nversion: 1.0.0\nruntime: wasm\nentry: plugin.wasm\nwasm:\n  abi: extism\n  memory_max: 1MiB\n"),
        )
        .unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = HostConfig::from_yaml_str(
            &format!(
                "directories:\n  external: [{}]\nhooks:\n  timeout: 60s\n",
                dir.display()
            ),
            "config.yaml",
        )
        .unwrap();
        let before = rss_mib();
        let began = Instant::now();
        let host = Host::builder()
            .config(config, tmp.path())
            .state_dir(tmp.path().join("state"))
            .runtime(Arc::new(WasmRuntime::new().unwrap()))
            .build()
            .unwrap();
        host.start().await.unwrap();
        let took = began.elapsed();
        let after = rss_mib();
        let active = host
            .statuses()
            .iter()
            .filter(|s| s.state == PluginState::Active)
            .count();
        assert_eq!(active, plugins, "every plugin started");
        let last = format!("p{:04}", plugins - 1);
        assert_eq!(host.call(&last, "echo", b"x").await.unwrap(), b"x");
        host.stop().await;
        println!(
            "{plugins} wasm plugins built and started in {:.3} s; resident memory {before:.0} -> {after:.0} MiB (+{:.0} MiB)",
            took.as_secs_f64(),
            after - before
        );
        println!(
            "  target: under 2 s: {}; under 1 GiB: {}",
            if took.as_secs_f64() < 2.0 { "met" } else { "MISSED" },
            if after < 1024.0 { "met" } else { "MISSED" }
        );
    });
}
