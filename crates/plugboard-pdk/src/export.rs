//! The `extern "C"` side of [`export_native!`](crate::export_native): the functions of the
//! descriptor, each one a thin trampoline that catches panics around the author's code.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use plugboard_native_abi::{
    Buf, HostTable, PluginDescriptor, Str, ABI_VERSION, STATUS_OK, STATUS_PANIC,
};

use crate::{adjusted, new_boot, status_of, Error, Host, NativePlugin, Output};

/// A [`PluginDescriptor`] that can live in a `static`.
#[repr(transparent)]
#[derive(Debug)]
pub struct StaticDescriptor(PluginDescriptor);

// SAFETY: the descriptor is never mutated, and its pointers point at string literals and
// functions, which are immutable and live as long as the library; sharing it across threads is
// sharing read-only data.
unsafe impl Sync for StaticDescriptor {}

impl StaticDescriptor {
    /// The pointer the exported symbol returns.
    pub const fn as_ptr(&'static self) -> *const PluginDescriptor {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn as_ptr_for_test(&self) -> &PluginDescriptor {
        &self.0
    }
}

/// The descriptor of plugin type `P`, with `id` and `version` as the manifest must state them.
pub const fn descriptor<P: NativePlugin>(
    id: &'static str,
    version: &'static str,
) -> StaticDescriptor {
    StaticDescriptor(PluginDescriptor {
        abi_version: ABI_VERSION,
        id: Str::text(id),
        version: Str::text(version),
        boot: Some(boot::<P>),
        start: Some(start::<P>),
        stop: Some(stop::<P>),
        call: Some(call::<P>),
        destroy: Some(destroy::<P>),
    })
}

/// Borrows the bytes of a [`Str`] the host passed.
///
/// # Safety
/// `s` must describe `s.len` readable bytes that stay valid for `'a` (the ABI guarantees this
/// for the duration of the call).
pub(crate) unsafe fn bytes<'a>(s: Str) -> &'a [u8] {
    if s.len == 0 || s.ptr.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller, per this function's contract.
        unsafe { std::slice::from_raw_parts(s.ptr, s.len) }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// Turns the outcome of the author's code into a status. On success the result is already in
/// `out`; otherwise `out` is cleared and the message written to it.
fn finish(
    host: Option<Host>,
    result: std::thread::Result<Result<(), Error>>,
    out: *mut Buf,
) -> i32 {
    let (status, message) = match result {
        Ok(Ok(())) => return STATUS_OK,
        Ok(Err(e)) => (status_of(&e), e.message),
        Err(payload) => {
            let message = panic_message(&*payload);
            // Dropping a payload can itself panic; that must not unwind out of here either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            (STATUS_PANIC, format!("panicked: {message}"))
        }
    };
    if let (Some(host), false) = (host, out.is_null()) {
        // SAFETY: a non-null `out` is the host's buffer for this call.
        let mut output = unsafe { Output::new(host, out) };
        output.clear();
        output.extend_from_slice(message.as_bytes());
    }
    status
}

/// What `boot` makes: the author's plugin and the host it was booted with.
struct Instance<P> {
    host: Host,
    plugin: P,
}

unsafe extern "C" fn boot<P: NativePlugin>(
    host: *const HostTable,
    config: Str,
    instance: *mut *mut c_void,
    out: *mut Buf,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() || instance.is_null() {
            return Err(Error::new(
                "boot was given a null host table or instance slot",
            ));
        }
        // SAFETY: the host passes a table that stays valid for the rest of the process.
        let table: &'static HostTable = unsafe { &*host };
        if table.abi_version != ABI_VERSION {
            return Err(Error::new(format!(
                "the host speaks ABI version {}, this plugin was built for {ABI_VERSION}",
                table.abi_version
            )));
        }
        // SAFETY: `config` is valid for the duration of this call.
        let config = String::from_utf8_lossy(unsafe { bytes(config) }).into_owned();
        let host = Host::new(table);
        let mut boot = new_boot(host, config);
        let plugin = P::boot(&mut boot)?;
        if let Some(adjusted) = adjusted(boot) {
            // SAFETY: `out` is the host's buffer for this call.
            unsafe { Output::new(host, out) }.extend_from_slice(adjusted.as_bytes());
        }
        let instance_box = Box::new(Instance { host, plugin });
        // SAFETY: `instance` is non-null (checked above) and points at the host's slot.
        unsafe { instance.write(Box::into_raw(instance_box).cast::<c_void>()) };
        Ok(())
    }));
    // SAFETY: a non-null table is valid for the rest of the process.
    let host = (!host.is_null()).then(|| Host::new(unsafe { &*host }));
    finish(host, result, out)
}

