//! A host with the example plugins (text-tools with its panel), a plugin whose panel attacks
//! the dashboard, and a tiny HTTP client.

use std::fs;
use std::path::{Path, PathBuf};

use plugboard::Host;
use plugboard_dashboard::{Dashboard, DashboardOptions, RunningDashboard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a plugin directory");
    for entry in fs::read_dir(from).expect("read an example plugin") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// A running host and its dashboard.
pub(crate) struct Fixture {
    pub(crate) host: Host,
    pub(crate) dashboard: RunningDashboard,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts the host (base-utils, text-tools with its panel, metrics, hostile-panel) and
    /// serves the dashboard on a free loopback port.
    pub(crate) async fn start() -> Fixture {
        Self::start_with(DashboardOptions::new()).await
    }

    pub(crate) async fn start_with(options: DashboardOptions) -> Fixture {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plugins = dir.path().join("plugins");
        let examples = repo().join("examples");
        copy_dir(
            &examples.join("plugins/base-utils"),
            &plugins.join("base-utils"),
        );
        copy_dir(
            &examples.join("plugins/text-tools"),
            &plugins.join("text-tools"),
        );
        copy_dir(&examples.join("external/metrics"), &plugins.join("metrics"));
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/hostile"),
            &plugins.join("hostile-panel"),
        );
        fs::write(
            dir.path().join("config.yaml"),
            "directories:\n  external: [plugins]\nlogging:\n  level: DEBUG\nplugins:\n  - base-utils\n  - text-tools\n  - metrics\n  - hostile-panel\n",
        )
        .expect("write config.yaml");
        let builder = Host::builder()
            .config_file(dir.path().join("config.yaml"))
            .expect("config.yaml");
        let builder = plugboard_test_support::register(plugboard_examples::register(builder));
        let host = builder.build().expect("the host builds");
        host.start().await.expect("the host starts");
        let dashboard = Dashboard::serve(
            host.clone(),
            options.listen("127.0.0.1:0".parse().expect("an address")),
        )
        .await
        .expect("the dashboard starts");
        Fixture {
            host,
            dashboard,
            _dir: dir,
        }
    }

    /// `Host:` as a browser would send it.
    pub(crate) fn host_header(&self) -> String {
        format!("127.0.0.1:{}", self.dashboard.addr().port())
    }

    /// The origin of the dashboard.
    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.host_header())
    }

    /// Sends a raw request (the request line and headers; `Host` and `Connection: close` are
    /// added unless given) with `body`, and reads the whole answer.
    pub(crate) async fn raw(&self, head: &str, body: &[u8]) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(self.dashboard.addr())
            .await
            .expect("connect to the dashboard");
        let mut request = head.trim_end().replace('\n', "\r\n");
        if !head.to_ascii_lowercase().contains("\nhost:") {
            request.push_str(&format!("\r\nHost: {}", self.host_header()));
        }
        request.push_str("\r\nConnection: close");
        if !body.is_empty() && !head.to_ascii_lowercase().contains("content-length") {
            request.push_str(&format!("\r\nContent-Length: {}", body.len()));
        }
        request.push_str("\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        // A server may answer (413) before reading the body, and close: ignore a broken pipe.
        let _ = stream.write_all(body).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut out),
        )
        .await;
        Answer::parse(&out)
    }

    /// Exchanges the token for a session: the cookie and the CSRF token.
    pub(crate) async fn login(&self) -> (String, String) {
        let a = self
            .raw(
                &format!("GET /?token={} HTTP/1.1", self.dashboard.token()),
                b"",
            )
            .await;
        assert_eq!(a.status, 303, "{a:?}");
        let cookie = a
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let s = self
            .raw(&format!("GET /api/session HTTP/1.1\nCookie: {cookie}"), b"")
            .await;
        assert_eq!(s.status, 200, "{s:?}");
        let csrf = s.json()["csrf"].as_str().expect("a CSRF token").to_owned();
        (cookie, csrf)
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}
