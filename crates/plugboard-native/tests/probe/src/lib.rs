//! A native plugin for the runtime's tests and benchmarks: `echo` returns its payload,
//! `panic` panics with the payload as message, `version` returns the version it was built
//! with, `tally` counts its calls in memory (the state it hands to its next version on a hot
//! reload), `boot-panic` in the configuration makes `boot` panic.

use std::sync::atomic::{AtomicU64, Ordering};

use plugboard_pdk::{Boot, Error, Health, Host, NativePlugin, Output};

/// The probe.
struct Probe {
    host: Host,
    tally: AtomicU64,
}

impl NativePlugin for Probe {
    fn boot(boot: &mut Boot) -> Result<Self, Error> {
        if boot.config().contains("\"boot-panic\":true") {
            panic!("told to panic in boot");
        }
        Ok(Probe {
            host: boot.host(),
            tally: AtomicU64::new(0),
        })
    }

    fn call(&self, method: &str, payload: &[u8], out: &mut Output<'_>) -> Result<(), Error> {
        match method {
            "echo" => {
                out.extend_from_slice(payload);
                Ok(())
            }
            "panic" => {
                out.extend_from_slice(b"half a result, discarded");
                panic!("{}", String::from_utf8_lossy(payload))
            }
            "version" => {
                out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
                Ok(())
            }
            "fail" => Err(Error::new(String::from_utf8_lossy(payload).into_owned())),
            "big" => {
                // Many small writes, to grow the host's buffer through `reserve` repeatedly.
                for i in 0..10_000u32 {
                    out.extend_from_slice(&i.to_le_bytes());
                }
                Ok(())
            }
            "tally" => {
                let n = self.tally.fetch_add(1, Ordering::SeqCst) + 1;
                out.extend_from_slice(n.to_string().as_bytes());
                Ok(())
            }
            "heal" => {
                self.host.report_health(Health::Healthy, "healed");
                Ok(())
            }
            _ => Err(Error::unknown_method(&[
                "big", "echo", "fail", "heal", "panic", "tally", "version",
            ])),
        }
    }

    fn export_state(&self) -> Result<Vec<u8>, Error> {
        Ok(self.tally.load(Ordering::SeqCst).to_le_bytes().to_vec())
    }

    fn import_state(&self, state: &[u8]) -> Result<(), Error> {
        let bytes: [u8; 8] = state
            .try_into()
            .map_err(|_| Error::new(format!("a tally is 8 bytes, not {}", state.len())))?;
        self.tally
            .store(u64::from_le_bytes(bytes), Ordering::SeqCst);
        Ok(())
    }
}

plugboard_pdk::export_native!(Probe, id = "probe");
