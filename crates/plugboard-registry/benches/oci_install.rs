//! Install time for 50 small plugins from a local OCI registry (Debian's `docker-registry`),
//! cold (empty cache, no lockfile) and from the cache (lockfile and cache kept, install
//! directory empty), with downloads in parallel (8) and, for comparison, one at a time.
//!
//! `cargo bench -p plugboard-registry --bench oci_install` prints the median of each.

use std::path::Path;
use std::time::{Duration, Instant};

use plugboard_manifest::HostConfig;
use plugboard_registry::{
    pack_dir, publish_to_oci, InstallOptions, Installer, Limits, Login, Package,
};
use plugboard_test_support::OciRegistry;

const PLUGINS: usize = 50;
const ROUNDS: usize = 7;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let registry =
        OciRegistry::start().expect("docker-registry is needed: apt-get install docker-registry");
    let addr = registry.addr().to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for i in 0..PLUGINS {
        let src = dir.path().join(format!("src/p{i}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("plugin.yaml"),
            format!("id: p{i}\nversion: 1.0.{i}\nruntime: builtin\nentry: probe\n"),
        )
        .unwrap();
        std::fs::write(src.join("data.bin"), vec![i as u8; 16 << 10]).unwrap();
        let (_, bytes) = pack_dir(&src).unwrap();
        let p = Package::from_bytes(bytes, "p", Limits::default()).unwrap();
        rt.block_on(publish_to_oci(
            &p,
            None,
            &format!("oci://{addr}/bench/{{plugin}}"),
            &Login::anonymous(),
        ))
        .unwrap();
    }
    let mut yaml = format!(
        "registry:\n  url: 'oci://{addr}/bench/{{plugin}}:{{version}}'\n  allow_unsigned: true\n\
         directories:\n  external: [plugins]\nplugins:\n"
    );
    for i in 0..PLUGINS {
        yaml.push_str(&format!("  - p{i}\n"));
    }
    for parallel in [8, 1] {
        let cold = median((0..ROUNDS).map(|_| {
            let host = tempfile::tempdir().unwrap();
            install(&rt, host.path(), &yaml, parallel)
        }));
        let host = tempfile::tempdir().unwrap();
        install(&rt, host.path(), &yaml, parallel);
        let cached = median((0..ROUNDS).map(|_| {
            std::fs::remove_dir_all(host.path().join("plugins")).unwrap();
            install(&rt, host.path(), &yaml, parallel)
        }));
        println!(
            "{PLUGINS} plugins, {parallel} in parallel: cold {:.1} ms, from cache {:.1} ms (median of {ROUNDS})",
            cold.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3
        );
    }
    drop(registry);
}

fn install(rt: &tokio::runtime::Runtime, root: &Path, yaml: &str, parallel: usize) -> Duration {
    let path = root.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = HostConfig::from_yaml_str(yaml, "config.yaml").unwrap();
    let options = InstallOptions {
        parallel,
        ..InstallOptions::default()
    };
    let began = Instant::now();
    let mut installer = Installer::new(&path, &config, options).unwrap();
    let report = rt.block_on(installer.install(installer.listed())).unwrap();
    let took = began.elapsed();
    assert_eq!(report.installed.len(), PLUGINS);
    took
}

fn median(samples: impl Iterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = samples.collect();
    v.sort();
    v[v.len() / 2]
}
