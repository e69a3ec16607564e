//! 1,000 small wasm plugins in one host: all start, and the last one answers. Ignored by
//! default (it takes a while in a debug build); `cargo test -p plugboard-wasm --test all
//! scale -- --ignored --nocapture` prints the time and resident memory.

use std::time::Instant;

use plugboard_core::PluginState;

use crate::support::{wat, Fixture};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow in a debug build; run explicitly"]
async fn a_thousand_plugins_start_in_one_host() {
    let f = Fixture::new();
    let bytes = wat("kernel");
    for i in 0..1000 {
        f.wasm(
            &format!("p{i:04}"),
            &bytes,
            "wasm:\n  abi: extism\n  memory_max: 1MiB\n",
        );
    }
    let before = rss_kib();
    let started = Instant::now();
    let host = f.start().await;
    let took = started.elapsed();
    let after = rss_kib();
    let active = host
        .statuses()
        .iter()
        .filter(|s| s.state == PluginState::Active)
        .count();
    let failed: Vec<String> = host
        .statuses()
        .iter()
        .filter(|s| s.state != PluginState::Active)
        .take(3)
        .map(|s| {
            format!(
                "{}: {:?} {}",
                s.id,
                s.state,
                s.reason.clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(active, 1000, "{failed:#?}");
    assert_eq!(host.call("p0999", "echo", b"x").await.unwrap(), b"x");
    println!(
        "1000 plugins built and started in {:.2} s; resident memory {} -> {} MiB",
        took.as_secs_f64(),
        before / 1024,
        after / 1024
    );
    host.stop().await;
}
