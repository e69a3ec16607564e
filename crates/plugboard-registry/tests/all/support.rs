//! Plugin directories, keys, a host configuration, and a small HTTP server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use plugboard_manifest::HostConfig;
use plugboard_registry::{generate_keypair, pack_dir, Limits, Package, SecretKey};

/// Writes a builtin plugin directory `<parent>/<id>-<version>/` and returns it.
pub(crate) fn plugin_dir(
    parent: &Path,
    id: &str,
    version: &str,
    requires: &[(&str, &str)],
) -> PathBuf {
    let dir = parent.join(format!("{id}-{version}"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let mut yaml =
        format!("id: {id}\nversion: {version}\napi: '^1'\nruntime: builtin\nentry: probe\n");
    if !requires.is_empty() {
        yaml.push_str("requires:\n");
        for (d, r) in requires {
            yaml.push_str(&format!("  {d}: '{r}'\n"));
        }
    }
    std::fs::write(dir.join("plugin.yaml"), yaml).unwrap();
    std::fs::write(dir.join("data/readme.txt"), format!("{id} {version}\n")).unwrap();
    dir
}

/// A process plugin directory `<parent>/<id>-<version>/` built for `platforms` (each gets
/// `bin/<platform>/tool`), with a portable `entry` or none.
pub(crate) fn platform_dir(
    parent: &Path,
    id: &str,
    version: &str,
    platforms: &[&str],
    portable: bool,
) -> PathBuf {
    let dir = parent.join(format!("{id}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut yaml = format!("id: {id}\nversion: {version}\nruntime: process\n");
    if portable {
        yaml.push_str("entry: bin/portable/tool\n");
        std::fs::create_dir_all(dir.join("bin/portable")).unwrap();
        std::fs::write(dir.join("bin/portable/tool"), "#!/bin/sh\n").unwrap();
    }
    yaml.push_str("platforms:\n");
    for p in platforms {
        yaml.push_str(&format!("  {p}: bin/{p}/tool\n"));
        std::fs::create_dir_all(dir.join("bin").join(p)).unwrap();
        std::fs::write(
            dir.join("bin").join(p).join("tool"),
            format!("#!/bin/sh\n# {p}\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("plugin.yaml"), yaml).unwrap();
    dir
}

/// A package of a fresh plugin directory.
pub(crate) fn package(
    scratch: &Path,
    id: &str,
    version: &str,
    requires: &[(&str, &str)],
) -> Package {
    let dir = plugin_dir(scratch, id, version, requires);
    let (_, bytes) = pack_dir(&dir).unwrap();
    Package::from_bytes(bytes, id, Limits::default()).unwrap()
}

/// A key pair: the secret key (read back from its file) and the public key text.
pub(crate) fn keypair(dir: &Path, name: &str) -> (SecretKey, String) {
    let (sk, pk) = generate_keypair().unwrap();
    let path = dir.join(format!("{name}.key"));
    std::fs::write(&path, sk).unwrap();
    std::fs::write(dir.join(format!("{name}.pub")), &pk).unwrap();
    let line = pk.lines().nth(1).unwrap().to_owned();
    (SecretKey::from_file(&path, "").unwrap(), line)
}

/// Signs a package as `plugboard publish --key` does.
pub(crate) fn sign(key: &SecretKey, p: &Package) -> String {
    key.sign(
        &p.bytes,
        p.manifest.id.as_str(),
        &p.manifest.version.to_string(),
    )
    .unwrap()
}

/// A host layout: `config.yaml` with `registry` (from `registry_yaml`), an external plugin
/// directory, and the plugins listed.
pub(crate) struct Host {
    pub(crate) root: tempfile::TempDir,
}

impl Host {
    pub(crate) fn new(registry_yaml: &str, plugins: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut text = format!("{registry_yaml}directories:\n  external: [plugins]\nplugins:\n");
        for p in plugins {
            text.push_str(&format!("  - {p}\n"));
        }
        std::fs::write(root.path().join("config.yaml"), text).unwrap();
        Self { root }
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.root.path().join("config.yaml")
    }

    pub(crate) fn config(&self) -> HostConfig {
        let text = std::fs::read_to_string(self.config_path()).unwrap();
        HostConfig::from_yaml_str(&text, "config.yaml").unwrap()
    }

    pub(crate) fn plugins(&self) -> PathBuf {
        self.root.path().join("plugins")
    }

    /// What the install directory holds, hidden entries included, sorted.
    pub(crate) fn installed(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.plugins())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub(crate) fn version_of(&self, id: &str) -> String {
        let text = std::fs::read_to_string(self.plugins().join(id).join("plugin.yaml")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("version: "))
            .unwrap()
            .to_owned()
    }
}

/// How the server misbehaves for one path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// Sends half the body, then closes the connection, this many times.
    DropMidBody(usize),
}

/// A static file server on a loopback port, over a directory, with faults on demand.
pub(crate) struct Server {
    pub(crate) port: u16,
    pub(crate) requests: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<HashMap<String, (Fault, AtomicUsize)>>>,
    redirects: Arc<Mutex<HashMap<String, String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub(crate) fn serve(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let faults: Arc<Mutex<HashMap<String, (Fault, AtomicUsize)>>> = Arc::default();
        let redirects: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (root, reqs, f, r, s) = (
            root.to_owned(),
            requests.clone(),
            faults.clone(),
            redirects.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (root, reqs, f, r) = (root.clone(), reqs.clone(), f.clone(), r.clone());
                std::thread::spawn(move || handle(stream, &root, &reqs, &f, &r));
            }
        });
        Self {
            port,
            requests,
            faults,
            redirects,
            stop,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn fault(&self, path: &str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .insert(path.to_owned(), (fault, AtomicUsize::new(0)));
    }

    /// Answers `path` with `302 Found` to `location`, as GitHub answers
    /// `/releases/latest/download/...`.
    pub(crate) fn redirect(&self, path: &str, location: &str) {
        self.redirects
            .lock()
            .unwrap()
            .insert(path.to_owned(), location.to_owned());
    }

    pub(crate) fn count(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(
    mut stream: TcpStream,
    root: &Path,
    requests: &Mutex<Vec<String>>,
    faults: &Mutex<HashMap<String, (Fault, AtomicUsize)>>,
    redirects: &Mutex<HashMap<String, String>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    requests.lock().unwrap().push(path.clone());
    let location = redirects.lock().unwrap().get(&path).cloned();
    if let Some(location) = location {
        let _ = stream.write_all(
            format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        return;
    }
    let file = root.join(path.trim_start_matches('/'));
    let Ok(body) = std::fs::read(&file) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let drop_now = faults
        .lock()
        .unwrap()
        .get(&path)
        .is_some_and(|(fault, n)| match fault {
            Fault::DropMidBody(times) => n.fetch_add(1, Ordering::SeqCst) < *times,
        });
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if drop_now {
        let _ = stream.write_all(&body[..body.len() / 2]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    let mut rest = Vec::new();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.read_to_end(&mut rest);
}

pub(crate) use plugboard_test_support::tool_missing;
