//! The host table: a plugin's host services as C function pointers.
//!
//! Every callback runs its body under `catch_unwind`: a panic in the host (a bug, or a panic in
//! a builtin plugin reached through `call`) becomes an error status and never unwinds into the
//! plugin's frames, which may be C.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use plugboard_native_abi::{
    Buf, HostTable, Str, ABI_VERSION, STATUS_DENIED, STATUS_ERROR, STATUS_NOT_FOUND, STATUS_OK,
    STATUS_PANIC,
};

/// A failed request or call, as the C ABI carries it: a status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One of the ABI's statuses: [`STATUS_ERROR`], [`STATUS_NOT_FOUND`],
    /// [`STATUS_PANIC`] or [`STATUS_DENIED`].
    pub status: i32,
    /// The message for the operator (for `STATUS_NOT_FOUND` from a call: the known methods,
    /// comma-separated).
    pub message: String,
}

impl Failure {
    /// A failure with `status` and `message`.
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A plain failure ([`STATUS_ERROR`]).
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(STATUS_ERROR, message)
    }

    /// A refusal ([`STATUS_DENIED`]).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(STATUS_DENIED, message)
    }

    /// Nothing under that name ([`STATUS_NOT_FOUND`]).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(STATUS_NOT_FOUND, message)
    }

    /// What a plugin function answered with a status other than `STATUS_OK`.
    pub(crate) fn from_status(status: i32, message: &[u8]) -> Self {
        Self::new(status, String::from_utf8_lossy(message).into_owned())
    }
}

/// What a host offers a native plugin, behind the C host table. The in-process runtime backs
/// it with the core's `HostApi`; the isolation shim with the process protocol's host API.
///
/// Every method may be called from any thread, concurrently, including threads the plugin made
/// itself, and may block. A panic in one is caught and becomes `STATUS_PANIC`.
pub trait HostServices: Send + Sync + 'static {
    /// Writes a record at `level` (the ABI's [`level`](plugboard_native_abi::level) values;
    /// out-of-range values are clamped by the implementation).
    fn log(&self, level: i32, message: &str);
    /// The plugin's effective configuration, as JSON.
    ///
    /// # Errors
    /// When it cannot be had.
    fn config(&self) -> Result<Vec<u8>, Failure>;
    /// Reads `key`.
    ///
    /// # Errors
    /// A [`Failure::denied`] without storage permission.
    fn storage_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Failure>;
    /// Writes `key`.
    ///
    /// # Errors
    /// As for [`storage_get`](Self::storage_get).
    fn storage_put(&self, key: &[u8], value: &[u8]) -> Result<(), Failure>;
    /// Deletes `key`; whether it existed.
    ///
    /// # Errors
    /// As for [`storage_get`](Self::storage_get).
    fn storage_delete(&self, key: &[u8]) -> Result<bool, Failure>;
    /// Publishes an event.
    ///
    /// # Errors
    /// A reserved topic, or no host.
    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), Failure>;
    /// Reports the plugin's health (the ABI's [`health`](plugboard_native_abi::health)
    /// values).
    fn report_health(&self, health: i32, message: &str);
    /// Calls `method` of plugin `target`.
    ///
    /// # Errors
    /// The call's failure, or a refusal for an undeclared target.
    fn call(&self, target: &str, method: &str, payload: &[u8]) -> Result<Vec<u8>, Failure>;
}

/// What the table's `ctx` points at.
struct HostContext {
    services: Box<dyn HostServices>,
}

/// The size of what [`leak_host_table`] leaks (not counting the services' own data), for
/// reports of retired memory.
pub const LEAKED_BYTES: u64 = (size_of::<HostContext>() + size_of::<HostTable>()) as u64;

/// A host table for `services`, leaked on purpose: the ABI promises plugins that the table
/// stays valid for the rest of the process, so a plugin's own threads may keep using it, even
/// after the plugin was stopped (they get errors once the host is gone, never a dangling
/// pointer).
pub fn leak_host_table(services: Box<dyn HostServices>) -> &'static HostTable {
    let ctx: &'static mut HostContext = Box::leak(Box::new(HostContext { services }));
    Box::leak(Box::new(HostTable {
        abi_version: ABI_VERSION,
        ctx: std::ptr::from_mut(ctx).cast::<c_void>(),
        log: host_log,
        config: host_config,
        storage_get: host_storage_get,
        storage_put: host_storage_put,
        storage_delete: host_storage_delete,
        publish: host_publish,
        report_health: host_report_health,
        call: host_call,
        free: host_free,
        reserve: host_reserve,
    }))
}

