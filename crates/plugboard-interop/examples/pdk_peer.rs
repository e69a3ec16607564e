//! A Rust process plugin served by `plugboard-pdk`, for the other direction of the interop
//! tests: a Go host written with go-plugin's `plugin.NewClient` (`pb-host`, examples/go/pbhost)
//! loads it, calls it, and offers it Plugboard's host API on go-plugin's broker, or none.
//!
//! Methods: `echo` (the payload back), `count` (a counter kept in the host's storage), `config`
//! (the configuration, read from the host API), `publish` (the payload on `peer.events`), `log`
//! (the payload as a warning in the host's log), `events` (the events delivered so far, as
//! JSON), `pid` (this process's id). Boot logs through the host API when the host offers one,
//! and copes when it does not (another go-plugin host need not): the methods that need the host
//! then answer the pdk's error, which says so, and the others work.
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use plugboard_pdk::process::{serve, HealthStatus, ProcessHost, ProcessPlugin};
use plugboard_pdk::{Error, Level};

#[derive(Default)]
struct Peer {
    /// Whether Boot reached the host API.
    hosted: AtomicBool,
    /// The events delivered, as (topic, payload).
    events: Mutex<Vec<(String, String)>>,
}

#[plugboard_pdk::process::async_trait]
impl ProcessPlugin for Peer {
    async fn boot(
        &self,
        host: &ProcessHost,
        config: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, Error> {
        match host
            .log(Level::Info, &format!("pdk peer booted with {config}"))
            .await
        {
            Ok(()) => self.hosted.store(true, Ordering::Release),
            // Not Plugboard, or a host that offers no host API: serve what needs no host.
            Err(e) => eprintln!("[WARN] running without the host API: {e}"),
        }
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
                host.publish("peer.events", &payload).await?;
                Ok(Vec::new())
            }
            "log" => {
                host.log(Level::Warning, &String::from_utf8_lossy(&payload))
                    .await?;
                Ok(Vec::new())
            }
            "events" => {
                let events: Vec<serde_json::Value> = self
                    .events
                    .lock()
                    .iter()
                    .map(|(t, p)| serde_json::json!({"topic": t, "payload": p}))
                    .collect();
                Ok(serde_json::Value::from(events).to_string().into_bytes())
            }
            "pid" => Ok(std::process::id().to_string().into_bytes()),
            _ => Err(Error::unknown_method(&[
                "echo", "count", "config", "publish", "log", "events", "pid",
            ])),
        }
    }

    async fn on_event(&self, _host: &ProcessHost, topic: &str, payload: &[u8]) {
        self.events.lock().push((
            topic.to_owned(),
            String::from_utf8_lossy(payload).into_owned(),
        ));
    }

    async fn health(&self) -> Option<(HealthStatus, String)> {
        Some(if self.hosted.load(Ordering::Acquire) {
            (
                HealthStatus::Healthy,
                "serving, with the host API".to_owned(),
            )
        } else {
            (
                HealthStatus::Degraded,
                "serving, without a host API".to_owned(),
            )
        })
    }
}

fn main() {
    serve(Peer::default());
}
