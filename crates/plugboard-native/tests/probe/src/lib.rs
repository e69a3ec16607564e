//! A native plugin for the runtime's tests and benchmarks: `echo` returns its payload,
//! `panic` panics with the payload as message, `version` returns the version it was built
//! with, `boot-panic` in the configuration makes `boot` panic.

use plugboard_pdk::{Boot, Error, Health, Host, NativePlugin};

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

    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        match method {
            "echo" => Ok(payload.to_vec()),
            "panic" => panic!("{}", String::from_utf8_lossy(payload)),
            "version" => Ok(env!("CARGO_PKG_VERSION").as_bytes().to_vec()),
            "fail" => Err(Error::new(String::from_utf8_lossy(payload).into_owned())),
            "heal" => {
                self.host.report_health(Health::Healthy, "healed");
                Ok(Vec::new())
            }
            _ => Err(Error::unknown_method(&["echo", "fail", "heal", "panic", "version"])),
        }
    }
}

plugboard_pdk::export_native!(Probe, id = "probe");