/// The services behind a table's `ctx`.
///
/// # Safety
/// `ctx` must be the `ctx` of a table made by [`leak_host_table`] (which is never freed).
unsafe fn context<'a>(ctx: *mut c_void) -> &'a dyn HostServices {
    // SAFETY: per this function's contract, it points at a leaked `HostContext`.
    unsafe { &*(*ctx.cast::<HostContext>()).services }
}

/// Borrows the bytes of a [`Str`] the plugin passed.
///
/// # Safety
/// `s` must describe `len` readable bytes, valid for the duration of the callback.
unsafe fn bytes<'a>(s: Str) -> &'a [u8] {
    if s.len == 0 || s.ptr.is_null() {
        &[]
    } else {
        // SAFETY: per this function's contract.
        unsafe { std::slice::from_raw_parts(s.ptr, s.len) }
    }
}

/// Hands bytes to the plugin as a [`Buf`] that [`host_free`] releases.
pub(crate) fn give(bytes: Vec<u8>) -> Buf {
    if bytes.capacity() == 0 {
        return Buf::EMPTY;
    }
    let mut v = ManuallyDrop::new(bytes);
    Buf {
        ptr: v.as_mut_ptr(),
        len: v.len(),
        cap: v.capacity(),
    }
}

/// The status and message the plugin sees for a failed host request.
fn failure(e: Failure) -> (i32, Vec<u8>) {
    (e.status, e.message.into_bytes())
}

/// Runs a request that produces bytes, writing them (or the error message) to `out`.
fn respond(out: *mut Buf, f: impl FnOnce() -> (i32, Vec<u8>)) -> i32 {
    let (status, bytes) = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let message = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        (
            STATUS_PANIC,
            format!("the host panicked serving the request: {message}").into_bytes(),
        )
    });
    if out.is_null() {
        return status;
    }
    // SAFETY: a non-null `out` points at a `Buf` the plugin gave us to fill.
    unsafe { out.write(give(bytes)) };
    status
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: i32, message: Str) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the plugin passes back its table's `ctx`, and a message valid for this call.
        let (ctx, message) = unsafe { (context(ctx), bytes(message)) };
        ctx.log(level, &String::from_utf8_lossy(message));
    }));
}

unsafe extern "C" fn host_config(ctx: *mut c_void, out: *mut Buf) -> i32 {
    respond(out, || {
        // SAFETY: the plugin passes back its table's `ctx`.
        let ctx = unsafe { context(ctx) };
        match ctx.config() {
            Ok(json) => (STATUS_OK, json),
            Err(e) => failure(e),
        }
    })
}

unsafe extern "C" fn host_storage_get(ctx: *mut c_void, key: Str, out: *mut Buf) -> i32 {
    respond(out, || {
        // SAFETY: the plugin passes back its table's `ctx`, and a key valid for this call.
        let (ctx, key) = unsafe { (context(ctx), bytes(key)) };
        match ctx.storage_get(key) {
            Ok(Some(value)) => (STATUS_OK, value),
            Ok(None) => (STATUS_NOT_FOUND, Vec::new()),
            Err(e) => failure(e),
        }
    })
}

unsafe extern "C" fn host_storage_put(
    ctx: *mut c_void,
    key: Str,
    value: Str,
    out: *mut Buf,
) -> i32 {
    respond(out, || {
        // SAFETY: the plugin passes back its table's `ctx`, and bytes valid for this call.
        let (ctx, key, value) = unsafe { (context(ctx), bytes(key), bytes(value)) };
        match ctx.storage_put(key, value) {
            Ok(()) => (STATUS_OK, Vec::new()),
            Err(e) => failure(e),
        }
    })
}

unsafe extern "C" fn host_storage_delete(ctx: *mut c_void, key: Str, out: *mut Buf) -> i32 {
    respond(out, || {
        // SAFETY: the plugin passes back its table's `ctx`, and a key valid for this call.
        let (ctx, key) = unsafe { (context(ctx), bytes(key)) };
        match ctx.storage_delete(key) {
            Ok(true) => (STATUS_OK, Vec::new()),
            Ok(false) => (STATUS_NOT_FOUND, Vec::new()),
            Err(e) => failure(e),
        }
    })
}

