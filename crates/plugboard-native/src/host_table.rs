//! The host services a plugin loaded in process gets: its [`HostApi`], behind the loader's C
//! host table.

use plugboard_core::manifest::LogLevel;
use plugboard_core::{CallError, Health, HealthReport, HostApi};
use plugboard_native_loader::abi::{health, level};
use plugboard_native_loader::{Failure, HostServices};

/// A plugin's [`HostApi`] as [`HostServices`].
pub(crate) struct InProcess {
    pub(crate) api: HostApi,
}

/// The status and message the plugin sees for a failed host request.
fn failure(e: &CallError) -> Failure {
    let message = e.to_string();
    match e {
        CallError::Denied(_) => Failure::denied(message),
        CallError::UnknownMethod { .. } | CallError::UnknownPlugin(_) => {
            Failure::not_found(message)
        }
        CallError::Crashed { message: m, .. } if m.contains("panic") => {
            Failure::new(plugboard_native_loader::abi::STATUS_PANIC, message)
        }
        _ => Failure::error(message),
    }
}

fn log_level(value: i32) -> LogLevel {
    match value {
        i32::MIN..=level::TRACE => LogLevel::Trace,
        level::DEBUG => LogLevel::Debug,
        level::INFO => LogLevel::Info,
        level::WARNING => LogLevel::Warning,
        _ => LogLevel::Error,
    }
}

impl HostServices for InProcess {
    fn log(&self, value: i32, message: &str) {
        let level = log_level(value);
        if self.api.log_enabled(level) {
            self.api.log(level, message);
        }
    }

    fn config(&self) -> Result<Vec<u8>, Failure> {
        serde_json::to_vec(&*self.api.config()).map_err(|e| Failure::error(e.to_string()))
    }

    fn storage_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        let store = self.api.storage().map_err(|e| failure(&e))?;
        store.get(key).map_err(|e| Failure::error(e.to_string()))
    }

    fn storage_put(&self, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        let store = self.api.storage().map_err(|e| failure(&e))?;
        store
            .put(key, value)
            .map_err(|e| Failure::error(e.to_string()))
    }

    fn storage_delete(&self, key: &[u8]) -> Result<bool, Failure> {
        let store = self.api.storage().map_err(|e| failure(&e))?;
        store.delete(key).map_err(|e| Failure::error(e.to_string()))
    }

    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), Failure> {
        self.api
            .publish(topic, payload.to_vec())
            .map_err(|e| failure(&e))
    }

    fn report_health(&self, value: i32, message: &str) {
        let health = match value {
            health::HEALTHY => Health::Healthy,
            health::DEGRADED => Health::Degraded,
            _ => Health::Unhealthy,
        };
        self.api.report_health(HealthReport::new(health, message));
    }

    fn call(&self, target: &str, method: &str, payload: &[u8]) -> Result<Vec<u8>, Failure> {
        self.api
            .call_blocking(target, method, payload)
            .map_err(|e| failure(&e))
    }
}
