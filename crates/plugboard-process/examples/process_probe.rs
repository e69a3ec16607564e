//! A process plugin for the runtime's tests and benchmarks, served with `plugboard-pdk`.
//!
//! Methods: `echo` (the payload back), `upper` (text upper-cased), `count` (a counter kept in
//! the host's storage, through the broker), `config` (the configuration, from the host API),
//! `publish` (publishes the payload on `probe.events`), `sleep` (never answers in time), `exit`
//! (the process exits 3 at once), `freeze` (the process stops itself with SIGSTOP), `fork` (starts a grandchild `sleep 300` and answers its pid),
//! `pid` (this process's id), `tally` (a counter in memory, handed to the next version on a
//! hot reload), `read` (the file named by the payload, or the OS error), `noise` (writes N stderr lines first),
//! `client-cert` (the `PLUGIN_CLIENT_CERT` it was given, AutoMTLS). `PROBE_FAULT` in the
//! environment makes the process misbehave before serving: `no-handshake`, `garbage`,
//! `exit1`, `flood`; and for AutoMTLS: `no-cert` (ignores `PLUGIN_CLIENT_CERT` and serves
//! plaintext), `not-a-cert` (prints a sixth field that is DER but no certificate),
//! `other-cert` (serves TLS with a certificate other than the one it prints). `PROBE_TCP`
//! makes it listen on loopback TCP instead of a Unix socket.
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use plugboard_pdk::process::{serve, ProcessHost, ProcessPlugin};
use plugboard_pdk::{Error, Level};

#[derive(Default)]
struct Probe {
    tally: AtomicU64,
}

#[plugboard_pdk::process::async_trait]
impl ProcessPlugin for Probe {
    async fn boot(
        &self,
        host: &ProcessHost,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, Error> {
        eprintln!("[INFO] probe booting with {config}");
        host.log(Level::Debug, "booted through the host API")
            .await?;
        Ok(None)
    }

    async fn call(
        &self,
        host: &ProcessHost,
        method: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        match method {
            "echo" => Ok(payload),
            "upper" => Ok(String::from_utf8_lossy(&payload)
                .to_uppercase()
                .into_bytes()),
            "count" => {
                let n: u64 = host
                    .storage_get("count")
                    .await?
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0)
                    + 1;
                host.storage_put("count", n.to_string().as_bytes()).await?;
                Ok(n.to_string().into_bytes())
            }
            "config" => Ok(host.config().await?.to_string().into_bytes()),
            "publish" => {
                host.publish("probe.events", &payload).await?;
                Ok(Vec::new())
            }
            "sleep" => {
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                Ok(Vec::new())
            }
            "exit" => std::process::exit(3),
            "freeze" => {
                // The whole process stops answering, as a deadlocked plugin would.
                let _ = std::process::Command::new("kill")
                    .args(["-STOP", &std::process::id().to_string()])
                    .status();
                Ok(Vec::new())
            }
            "pid" => Ok(std::process::id().to_string().into_bytes()),
            "client-cert" => Ok(std::env::var("PLUGIN_CLIENT_CERT")
                .unwrap_or_default()
                .into_bytes()),
            "tally" => Ok((self.tally.fetch_add(1, Ordering::SeqCst) + 1)
                .to_string()
                .into_bytes()),
            "read" => {
                let path = String::from_utf8_lossy(&payload).into_owned();
                std::fs::read(&path).map_err(|e| Error::new(format!("cannot read {path}: {e}")))
            }
            "fork" => {
                let child = std::process::Command::new("sleep")
                    .arg("300")
                    .spawn()
                    .map_err(|e| Error::new(format!("cannot fork: {e}")))?;
                Ok(child.id().to_string().into_bytes())
            }
            "noise" => {
                let n: usize = String::from_utf8_lossy(&payload).parse().unwrap_or(1000);
                let mut err = std::io::stderr().lock();
                for i in 0..n {
                    let _ = writeln!(err, "[DEBUG] noise line {i} {}", "x".repeat(200));
                }
                Ok(n.to_string().into_bytes())
            }
            _ => Err(Error::unknown_method(&["echo", "upper", "count", "config"])),
        }
    }