unsafe extern "C" fn host_publish(
    ctx: *mut c_void,
    topic: Str,
    payload: Str,
    out: *mut Buf,
) -> i32 {
    respond(out, || {
        // SAFETY: the plugin passes back its table's `ctx`, and bytes valid for this call.
        let (ctx, topic, payload) = unsafe { (context(ctx), bytes(topic), bytes(payload)) };
        let Ok(topic) = std::str::from_utf8(topic) else {
            return (STATUS_ERROR, b"the topic is not UTF-8".to_vec());
        };
        match ctx.publish(topic, payload) {
            Ok(()) => (STATUS_OK, Vec::new()),
            Err(e) => failure(e),
        }
    })
}

unsafe extern "C" fn host_report_health(ctx: *mut c_void, value: i32, message: Str) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the plugin passes back its table's `ctx`, and a message valid for this call.
        let (ctx, message) = unsafe { (context(ctx), bytes(message)) };
        ctx.report_health(value, &String::from_utf8_lossy(message));
    }));
}

unsafe extern "C" fn host_call(
    ctx: *mut c_void,
    target: Str,
    method: Str,
    payload: Str,
    out: *mut Buf,
) -> i32 {
    respond(out, || {
        // SAFETY: the plugin passes back its table's `ctx`, and bytes valid for this call.
        let (ctx, target, method, payload) =
            unsafe { (context(ctx), bytes(target), bytes(method), bytes(payload)) };
        let (Ok(target), Ok(method)) = (std::str::from_utf8(target), std::str::from_utf8(method))
        else {
            return (STATUS_ERROR, b"the target or method is not UTF-8".to_vec());
        };
        match ctx.call(target, method, payload) {
            Ok(result) => (STATUS_OK, result),
            Err(e) => failure(e),
        }
    })
}

unsafe extern "C" fn host_free(_ctx: *mut c_void, buf: Buf) {
    if buf.ptr.is_null() || buf.cap == 0 {
        return;
    }
    // SAFETY: a non-empty `Buf` the plugin gives back was made by `give` from a `Vec<u8>` with
    // exactly this pointer, length and capacity, and is given back once.
    drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
}

/// Takes back a buffer the host allocated (an `out` buffer a plugin filled) as a vector,
/// without copying it.
///
/// # Safety
/// `buf` must be [`Buf::EMPTY`] or made by [`give`] or [`host_reserve`], with `len` raised by at
/// most what was reserved, and not be used again.
pub(crate) unsafe fn take(buf: Buf) -> Vec<u8> {
    if buf.ptr.is_null() || buf.cap == 0 {
        return Vec::new();
    }
    // A plugin that claims more than it reserved gets its claim cut to the allocation.
    let len = buf.len.min(buf.cap);
    // SAFETY: per this function's contract, these are the raw parts of a `Vec<u8>` of this
    // allocator, whose first `len` bytes the plugin wrote.
    unsafe { Vec::from_raw_parts(buf.ptr, len, buf.cap) }
}

unsafe extern "C" fn host_reserve(_ctx: *mut c_void, buf: *mut Buf, additional: usize) -> i32 {
    if buf.is_null() {
        return STATUS_ERROR;
    }
    // No `catch_unwind` here: nothing below panics. A capacity past `isize::MAX` is refused
    // first, `try_reserve` reports an overflow as an error, and an allocation failure aborts
    // the process rather than unwinding.
    if additional > isize::MAX as usize {
        return STATUS_ERROR;
    }
    // SAFETY: `buf` is an `out` buffer the host passed (or wrote), which the plugin gives back
    // while it fills it; its parts are a `Vec<u8>`'s.
    let current = unsafe { buf.read() };
    let grown = if current.cap == 0 {
        // The common case, a first write into an empty `out`: allocate exactly, directly.
        Ok(Vec::with_capacity(additional))
    } else {
        // SAFETY: as above.
        let mut v = unsafe { take(current) };
        match v.try_reserve(additional) {
            Ok(()) => Ok(v),
            Err(_) => {
                // `buf` still holds these parts: the plugin keeps what it wrote.
                std::mem::forget(v);
                Err(())
            }
        }
    };
    match grown {
        Ok(v) => {
            // SAFETY: `buf` is non-null and the plugin's to update.
            unsafe { buf.write(give_keeping_capacity(v)) };
            STATUS_OK
        }
        Err(()) => STATUS_ERROR,
    }
}

/// Like [`give`], but an empty vector with room keeps its allocation.
fn give_keeping_capacity(bytes: Vec<u8>) -> Buf {
    let mut v = ManuallyDrop::new(bytes);
    if v.capacity() == 0 {
        return Buf::EMPTY;
    }
    Buf {
        ptr: v.as_mut_ptr(),
        len: v.len(),
        cap: v.capacity(),
    }
}
