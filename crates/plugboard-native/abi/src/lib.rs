//! The C ABI between a Plugboard host and a native plugin, declared in Rust.
//!
//! This crate mirrors `sdk/c/plugboard.h` type for type; the header is the specification and
//! documents every rule (who owns which buffer, which thread calls what). It holds declarations
//! only, no code and no dependencies, so that the host (`plugboard-native`) and the plugin
//! author's kit (`plugboard-pdk`) can share it without depending on each other: a plugin
//! never links the host, and the host never links the kit.
//!
//! Only C types cross the boundary: integers, pointers, `(pointer, length)` pairs and function
//! pointers. A plugin built by another rustc, or written in C, is as good as one built with the
//! host.
//!
//! Every function that produces bytes writes them to an `out` [`Buf`] that the host allocates
//! (through [`HostTable::reserve`]): the result on success, a message otherwise. One allocator
//! for every buffer means a result crosses without a copy, and no buffer is freed by an
//! allocator that did not make it.
//!
//! # Versioning
//! A library exports one symbol, [`ENTRY_SYMBOL`], a function returning a
//! [`PluginDescriptor`]. Its first field is [`ABI_VERSION`], and every later version of the ABI
//! keeps a `u32` version at offset 0, so a host can read the version of any plugin, old or new,
//! and refuse one it does not speak with a message naming both versions, before it touches
//! anything else.
#![no_std]
#![deny(missing_docs)]

use core::ffi::c_void;

/// The version of the ABI this crate describes. A host loads a plugin only when the plugin's
/// [`PluginDescriptor::abi_version`] equals its own.
pub const ABI_VERSION: u32 = 1;

/// The name of the one symbol a plugin exports, without its terminating NUL.
pub const ENTRY_SYMBOL: &str = "plugboard_plugin";

/// [`ENTRY_SYMBOL`] with its terminating NUL, as `dlsym` wants it.
pub const ENTRY_SYMBOL_C: &[u8] = b"plugboard_plugin\0";

/// The call succeeded; the output buffer holds the result (maybe empty).
pub const STATUS_OK: i32 = 0;
/// The call failed; the output buffer holds a UTF-8 message for the operator.
pub const STATUS_ERROR: i32 = 1;
/// Nothing under that name: a storage key that is absent (output empty), or a method the plugin
/// does not have (output: optionally the known methods, comma-separated).
pub const STATUS_NOT_FOUND: i32 = 2;
/// The callee panicked (or threw); the output buffer holds the panic message. The callee
/// caught it, so nothing unwound across the boundary, but its state may be inconsistent.
pub const STATUS_PANIC: i32 = 3;
/// The caller is not allowed to do this (storage not permitted, a call to an undeclared
/// plugin, a reserved topic); the output buffer says why and what to do.
pub const STATUS_DENIED: i32 = 4;

/// Log levels for [`HostTable::log`].
pub mod level {
    /// Very detailed tracing.
    pub const TRACE: i32 = 0;
    /// Debugging detail.
    pub const DEBUG: i32 = 1;
    /// Normal operation.
    pub const INFO: i32 = 2;
    /// Something unexpected that the plugin survived.
    pub const WARNING: i32 = 3;
    /// A failure.
    pub const ERROR: i32 = 4;
}

/// Health values for [`HostTable::report_health`].
pub mod health {
    /// Working normally.
    pub const HEALTHY: i32 = 0;
    /// Working, with reduced service.
    pub const DEGRADED: i32 = 1;
    /// Not working.
    pub const UNHEALTHY: i32 = 2;
}

/// Borrowed bytes: valid only for the duration of the call that receives them. Strings are
/// UTF-8 and not NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Str {
    /// The first byte; may be dangling or null when `len` is 0.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

impl Str {
    /// Borrows `bytes` for a call.
    pub const fn new(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Borrows a string for a call.
    pub const fn text(text: &str) -> Self {
        Self::new(text.as_bytes())
    }
}

/// Owned bytes handed across the boundary, always allocated by the host.
///
/// One allocator owns every buffer, so that a result crosses without a copy: the host passes an
/// empty `Buf` as `out`, the plugin grows it with [`HostTable::reserve`] and writes into it
/// (bytes `len..cap` are writable after a reserve; the plugin then raises `len`), and the host
/// keeps it as its own result. A buffer the host writes in answer to a plugin's request
/// (storage, configuration, calls) is released by the plugin with [`HostTable::free`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Buf {
    /// The first byte; null when nothing was allocated.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
    /// The allocated size: bytes `len..cap` may be written after a [`HostTable::reserve`].
    pub cap: usize,
}

