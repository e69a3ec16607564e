//! A host in a temporary directory with process plugins installed in it, and the probe plugin.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use plugboard_core::{Host, HostBuilder};
use plugboard_process::ProcessRuntime;
use tempfile::TempDir;

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The probe plugin's executable (`examples/process_probe.rs`). `cargo test` builds examples
/// beside the test binary; when only this test target was built, it is built here, into a
/// target directory of its own so that the outer cargo's lock is never waited for.
pub(crate) fn probe() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            // target/<profile>/deps/all-<hash>
            let profile_dir = exe.ancestors().nth(2).expect("a profile directory");
            let beside = profile_dir.join("examples").join("process_probe");
            if beside.exists() {
                return beside;
            }
            let target = profile_dir
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| workspace().join("target"))
                .join("process-test-plugins");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .current_dir(workspace())
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "plugboard-process",
                    "--example",
                    "process_probe",
                    "--target-dir",
                ])
                .arg(&target)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the probe plugin failed");
            target.join("debug/examples/process_probe")
        })
        .clone()
}

/// A host directory: `config.yaml`, `plugins/<id>/`, `state/`.
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let fixture = Fixture { dir };
        fixture.config("");
        fixture
    }

    /// Writes `config.yaml` with `extra` appended.
    pub(crate) fn config(&self, extra: &str) {
        let text = format!(
            "directories:\n  external: [plugins]\nstate_dir: state\nlogging:\n  level: DEBUG\nhooks:\n  timeout: 20s\n{extra}"
        );
        fs::write(self.dir.path().join("config.yaml"), text).unwrap();
    }

    pub(crate) fn plugin_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join("plugins").join(id)
    }

    /// Installs `exe` (linked) as plugin `id`'s entry `bin/plugin`, with `process` settings
    /// (YAML lines indented by two spaces) and other manifest keys in `extra`.
    pub(crate) fn install(&self, id: &str, exe: &Path, process: &str, extra: &str) {
        let dir = self.plugin_dir(id);
        fs::create_dir_all(dir.join("bin")).unwrap();
        std::os::unix::fs::symlink(exe, dir.join("bin/plugin")).unwrap();
        fs::write(
            dir.join("plugin.yaml"),
            format!(
                "id: {id}\nversion: 1.0.0\nruntime: process\nentry: bin/plugin\n{extra}process:\n{}",
                with_default_timeout(process)
            ),
        )
        .unwrap();
    }

    /// Installs the probe as plugin `id`.
    pub(crate) fn probe(&self, id: &str, process: &str, extra: &str) {
        self.install(id, &probe(), process, extra);
    }

    /// Installs a script (made executable) as plugin `id`'s entry.
    pub(crate) fn script(&self, id: &str, text: &str, process: &str, extra: &str) {
        let dir = self.plugin_dir(id);
        fs::create_dir_all(dir.join("bin")).unwrap();
        let path = dir.join("bin/plugin");
        fs::write(&path, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(
            dir.join("plugin.yaml"),
            format!(
                "id: {id}\nversion: 1.0.0\nruntime: process\nentry: bin/plugin\n{extra}process:\n{}",
                with_default_timeout(process)
            ),
        )
        .unwrap();
    }

    pub(crate) fn builder(&self) -> HostBuilder {
        self.bare_builder().runtime(Arc::new(ProcessRuntime::new()))
    }

    /// A builder with no process runtime registered yet.
    pub(crate) fn bare_builder(&self) -> HostBuilder {
        Host::builder()
            .config_file(self.dir.path().join("config.yaml"))
            .unwrap()
    }

    pub(crate) async fn start(&self) -> Host {
        let host = self.builder().build().unwrap();
        within(60, host.start()).await.unwrap();
        host
    }
}

/// `process` settings with a 10 s start timeout unless they set one.
fn with_default_timeout(process: &str) -> String {
    if process.contains("start_timeout") {
        process.to_owned()
    } else {
        format!("  start_timeout: 10s\n{process}")
    }
}

pub(crate) async fn within<T>(secs: u64, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .expect("did not finish in time")
}

/// Whether process `pid` is alive (and not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone, polling /proc (a process that is not our child cannot be awaited).
pub(crate) async fn gone(pid: u32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Sends SIGKILL to `pid`.
pub(crate) fn kill9(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a state change of `id` to `to`, via the host's listeners.
pub(crate) fn state_waiter(
    host: &Host,
    id: &str,
    to: plugboard_core::PluginState,
) -> tokio::sync::oneshot::Receiver<Option<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = parking_lot::Mutex::new(Some(tx));
    let id = id.to_owned();
    host.on_state_change(move |c| {
        if c.id.as_str() == id && c.to == to {
            if let Some(tx) = tx.lock().take() {
                let _ = tx.send(c.reason.clone());
            }
        }
    });
    rx
}
