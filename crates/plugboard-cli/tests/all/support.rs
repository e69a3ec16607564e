//! Running the binaries under test and reading what they print.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plugboard_test_support::PluginTree;
use serde_json::Value;

/// No command in these tests should come near this; one that does is hung, and is killed so
/// that the test fails instead of the whole run hanging.
const DEADLINE: Duration = Duration::from_secs(30);

/// The `plugboard` binary: the normal path.
pub(crate) fn plugboard() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_plugboard"))
}

/// The `fault_host` example: `plugboard` with the probe plugin registered. `cargo test` builds
/// examples before it runs tests; they live in `target/<profile>/examples/`, beside the `deps/`
/// directory that holds this test binary.
pub(crate) fn fault_host() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps/");
    let path = profile_dir
        .join("examples")
        .join(format!("fault_host{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "the test host binary {} is missing. Build the examples first: `cargo test -p plugboard-cli` \
         builds them before running the tests, or run `cargo build -p plugboard-cli --example fault_host`",
        path.display()
    );
    path
}

/// A command for `bin` in `dir`, cut off from the developer's environment.
pub(crate) fn command(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env_remove("PLUGBOARD_LOG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// What a finished command did.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
    what: String,
}

impl Output {
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Checks the exit code, showing everything the command printed when it differs.
    #[track_caller]
    pub(crate) fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "`{}` exited with {:?}, expected {expected}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code,
            self.stdout(),
            self.stderr
        );
        self
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`{}` did not print JSON ({e}):\n{}\n--- stderr ---\n{}",
                self.what,
                self.stdout(),
                self.stderr
            )
        })
    }

    /// The status table row of plugin `id`, split on white space.
    #[track_caller]
    pub(crate) fn row(&self, text: &str, id: &str) -> Vec<String> {
        text.lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .find(|cells| cells.first().map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no row for {id} in the output of `{}`:\n{text}", self.what))
    }
}

/// Runs `bin args` in `dir` and waits for it, up to the deadline.
pub(crate) fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = command(bin, dir);
    cmd.args(args);
    finish(cmd)
}

/// Runs `fault_host args` in the tree's root, after writing its `config.yaml` (which the
/// commands find there by default).
pub(crate) fn fault(tree: &PluginTree, args: &[&str]) -> Output {
    tree.write();
    run(&fault_host(), tree.path(), args)
}

/// `fault_host list --json` (with `--start` when `start`), as an array of statuses.
pub(crate) fn list(tree: &PluginTree, start: bool) -> Vec<Value> {
    let args: &[&str] = if start {
        &["list", "--start", "--json"]
    } else {
        &["list", "--json"]
    };
    let out = fault(tree, args);
    out.code(0);
    match out.json() {
        Value::Array(items) => items,
        other => panic!("list --json printed {other}, not an array"),
    }
}

/// The status of plugin `id` in a `list --json` array.
#[track_caller]
pub(crate) fn status<'a>(statuses: &'a [Value], id: &str) -> &'a Value {
    statuses.iter().find(|s| s["id"] == id).unwrap_or_else(|| {
        panic!(
            "no status for {id} in\n{}",
            serde_json::to_string_pretty(statuses).unwrap_or_default()
        )
    })
}

/// The reason of plugin `id`'s status, empty when there is none.
#[track_caller]
pub(crate) fn reason(statuses: &[Value], id: &str) -> String {
    status(statuses, id)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The state of plugin `id`'s status.
#[track_caller]
pub(crate) fn state(statuses: &[Value], id: &str) -> String {
    status(statuses, id)["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits for `cmd` with its output captured, killing it at the deadline.
pub(crate) fn finish(mut cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    let began = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut running = Running::new(child);
    let code = running.wait_until(began + DEADLINE);
    let (stdout, stderr) = running.output();
    let Some(code) = code else {
        panic!(
            "`{what}` did not finish within {DEADLINE:?}; killed\n--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        code,
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: began.elapsed(),
        what,
    }
}

/// A child process whose pipes are drained by threads, so it never blocks on a full pipe.
pub(crate) struct Running {
    pub(crate) child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Running {
    pub(crate) fn new(mut child: Child) -> Self {
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            pipe.map(|mut p| {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = p.read_to_end(&mut buf);
                    buf
                })
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The exit code (`Some(None)` for a signal), or `None` when `deadline` passed first, in
    /// which case the child has been killed.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Option<Option<i32>> {
        loop {
            match self.child.try_wait().expect("waiting for a child") {
                Some(status) => return Some(status.code()),
                None if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return None;
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Everything the child wrote, once it has exited.
    pub(crate) fn output(&mut self) -> (Vec<u8>, Vec<u8>) {
        let take = |h: Option<JoinHandle<Vec<u8>>>| {
            h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
        };
        (take(self.stdout.take()), take(self.stderr.take()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked while its child runs must not leave the child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
