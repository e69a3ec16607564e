//! A native plugin for the runtime's tests and benchmarks: `echo` returns its payload,
//! `panic` panics with the payload as message, `version` returns the version it was built
//! with, `boot-panic` in the configuration makes `boot` panic.

use plugboard_pdk::{Boot, Error, Health, Host, NativePlugin, Output};

/// The probe.
struct Probe {
    host: Host,
}

impl NativePlugin for Probe {
    fn boot(boot: &mut Boot) -> Result<Self, Error> {
        if boot.config().contains("\"boot-panic\":true") {
            panic!("told to panic in boot");
        }
        Ok(Probe { host: boot.host() })
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
            "heal" => {
                self.host.report_health(Health::Healthy, "healed");
                Ok(())
            }
            _ => Err(Error::unknown_method(&[
                "big", "echo", "fail", "heal", "panic", "version",
            ])),
        }
    }
}

plugboard_pdk::export_native!(Probe, id = "probe");