    async fn export_state(&self, _: &ProcessHost) -> Result<Vec<u8>, Error> {
        Ok(self.tally.load(Ordering::SeqCst).to_le_bytes().to_vec())
    }

    async fn import_state(&self, _: &ProcessHost, state: Vec<u8>) -> Result<(), Error> {
        let bytes: [u8; 8] = state
            .as_slice()
            .try_into()
            .map_err(|_| Error::new(format!("a tally is 8 bytes, not {}", state.len())))?;
        self.tally
            .store(u64::from_le_bytes(bytes), Ordering::SeqCst);
        Ok(())
    }
}

fn main() {
    match std::env::var("PROBE_FAULT").as_deref() {
        Ok("no-handshake") => std::thread::sleep(std::time::Duration::from_secs(600)),
        Ok("garbage") => {
            println!("Starting probe v1.0 ... ready!");
            std::thread::sleep(std::time::Duration::from_secs(600));
        }
        Ok("wrong-version") => {
            println!("1|7|unix|/tmp/nowhere.sock|grpc|");
            std::thread::sleep(std::time::Duration::from_secs(600));
        }
        Ok("exit1") => {
            eprintln!("fatal: the probe cannot start: missing PROBE_DB");
            std::process::exit(1);
        }
        Ok("flood") => {
            std::thread::spawn(|| {
                for i in 0.. {
                    // One line at a time, so that the plugin's own stderr lines get through.
                    if writeln!(std::io::stderr(), "{{\"@level\":\"debug\",\"@message\":\"flood {i}\",\"@timestamp\":\"2024-05-01T10:11:12.000000Z\"}}").is_err() {
                        return;
                    }
                }
            });
        }
        Ok("no-cert") => {
            // Edition 2021: removing a variable is safe; no other thread runs yet.
            std::env::remove_var("PLUGIN_CLIENT_CERT");
        }
        Ok("not-a-cert") => {
            // One DER SEQUENCE of 60 zero bytes: base64 of DER, but no certificate.
            let mut der = vec![0x30, 60];
            der.extend([0u8; 60]);
            let mut line = plugboard_protocol::handshake::Handshake::grpc(
                1,
                plugboard_protocol::handshake::Network::Unix,
                "/tmp/nowhere.sock",
            );
            line.server_cert = Some(der);
            println!("{line}");
            std::thread::sleep(std::time::Duration::from_secs(600));
        }
        Ok("other-cert") => other_cert(),
        _ => {}
    }
    if std::env::var("PROBE_TCP").is_ok() {
        plugboard_pdk::process::serve_config(
            Probe::default(),
            plugboard_pdk::process::ServeConfig {
                tcp: true,
                ..Default::default()
            },
        );
    }
    serve(Probe::default());
}

/// Prints one certificate in the handshake line and serves TLS with another, as a process
/// between the host and the real plugin would: the host must refuse the connection.
fn other_cert() -> ! {
    use plugboard_protocol::handshake::{Handshake, Network};
    use plugboard_protocol::mtls::{Identity, PinnedCert};
    let host = std::env::var("PLUGIN_CLIENT_CERT").expect("AutoMTLS is on");
    let host = PinnedCert::from_pem(&host).expect("the host's certificate");
    let announced = Identity::generate().expect("a certificate");
    let served = Identity::generate().expect("a certificate");
    let config = served.server_config(host).expect("a TLS configuration");
    let dir = std::env::var("PLUGIN_UNIX_SOCKET_DIR").unwrap_or_else(|_| "/tmp".to_owned());
    let path = std::path::Path::new(&dir).join(format!("other-{}.sock", std::process::id()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let listener = tokio::net::UnixListener::bind(&path).expect("a socket");
        let mut line = Handshake::grpc(1, Network::Unix, path.to_string_lossy().into_owned());
        line.server_cert = Some(announced.cert_der().to_vec());
        println!("{line}");
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                if let Err(e) = acceptor.accept(stream).await {
                    eprintln!("[INFO] other-cert: the host refused the connection: {e}");
                }
            }
        }
    })
}
