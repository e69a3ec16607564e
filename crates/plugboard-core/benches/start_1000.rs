//! Discovering, resolving and starting a thousand builtin plugins, then stopping them.
//!
//! A temporary directory holds 1,000 plugin directories, each with a `plugin.yaml` (the same
//! small configuration schema in each, as plugins built from one template have), and a random
//! dependency graph from a seeded RNG: each plugin requires 0 to 3 earlier ones. Measured:
//! - `build`: `Host::build`, that is discovery (reading and parsing 1,000 manifests) and
//!   resolution; and, apart, its two main parts `discover` and `resolve`, and within discovery
//!   `parse`, `Manifest::from_yaml_str` on the 1,000 texts already in memory;
//! - `start`: `Host::start` of a built host (load, boot and start hooks, every transition);
//! - `total`: both, one after the other;
//! - `stop`: `Host::stop` of a started host.
//!
//! Target: `total` under 100 ms.
//!
//! `cargo bench -p plugboard-core --bench start_1000`

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use criterion::SamplingMode;
use plugboard_core::manifest::{HostConfig, Manifest, PLUGIN_API_VERSION};
use plugboard_core::resolve::{resolve, Constraints};
use plugboard_core::{BuiltinPlugin, CallError, Host, PluginState};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const GROUP: &str = "start_1000";
const PLUGINS: usize = 1000;
const SEED: u64 = 0x5eed_1000;
const TARGET_MS: f64 = 100.0;

struct Nop;

impl BuiltinPlugin for Nop {
    fn call(&self, _method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        Ok(payload.to_vec())
    }
}

fn id(i: usize) -> String {
    format!("p{i:04}")
}

/// Writes the plugin directories; returns how many `requires` edges there are.
fn write_plugins(dir: &Path) -> usize {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut edges = 0;
    for i in 0..PLUGINS {
        let mut requires: Vec<usize> = Vec::new();
        if i > 0 {
            let n = rng.random_range(0..=3usize).min(i);
            while requires.len() < n {
                let d = rng.random_range(0..i);
                if !requires.contains(&d) {
                    requires.push(d);
                }
            }
        }
        edges += requires.len();
        let mut text = format!(
            "id: {}\nversion: 1.0.0\napi: '^1'\nruntime: builtin\nentry: bench\n",
            id(i)
        );
        if !requires.is_empty() {
            text.push_str("requires:\n");
            for d in &requires {
                text.push_str(&format!("  {}: '^1'\n", id(*d)));
            }
        }
        text.push_str(
            "config:\n  schema:\n    type: object\n    properties:\n      level: { type: integer, minimum: 0, default: 1 }\n      name: { type: string, default: plugin }\n",
        );
        let d = dir.join(id(i));
        std::fs::create_dir_all(&d).expect("a plugin directory");
        std::fs::write(d.join("plugin.yaml"), text).expect("a manifest");
    }
    edges
}

struct Setup {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    config: HostConfig,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let base = tmp.path().to_path_buf();
        let edges = write_plugins(&base.join("plugins"));
        println!("start_1000: {PLUGINS} plugins, {edges} requires edges (seed {SEED:#x})");
        let config = HostConfig::from_yaml_str(
            "directories:\n  external: [plugins]\nstate_dir: state\n",
            "config.yaml",
        )
        .expect("a valid configuration");
        Self {
            _tmp: tmp,
            base,
            config,
        }
    }

    fn build(&self) -> Host {
        Host::builder()
            .config(self.config.clone(), &self.base)
            .builtin("bench", || Nop)
            .build()
            .expect("a host")
    }
}

fn main() {
    let began = SystemTime::now();
    let setup = Setup::new();
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");

    // One checked run before anything is timed: everything starts, in a valid order.
    let host = setup.build();
    assert_eq!(host.plugin_ids().len(), PLUGINS);
    assert!(host.resolution().disabled.is_empty());
    let t = Instant::now();
    rt.block_on(host.start()).expect("the host starts");
    let first_start = t.elapsed();
    let active = host
        .plugin_ids()
        .iter()
        .filter(|p| host.state(p.as_str()) == Some(PluginState::Active))
        .count();
    assert_eq!(active, PLUGINS);
    rt.block_on(host.stop());
    println!("start_1000: first (cold) start took {first_start:?}");

    let mut c = common::criterion(10, Duration::from_secs(6), Duration::from_secs(1));
    {
        let mut g = c.benchmark_group(GROUP);
        g.sampling_mode(SamplingMode::Flat);
        // The parts of `build`, through the public functions it uses.
        let dirs = [setup.base.join("plugins")];
        g.bench_function("discover", |b| {
            b.iter(|| plugboard_core::discover(None, &dirs))
        });
        let texts: Vec<String> = (0..PLUGINS)
            .map(|i| {
                std::fs::read_to_string(dirs[0].join(id(i)).join("plugin.yaml"))
                    .expect("a manifest")
            })
            .collect();
        g.bench_function("parse", |b| {
            b.iter(|| {
                for t in &texts {
                    black_box(Manifest::from_yaml_str(t, "plugin.yaml").expect("valid"));
                }
            })
        });
        let found = plugboard_core::discover(None, &dirs);
        let manifests: Vec<&Manifest> = found.plugins.iter().map(|d| &d.manifest).collect();
        g.bench_function("resolve", |b| {
            b.iter(|| resolve(&manifests, &PLUGIN_API_VERSION, &Constraints::default()))
        });
        g.bench_function("build", |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let host = setup.build();
                    took += t.elapsed();
                    drop(host);
                }
                took
            })
        });
        g.bench_function("start", |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let host = setup.build();
                    let t = Instant::now();
                    rt.block_on(host.start()).expect("the host starts");
                    took += t.elapsed();
                    rt.block_on(host.stop());
                }
                took
            })
        });
        g.bench_function("total", |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let host = setup.build();
                    rt.block_on(host.start()).expect("the host starts");
                    took += t.elapsed();
                    rt.block_on(host.stop());
                }
                took
            })
        });
        g.bench_function("stop", |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let host = setup.build();
                    rt.block_on(host.start()).expect("the host starts");
                    let t = Instant::now();
                    rt.block_on(host.stop());
                    took += t.elapsed();
                }
                took
            })
        });
        g.finish();
    }
    c.final_summary();
    summary(began);
}

fn summary(began: SystemTime) {
    let median = |b: &str| common::median_ns(GROUP, b, began);
    let (Some(build), Some(start), Some(total)) =
        (median("build"), median("start"), median("total"))
    else {
        return;
    };
    println!();
    println!("start_1000: medians (target: discover + resolve + start < {TARGET_MS} ms)");
    for part in ["discover", "parse", "resolve"] {
        if let Some(m) = median(part) {
            println!("    of which {part:<17}{:>10}", common::human(m));
        }
    }
    println!("  build (discover + resolve)  {:>10}", common::human(build));
    println!("  start                       {:>10}", common::human(start));
    println!(
        "  build + start (sum)         {:>10}",
        common::human(build + start)
    );
    println!(
        "  total (measured together)   {:>10}  {}",
        common::human(total),
        if total / 1e6 < TARGET_MS {
            "met"
        } else {
            "MISSED"
        }
    );
    if let Some(stop) = median("stop") {
        println!("  stop                        {:>10}", common::human(stop));
    }
}
