//! [`Host`]: the host API as safe methods over the host table the plugin was booted with.

use std::fmt;

use plugboard_native_abi::{
    health, level, Buf, HostTable, Str, STATUS_DENIED, STATUS_NOT_FOUND, STATUS_OK, STATUS_PANIC,
};

/// The host, as a plugin sees it: its log, configuration, key-value store, events, health and
/// calls to the plugins it declares.
///
/// `Copy`, `Send` and `Sync`, and valid for the life of the process (the host never frees the
/// table it hands out): keep it in your plugin, hand it to your threads.
#[derive(Clone, Copy)]
pub struct Host {
    table: &'static HostTable,
}

// SAFETY: the ABI requires every host function to be callable from any thread, concurrently,
// and the table and its context to stay valid for the rest of the process.
unsafe impl Send for Host {}
// SAFETY: as for `Send`; `Host` offers only shared access to an immutable table.
unsafe impl Sync for Host {}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("abi_version", &self.table.abi_version)
            .finish_non_exhaustive()
    }
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin survived.
    Warning,
    /// A failure.
    Error,
}

/// A health value to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Working normally.
    Healthy,
    /// Working, with reduced service.
    Degraded,
    /// Not working.
    Unhealthy,
}

/// A host API request that failed, with the host's message (which says what to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    status: i32,
    message: String,
}

impl HostError {
    /// The host's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the request was refused for lack of permission (storage not granted, a call to
    /// an undeclared plugin, a reserved topic).
    pub fn is_denied(&self) -> bool {
        self.status == STATUS_DENIED
    }

    /// Whether the callee panicked (for [`Host::call`]).
    pub fn is_panic(&self) -> bool {
        self.status == STATUS_PANIC
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostError {}

impl Host {
    pub(crate) fn new(table: &'static HostTable) -> Self {
        Self { table }
    }

    pub(crate) fn table(&self) -> &'static HostTable {
        self.table
    }

    /// Writes `message` to the plugin's log at `level`.
    pub fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => level::TRACE,
            Level::Debug => level::DEBUG,
            Level::Info => level::INFO,
            Level::Warning => level::WARNING,
            Level::Error => level::ERROR,
        };
        // SAFETY: the table's functions take its own context; `message` outlives the call.
        unsafe { (self.table.log)(self.table.ctx, level, Str::text(message)) }
    }

    /// Logs at `Debug`.
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Logs at `Info`.
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Logs at `Warning`.
    pub fn warn(&self, message: &str) {
        self.log(Level::Warning, message);
    }

    /// Logs at `Error`.
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }

    /// The plugin's effective configuration as JSON text.
    ///
    /// # Errors
    /// When the host cannot provide it.
    pub fn config(&self) -> Result<String, HostError> {
        let mut out = Buf::EMPTY;
        // SAFETY: `out` is a valid `Buf` for the host to fill.
        let status = unsafe { (self.table.config)(self.table.ctx, &mut out) };
        let bytes = self.result(status, out)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads `key` from the plugin's key-value store.
    ///
    /// # Errors
    /// Denied when the manifest does not ask for `permissions: { storage: true }`, or a storage
    /// failure.
    pub fn storage_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        let mut out = Buf::EMPTY;
        // SAFETY: `key` outlives the call; `out` is a valid `Buf` for the host to fill.
        let status = unsafe { (self.table.storage_get)(self.table.ctx, Str::new(key), &mut out) };
        if status == STATUS_NOT_FOUND {
            self.release(out);
            return Ok(None);
        }
        self.result(status, out).map(Some)
    }

    /// Writes `key` = `value` to the plugin's key-value store.
    ///
    /// # Errors
    /// As for [`Host::storage_get`], and when the key or value is too large.
    pub fn storage_put(&self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        let mut out = Buf::EMPTY;
        // SAFETY: `key` and `value` outlive the call; `out` is a valid `Buf`.
        let status = unsafe {
            (self.table.storage_put)(self.table.ctx, Str::new(key), Str::new(value), &mut out)
        };
        self.result(status, out).map(drop)
    }

    /// Deletes `key`; `true` when it existed.
    ///
    /// # Errors
    /// As for [`Host::storage_get`].
    pub fn storage_delete(&self, key: &[u8]) -> Result<bool, HostError> {
        let mut out = Buf::EMPTY;
        // SAFETY: `key` outlives the call; `out` is a valid `Buf`.
        let status =
            unsafe { (self.table.storage_delete)(self.table.ctx, Str::new(key), &mut out) };
        if status == STATUS_NOT_FOUND {
            self.release(out);
            return Ok(false);
        }
        self.result(status, out).map(|_| true)
    }

    /// Publishes `payload` on `topic` (not under `plugin.`, which the host reserves).
    ///
    /// # Errors
    /// Denied for a reserved topic; an error once the host has shut down.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), HostError> {
        let mut out = Buf::EMPTY;
        // SAFETY: `topic` and `payload` outlive the call; `out` is a valid `Buf`.
        let status = unsafe {
            (self.table.publish)(
                self.table.ctx,
                Str::text(topic),
                Str::new(payload),
                &mut out,
            )
        };
        self.result(status, out).map(drop)
    }

    /// Reports the plugin's health, shown beside its state until the next report.
    pub fn report_health(&self, health: Health, message: &str) {
        let value = match health {
            Health::Healthy => health::HEALTHY,
            Health::Degraded => health::DEGRADED,
            Health::Unhealthy => health::UNHEALTHY,
        };
        // SAFETY: `message` outlives the call.
        unsafe { (self.table.report_health)(self.table.ctx, value, Str::text(message)) }
    }

    /// Calls `method` on plugin `target`, which the manifest must declare in `requires` or
    /// `optional`.
    ///
    /// # Errors
    /// Denied for an undeclared target, or the callee's error.
    pub fn call(&self, target: &str, method: &str, payload: &[u8]) -> Result<Vec<u8>, HostError> {
        let mut out = Buf::EMPTY;
        // SAFETY: the three byte ranges outlive the call; `out` is a valid `Buf`.
        let status = unsafe {
            (self.table.call)(
                self.table.ctx,
                Str::text(target),
                Str::text(method),
                Str::new(payload),
                &mut out,
            )
        };
        self.result(status, out)
    }

    /// Copies a buffer the host wrote and gives it back to the host.
    fn take(&self, buf: Buf) -> Vec<u8> {
        let bytes = if buf.ptr.is_null() || buf.len == 0 {
            Vec::new()
        } else {
            // SAFETY: the host wrote `len` initialized bytes at `ptr`, valid until freed below.
            unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
        };
        self.release(buf);
        bytes
    }

    fn release(&self, buf: Buf) {
        if !buf.ptr.is_null() {
            // SAFETY: `buf` was written by the host and is given back once, unchanged.
            unsafe { (self.table.free)(self.table.ctx, buf) }
        }
    }

    fn result(&self, status: i32, out: Buf) -> Result<Vec<u8>, HostError> {
        let bytes = self.take(out);
        if status == STATUS_OK {
            Ok(bytes)
        } else {
            Err(HostError {
                status,
                message: String::from_utf8_lossy(&bytes).into_owned(),
            })
        }
    }
}
