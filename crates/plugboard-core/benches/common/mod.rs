//! What the benchmarks share: a configuration that fits a small, noisy machine, and the medians
//! criterion measured, read back for a side-by-side summary.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::Criterion;

/// Modest sample sizes and times so that the whole suite runs in a few minutes on two cores.
/// Command-line arguments (a filter, `--sample-size`, `--measurement-time`, ...) still apply.
pub(crate) fn criterion(sample_size: usize, measurement: Duration, warm_up: Duration) -> Criterion {
    Criterion::default()
        .sample_size(sample_size)
        .measurement_time(measurement)
        .warm_up_time(warm_up)
        .output_directory(&output_directory())
        .configure_from_args()
}

/// Where criterion keeps its estimates: `$CRITERION_HOME`, else `<target>/criterion`.
pub(crate) fn output_directory() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("criterion")
}

/// The median criterion measured for `group/bench` since `since`, in nanoseconds; `None` when
/// the benchmark did not run (filtered out, or `--test`).
pub(crate) fn median_ns(group: &str, bench: &str, since: SystemTime) -> Option<f64> {
    let path = output_directory()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Formats nanoseconds with a sensible unit.
pub(crate) fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}
