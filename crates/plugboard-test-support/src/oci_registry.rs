//! A real OCI registry on a loopback port, for tests and benchmarks of registry installs.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `tool` is on the `PATH`. Outside CI a missing tool is reported on stderr and the
/// caller skips; under `CI=true` it is a failure, because CI installs every tool the tests
/// need (`scripts/test`) and a missing one must never pass unnoticed.
///
/// # Panics
/// Under `CI=true` when the tool is missing.
pub fn tool_missing(tool: &str, install: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return false;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{tool} is missing; install it ({install}); scripts/test does"
    );
    eprintln!("skipping: {tool} is missing ({install})");
    true
}

/// The CNCF distribution registry (Debian's `docker-registry`) serving plain HTTP on a free
/// loopback port, with its storage in a temporary directory. Stopped when dropped.
#[derive(Debug)]
pub struct OciRegistry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl OciRegistry {
    /// Starts one and waits until it accepts connections; `None` outside CI when
    /// `docker-registry` is not installed (see [`tool_missing`]).
    ///
    /// # Panics
    /// When it cannot be started or does not listen within 20 seconds, or under `CI=true` when
    /// the tool is missing.
    pub fn start() -> Option<Self> {
        Self::launch(None)
    }

    /// As [`OciRegistry::start`], but every request needs the login `user`/`password`
    /// (htpasswd basic auth, the password stored as a bcrypt hash as `htpasswd -B` writes it).
    ///
    /// # Panics
    /// As [`OciRegistry::start`].
    pub fn start_with_login(user: &str, password: &str) -> Option<Self> {
        Self::launch(Some((user, password)))
    }

    fn launch(login: Option<(&str, &str)>) -> Option<Self> {
        if tool_missing("docker-registry", "apt-get install docker-registry") {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = login {
            let hash = bcrypt::hash(password, 5).expect("a bcrypt hash");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n"))
                .expect("the htpasswd file is written");
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: plugboard-tests\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, text).expect("the registry's configuration is written");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start docker-registry");
        let registry = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}",
                registry.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// `host:port` of the registry, for `oci://{addr}/...` references.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
