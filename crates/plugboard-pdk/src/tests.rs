//! The kit against a fake host table: the generated entry points, panics, outputs, host calls.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::sync::Mutex;

use plugboard_native_abi::{
    Buf, HostTable, Str, ABI_VERSION, STATUS_DENIED, STATUS_NOT_FOUND, STATUS_OK, STATUS_PANIC,
};

use crate::export::descriptor;
use crate::{Boot, Error, Host, NativePlugin, Output};

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn give(v: Vec<u8>) -> Buf {
    let mut v = ManuallyDrop::new(v);
    Buf {
        ptr: v.as_mut_ptr(),
        len: v.len(),
        cap: v.capacity(),
    }
}

unsafe fn text(s: Str) -> String {
    // SAFETY: the kit passes valid bytes for the call.
    String::from_utf8_lossy(unsafe { crate::export::bytes(s) }).into_owned()
}

unsafe extern "C" fn log(_: *mut c_void, _: i32, message: Str) {
    // SAFETY: valid for the call.
    LOG.lock().unwrap().push(unsafe { text(message) });
}
unsafe extern "C" fn config(_: *mut c_void, out: *mut Buf) -> i32 {
    // SAFETY: `out` is the kit's.
    unsafe { out.write(give(br#"{"n":1}"#.to_vec())) };
    STATUS_OK
}
unsafe extern "C" fn storage_get(_: *mut c_void, key: Str, out: *mut Buf) -> i32 {
    // SAFETY: valid for the call.
    match unsafe { text(key) }.as_str() {
        "k" => {
            // SAFETY: `out` is the kit's.
            unsafe { out.write(give(b"v".to_vec())) };
            STATUS_OK
        }
        _ => STATUS_NOT_FOUND,
    }
}
unsafe extern "C" fn storage_put(_: *mut c_void, _: Str, _: Str, out: *mut Buf) -> i32 {
    // SAFETY: `out` is the kit's.
    unsafe { out.write(give(b"storage is not permitted".to_vec())) };
    STATUS_DENIED
}
unsafe extern "C" fn storage_delete(_: *mut c_void, _: Str, _: *mut Buf) -> i32 {
    STATUS_NOT_FOUND
}
unsafe extern "C" fn publish(_: *mut c_void, _: Str, _: Str, _: *mut Buf) -> i32 {
    STATUS_OK
}
unsafe extern "C" fn report_health(_: *mut c_void, _: i32, _: Str) {}
unsafe extern "C" fn call(_: *mut c_void, _: Str, method: Str, _: Str, out: *mut Buf) -> i32 {
    // SAFETY: valid for the call; `out` is the kit's.
    unsafe { out.write(give(text(method).to_uppercase().into_bytes())) };
    STATUS_OK
}
unsafe extern "C" fn free(_: *mut c_void, buf: Buf) {
    if buf.cap != 0 {
        // SAFETY: made by `give`.
        drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
    }
}
unsafe extern "C" fn reserve(_: *mut c_void, buf: *mut Buf, additional: usize) -> i32 {
    // SAFETY: `buf` is an `out` buffer made by `give` or empty.
    let b = unsafe { buf.read() };
    let mut v = if b.cap == 0 {
        Vec::new()
    } else {
        // SAFETY: made by `give`.
        unsafe { Vec::from_raw_parts(b.ptr, b.len, b.cap) }
    };
    v.reserve(additional);
    // SAFETY: the kit's buffer.
    unsafe { buf.write(give(v)) };
    STATUS_OK
}

/// The fake host's table, leaked as a real host leaks its own.
fn table() -> &'static HostTable {
    Box::leak(Box::new(HostTable {
        abi_version: ABI_VERSION,
        ctx: std::ptr::null_mut(),
        log,
        config,
        storage_get,
        storage_put,
        storage_delete,
        publish,
        report_health,
        call,
        free,
        reserve,
    }))
}

struct Tester {
    host: Host,
}

impl NativePlugin for Tester {
    fn boot(boot: &mut Boot) -> Result<Self, Error> {
        boot.host().info(&format!("config {}", boot.config()));
        boot.set_config(r#"{"n":2}"#);
        Ok(Tester { host: boot.host() })
    }

    fn call(&self, method: &str, payload: &[u8], out: &mut Output<'_>) -> Result<(), Error> {
        match method {
            "host" => {
                assert_eq!(self.host.config()?, r#"{"n":1}"#);
                assert_eq!(self.host.storage_get(b"k")?, Some(b"v".to_vec()));
                assert_eq!(self.host.storage_get(b"x")?, None);
                assert!(!self.host.storage_delete(b"x")?);
                let denied = self.host.storage_put(b"k", b"v").unwrap_err();
                assert!(denied.is_denied() && denied.message().contains("not permitted"));
                out.extend_from_slice(&self.host.call("other", "shout", b"")?);
                Ok(())
            }
            "echo" => {
                out.extend_from_slice(payload);
                std::fmt::Write::write_fmt(out, format_args!("+{}", payload.len()))
                    .map_err(|_| Error::new("write"))
            }
            "panic" => {
                out.extend_from_slice(b"partial");
                panic!("boom {}", payload.len())
            }
            _ => Err(Error::unknown_method(&["echo", "host", "panic"])),
        }
    }
}

/// Calls `method` through the descriptor, as a host would; returns the status and the bytes.
fn invoke(instance: *mut c_void, method: &str, payload: &[u8]) -> (i32, Vec<u8>) {
    let d = descriptor::<Tester>("tester", "1.0.0");
    let d = d.as_ptr_for_test();
    let mut out = Buf::EMPTY;
    // SAFETY: `instance` came from this descriptor's `boot`.
    let status =
        unsafe { (d.call.unwrap())(instance, Str::text(method), Str::new(payload), &mut out) };
    let bytes = if out.cap == 0 {
        Vec::new()
    } else {
        // SAFETY: grown by `reserve`, which makes `give` buffers.
        unsafe { Vec::from_raw_parts(out.ptr, out.len, out.cap) }
    };
    (status, bytes)
}

#[test]
fn the_generated_entry_points_boot_call_contain_panics_and_destroy() {
    let d = descriptor::<Tester>("tester", "1.0.0");
    let d = d.as_ptr_for_test();
    assert_eq!(d.abi_version, ABI_VERSION);
    let mut instance: *mut c_void = std::ptr::null_mut();
    let mut out = Buf::EMPTY;
    // SAFETY: the table is a static; the config and slots are valid for the call.
    let status =
        unsafe { (d.boot.unwrap())(table(), Str::text(r#"{"n":1}"#), &mut instance, &mut out) };
    assert_eq!(status, STATUS_OK);
    // SAFETY: grown by `reserve`.
    let adjusted = unsafe { Vec::from_raw_parts(out.ptr, out.len, out.cap) };
    assert_eq!(adjusted, br#"{"n":2}"#);
    assert!(LOG.lock().unwrap().iter().any(|l| l == r#"config {"n":1}"#));

    assert_eq!(
        invoke(instance, "echo", b"abc"),
        (STATUS_OK, b"abc+3".to_vec())
    );
    assert_eq!(
        invoke(instance, "host", b""),
        (STATUS_OK, b"SHOUT".to_vec())
    );
    assert_eq!(
        invoke(instance, "nope", b""),
        (STATUS_NOT_FOUND, b"echo,host,panic".to_vec())
    );
    // A panic becomes a status with its message; what was written before it is discarded.
    assert_eq!(
        invoke(instance, "panic", b"xy"),
        (STATUS_PANIC, b"panicked: boom 2".to_vec())
    );
    assert_eq!(invoke(instance, "echo", b""), (STATUS_OK, b"+0".to_vec()));

    // SAFETY: after the last call, once.
    unsafe { (d.destroy.unwrap())(instance) };
    let (status, _) = invoke(std::ptr::null_mut(), "echo", b"");
    assert_ne!(status, STATUS_OK, "a call without an instance fails");
}
