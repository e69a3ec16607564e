//! Building the plugins the tests and benchmarks load: the Rust ones with cargo (once per
//! process, into a target directory of their own so that the outer cargo's lock is never
//! waited for), the C ones with the system C compiler.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The target directory the Rust test plugins are built in.
fn plugin_target_dir() -> PathBuf {
    // The test binary is target/<profile>/deps/<name>: its target directory is three up.
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("native-test-plugins")
}

/// The Rust plugins: (`libplugboard_native_probe.so`, `libplugboard_example_native.so`).
pub(crate) fn rust_plugins(release: bool) -> (PathBuf, PathBuf) {
    static DEBUG: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    static RELEASE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let cell = if release { &RELEASE } else { &DEBUG };
    cell.get_or_init(|| {
        let target = plugin_target_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace())
            .args(["build", "--quiet", "-p", "plugboard-native-probe"])
            .args(["-p", "plugboard-example-native", "--target-dir"])
            .arg(&target);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the Rust test plugins failed");
        let dir = target.join(if release { "release" } else { "debug" });
        (
            dir.join("libplugboard_native_probe.so"),
            dir.join("libplugboard_example_native.so"),
        )
    })
    .clone()
}

/// Compiles C `source` (relative to the workspace) into `out` with extra `flags`.
pub(crate) fn compile_c(source: &str, out: &Path, flags: &[&str]) {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let ws = workspace();
    let status = Command::new(cc)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-I"])
        .arg(ws.join("sdk/c"))
        .arg("-o")
        .arg(out)
        .arg(ws.join(source))
        // After the source, so that `-l` libraries are linked even under `--as-needed`.
        .args(flags)
        .status()
        .expect("the C compiler runs (install gcc)");
    assert!(status.success(), "compiling {source} failed");
}

/// The test variant plugin (`tests/plugins/variant.c`) with `flags`, compiled into `dir`.
pub(crate) fn variant(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let out = dir.join(name);
    compile_c(
        "crates/plugboard-native/tests/plugins/variant.c",
        &out,
        flags,
    );
    out
}

/// The isolation shim (`plugboard-native-shim`), built from source with cargo into the test
/// plugins' target directory, as the Rust plugins are.
pub(crate) fn shim(release: bool) -> PathBuf {
    static DEBUG: OnceLock<PathBuf> = OnceLock::new();
    static RELEASE: OnceLock<PathBuf> = OnceLock::new();
    let cell = if release { &RELEASE } else { &DEBUG };
    cell.get_or_init(|| {
        let target = plugin_target_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace())
            .args([
                "build",
                "--quiet",
                "-p",
                "plugboard-native-shim",
                "--target-dir",
            ])
            .arg(&target);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building plugboard-native-shim failed");
        target
            .join(if release { "release" } else { "debug" })
            .join("plugboard-native-shim")
    })
    .clone()
}

/// The process runtime's own probe plugin (`crates/plugboard-process/examples/process_probe.rs`,
/// served by `plugboard-pdk`), for the benchmark that compares it with an isolated native call.
pub(crate) fn process_probe(release: bool) -> PathBuf {
    let target = plugin_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["build", "--quiet", "-p", "plugboard-process"])
        .args(["--example", "process_probe", "--target-dir"])
        .arg(&target);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "building the process probe failed");
    target
        .join(if release { "release" } else { "debug" })
        .join("examples/process_probe")
}