/// The instance behind the pointer `boot` returned.
///
/// # Safety
/// `instance` must be the pointer `boot::<P>` wrote, not yet destroyed.
unsafe fn instance<'a, P>(instance: *mut c_void) -> Option<&'a Instance<P>> {
    // SAFETY: per this function's contract, it is null or a live `Box<Instance<P>>` made by
    // `boot::<P>`.
    unsafe { instance.cast::<Instance<P>>().as_ref() }
}

/// Runs a hook of the instance behind `raw`.
///
/// # Safety
/// As for [`instance`]; `out` is the host's buffer for this call.
unsafe fn hook<P: NativePlugin>(
    raw: *mut c_void,
    out: *mut Buf,
    f: impl FnOnce(&Instance<P>, &mut Output<'_>) -> Result<(), Error>,
) -> i32 {
    // SAFETY: per this function's contract.
    let Some(instance) = (unsafe { instance::<P>(raw) }) else {
        // Without an instance there is no host table to write a message with.
        return plugboard_native_abi::STATUS_ERROR;
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per this function's contract.
        let mut output = unsafe { Output::new(instance.host, out) };
        f(instance, &mut output)
    }));
    finish(Some(instance.host), result, out)
}

unsafe extern "C" fn start<P: NativePlugin>(raw: *mut c_void, out: *mut Buf) -> i32 {
    // SAFETY: the host passes back the pointer `boot` wrote, until `destroy`, and its buffer.
    unsafe { hook::<P>(raw, out, |i, _| i.plugin.start()) }
}

unsafe extern "C" fn stop<P: NativePlugin>(raw: *mut c_void, out: *mut Buf) -> i32 {
    // SAFETY: the host passes back the pointer `boot` wrote, until `destroy`, and its buffer.
    unsafe { hook::<P>(raw, out, |i, _| i.plugin.stop()) }
}

unsafe extern "C" fn call<P: NativePlugin>(
    raw: *mut c_void,
    method: Str,
    payload: Str,
    out: *mut Buf,
) -> i32 {
    // SAFETY: the host passes back the pointer `boot` wrote, until `destroy`, and its buffer;
    // `method` and `payload` are valid for the duration of this call.
    unsafe {
        hook::<P>(raw, out, |i, output| {
            // The ABI guarantees a UTF-8 method name (the host passes a `&str`); validating it
            // again here was a tenth of the cost of a small call.
            let method = std::str::from_utf8_unchecked(bytes(method));
            // The two reserved methods of a state hand-off (a length check on every other
            // call, no more).
            if method.len() == crate::EXPORT_STATE_METHOD.len() && method.starts_with("plugboard.")
            {
                if method == crate::EXPORT_STATE_METHOD {
                    return i
                        .plugin
                        .export_state()
                        .map(|s| output.extend_from_slice(&s));
                }
                if method == crate::IMPORT_STATE_METHOD {
                    return i.plugin.import_state(bytes(payload));
                }
            }
            i.plugin.call(method, bytes(payload), output)
        })
    }
}

unsafe extern "C" fn destroy<P: NativePlugin>(raw: *mut c_void) {
    if raw.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host calls `destroy` once, after the last call, with the pointer `boot`
        // wrote from `Box::into_raw`.
        drop(unsafe { Box::from_raw(raw.cast::<Instance<P>>()) });
    }));
}