impl Buf {
    /// No bytes, nothing to free.
    pub const EMPTY: Buf = Buf {
        ptr: core::ptr::null_mut(),
        len: 0,
        cap: 0,
    };
}

/// What the host offers a plugin: the host API as C function pointers.
///
/// Every function takes [`HostTable::ctx`] first. The table and `ctx` stay valid for the rest
/// of the process, so a plugin may keep the pointer, including in threads of its own, and
/// every function may be called from any thread, concurrently. Functions that produce bytes
/// write an owned [`Buf`] through `out`, to be released with [`HostTable::free`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostTable {
    /// The ABI version the host speaks ([`ABI_VERSION`]).
    pub abi_version: u32,
    /// The host's context for this plugin; passed back as the first argument of every function.
    pub ctx: *mut c_void,
    /// Writes `message` to the plugin's log at `level` (see [`level`]).
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: i32, message: Str),
    /// Writes the plugin's effective configuration, as JSON, to `out`.
    pub config: unsafe extern "C" fn(ctx: *mut c_void, out: *mut Buf) -> i32,
    /// Reads `key` from the plugin's store: `STATUS_OK` with the value in `out`,
    /// `STATUS_NOT_FOUND`, or an error with its message in `out`.
    pub storage_get: unsafe extern "C" fn(ctx: *mut c_void, key: Str, out: *mut Buf) -> i32,
    /// Writes `key` = `value`; an error's message goes to `out`.
    pub storage_put:
        unsafe extern "C" fn(ctx: *mut c_void, key: Str, value: Str, out: *mut Buf) -> i32,
    /// Deletes `key`: `STATUS_OK` when it existed, `STATUS_NOT_FOUND` when it did not.
    pub storage_delete: unsafe extern "C" fn(ctx: *mut c_void, key: Str, out: *mut Buf) -> i32,
    /// Publishes `payload` on `topic`.
    pub publish:
        unsafe extern "C" fn(ctx: *mut c_void, topic: Str, payload: Str, out: *mut Buf) -> i32,
    /// Reports the plugin's health (see [`health`]) with a message.
    pub report_health: unsafe extern "C" fn(ctx: *mut c_void, health: i32, message: Str),
    /// Calls `method` on plugin `target` (declared in the plugin's `requires` or `optional`);
    /// the result or the error message goes to `out`.
    pub call: unsafe extern "C" fn(
        ctx: *mut c_void,
        target: Str,
        method: Str,
        payload: Str,
        out: *mut Buf,
    ) -> i32,
    /// Releases a buffer the host wrote in answer to a request.
    pub free: unsafe extern "C" fn(ctx: *mut c_void, buf: Buf),
    /// Grows `buf` (an `out` buffer the host passed, or one it wrote) so that at least
    /// `additional` more bytes fit after `len`; `ptr` and `cap` may change.
    pub reserve: unsafe extern "C" fn(ctx: *mut c_void, buf: *mut Buf, additional: usize) -> i32,
}

/// `boot(host, config, &instance, out)`: creates the plugin's instance.
pub type BootFn = unsafe extern "C" fn(
    host: *const HostTable,
    config: Str,
    instance: *mut *mut c_void,
    out: *mut Buf,
) -> i32;
/// `start(instance, out)` and `stop(instance, out)`.
pub type HookFn = unsafe extern "C" fn(instance: *mut c_void, out: *mut Buf) -> i32;
/// `call(instance, method, payload, out)`. The host guarantees that `method` is UTF-8.
pub type CallFn =
    unsafe extern "C" fn(instance: *mut c_void, method: Str, payload: Str, out: *mut Buf) -> i32;
/// `destroy(instance)`: releases the instance after `stop`.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// The type of the exported [`ENTRY_SYMBOL`].
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

/// What a plugin library describes itself with. Returned by [`ENTRY_SYMBOL`]; it must stay
/// valid, unchanged, for as long as the library is loaded (a `static`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginDescriptor {
    /// The ABI version the plugin was built for; always the first field.
    pub abi_version: u32,
    /// The plugin's id; must equal the manifest's `id`.
    pub id: Str,
    /// The plugin's version; must equal the manifest's `version`.
    pub version: Str,
    /// Creates the instance from the configuration (JSON). On success `out` may hold an
    /// adjusted configuration (JSON) or nothing; on failure, the message. Required.
    pub boot: Option<BootFn>,
    /// Begins work. Optional.
    pub start: Option<HookFn>,
    /// Ends work. Optional.
    pub stop: Option<HookFn>,
    /// Handles a call; may run on many threads at once. Required.
    pub call: Option<CallFn>,
    /// Releases the instance after `stop`. Optional.
    pub destroy: Option<DestroyFn>,
}
