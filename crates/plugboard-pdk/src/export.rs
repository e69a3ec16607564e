//! The `extern "C"` side of [`export_native!`](crate::export_native): the functions of the
//! descriptor, each one a thin trampoline that catches panics around the author's code.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use plugboard_native_abi::{
    Buf, HostTable, PluginDescriptor, Str, ABI_VERSION, STATUS_OK, STATUS_PANIC,
};

use crate::{adjusted, new_boot, status_of, Error, Host, NativePlugin};

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
        free: Some(free),
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

/// Hands a vector to the host as a [`Buf`] that [`free`] releases.
fn give(bytes: Vec<u8>) -> Buf {
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

/// Turns the outcome of the author's code into a status, writing the result or the message to
/// `out`.
fn finish(result: std::thread::Result<Result<Vec<u8>, Error>>, out: *mut Buf) -> i32 {
    let (status, bytes) = match result {
        Ok(Ok(bytes)) => (STATUS_OK, bytes),
        Ok(Err(e)) => (status_of(&e), e.message.into_bytes()),
        Err(payload) => {
            let message = panic_message(&*payload);
            // Dropping a payload can itself panic; that must not unwind out of here either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            (STATUS_PANIC, format!("panicked: {message}").into_bytes())
        }
    };
    if out.is_null() {
        drop(bytes);
    } else {
        // SAFETY: a non-null `out` points at a `Buf` the host gave us to fill.
        unsafe { out.write(give(bytes)) };
    }
    status
}

unsafe extern "C" fn boot<P: NativePlugin>(
    host: *const HostTable,
    config: Str,
    instance: *mut *mut c_void,
    out: *mut Buf,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() || instance.is_null() {
            return Err(Error::new("boot was given a null host table or instance slot"));
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
        let mut boot = new_boot(Host::new(table), config);
        let plugin = P::boot(&mut boot)?;
        // SAFETY: `instance` is non-null (checked above) and points at the host's slot.
        unsafe { instance.write(Box::into_raw(Box::new(plugin)).cast::<c_void>()) };
        Ok(adjusted(boot).map(String::into_bytes).unwrap_or_default())
    }));
    finish(result, out)
}

/// The instance behind the pointer `boot` returned.
///
/// # Safety
/// `instance` must be the pointer `boot::<P>` wrote, not yet destroyed.
unsafe fn instance<'a, P>(instance: *mut c_void) -> Result<&'a P, Error> {
    if instance.is_null() {
        return Err(Error::new("the plugin has not booted"));
    }
    // SAFETY: per this function's contract, it is a live `Box<P>` made by `boot::<P>`.
    Ok(unsafe { &*instance.cast::<P>() })
}

unsafe extern "C" fn start<P: NativePlugin>(raw: *mut c_void, out: *mut Buf) -> i32 {
    finish(
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the host passes back the pointer `boot` wrote, until `destroy`.
            unsafe { instance::<P>(raw) }?.start().map(|()| Vec::new())
        })),
        out,
    )
}

unsafe extern "C" fn stop<P: NativePlugin>(raw: *mut c_void, out: *mut Buf) -> i32 {
    finish(
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the host passes back the pointer `boot` wrote, until `destroy`.
            unsafe { instance::<P>(raw) }?.stop().map(|()| Vec::new())
        })),
        out,
    )
}

unsafe extern "C" fn call<P: NativePlugin>(
    raw: *mut c_void,
    method: Str,
    payload: Str,
    out: *mut Buf,
) -> i32 {
    finish(
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the host passes back the pointer `boot` wrote, until `destroy`; `method`
            // and `payload` are valid for the duration of this call.
            let (plugin, method, payload) =
                unsafe { (instance::<P>(raw)?, bytes(method), bytes(payload)) };
            let method = std::str::from_utf8(method)
                .map_err(|_| Error::new("the method name is not UTF-8"))?;
            plugin.call(method, payload)
        })),
        out,
    )
}

unsafe extern "C" fn free(buf: Buf) {
    if buf.ptr.is_null() || buf.cap == 0 {
        return;
    }
    // SAFETY: a non-empty `Buf` the host gives back was made by `give` from a `Vec<u8>` with
    // exactly this pointer, length and capacity, and is given back once.
    drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
}

unsafe extern "C" fn destroy<P: NativePlugin>(raw: *mut c_void) {
    if raw.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host calls `destroy` once, after the last call, with the pointer `boot`
        // wrote from `Box::into_raw`.
        drop(unsafe { Box::from_raw(raw.cast::<P>()) });
    }));
}
