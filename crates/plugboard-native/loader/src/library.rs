//! Copying, opening and validating a plugin library.
//!
//! Every load opens a fresh copy of the entry in a directory of this process's own: `dlopen`
//! returns the already-loaded library when asked for a path (or file) it has open, so loading
//! a new version from the same path would silently reuse the old code, and overwriting a mapped
//! library in place crashes whoever runs it. A copy gives every version its own file and its
//! own mapping, which stays valid after a newer one is loaded.

use std::ffi::c_void;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use plugboard_native_abi::{
    BootFn, Buf, CallFn, DestroyFn, EntryFn, HookFn, HostTable, PluginDescriptor, Str, ABI_VERSION,
    ENTRY_SYMBOL_C, STATUS_OK,
};

use crate::host_table::take;
use crate::{Failure, LibrarySpec, LoadError};

/// The prefix of the per-process directories that hold library copies.
const SESSION_PREFIX: &str = "plugboard-native-";

/// The functions of a loaded plugin: plain function pointers into a library that is never
/// unloaded, so they can be copied anywhere and called from any thread.
#[derive(Clone, Copy, Debug)]
struct Functions {
    boot: BootFn,
    start: Option<HookFn>,
    stop: Option<HookFn>,
    call: CallFn,
    destroy: Option<DestroyFn>,
}

/// A library that was opened and validated, mapped for the rest of the process (it is never
/// closed: see [`Library::open`]).
#[derive(Debug)]
pub struct Library {
    functions: Functions,
    /// The copy that was opened.
    copy: PathBuf,
    /// Its size: what stays mapped once it is retired.
    bytes: u64,
}

/// Where the copies of the libraries this process loads go: a directory of its own (mode
/// 0700) under a base directory, made on first use.
#[derive(Debug)]
pub struct Copies {
    base: PathBuf,
    session: Mutex<Option<PathBuf>>,
    next: AtomicU64,
}

impl Copies {
    /// Copies under `base`; nothing is created until the first copy.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        let base = base.into();
        Self {
            base,
            session: Mutex::new(None),
            next: AtomicU64::new(1),
        }
    }

    /// The base directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// This process's directory, created on first use (mode 0700, so no other user can swap
    /// a copy between its write and its `dlopen`), after removing those of dead processes.
    fn session(&self) -> std::io::Result<PathBuf> {
        let mut session = self.session.lock();
        if let Some(dir) = &*session {
            return Ok(dir.clone());
        }
        fs::create_dir_all(&self.base)?;
        remove_stale_sessions(&self.base);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = self
            .base
            .join(format!("{SESSION_PREFIX}{}-{nanos}", std::process::id()));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        *session = Some(dir.clone());
        Ok(dir)
    }

    /// Writes `bytes` to a new file for this load of `spec`'s plugin.
    fn write(&self, spec: &LibrarySpec, bytes: &[u8]) -> Result<PathBuf, LoadError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("{n}-{}-{}.so", spec.plugin, spec.version);
        let io = |path: PathBuf| {
            let plugin = spec.plugin.clone();
            move |source| LoadError::Io {
                plugin,
                action: "copy the library to",
                path,
                source,
            }
        };
        let dir = self.session().map_err(io(self.base.clone()))?;
        let path = dir.join(name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o700);
        options
            .open(&path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(io(path.clone()))?;
        Ok(path)
    }
}

/// Removes the copy directories of processes that no longer run. Best effort: a directory
/// that cannot be removed (another user's) is left alone.
fn remove_stale_sessions(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(SESSION_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next() else {
            continue;
        };
        if cfg!(target_os = "linux") && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Reads a string from the descriptor.
///
/// # Safety
/// `s` must describe `len` readable bytes that live as long as the library.
unsafe fn descriptor_str(s: Str) -> Option<String> {
    if s.len == 0 || s.ptr.is_null() {
        return Some(String::new());
    }
    // SAFETY: per this function's contract.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

impl Library {
    /// Reads and verifies `spec`'s file ([`LibrarySpec::read_verified`]), then opens it
    /// ([`Library::open`]).
    ///
    /// # Errors
    /// Any [`LoadError`] of the two steps.
    pub fn load(spec: &LibrarySpec, copies: &Copies) -> Result<Library, LoadError> {
        let bytes = spec.read_verified()?;
        Library::open(spec, &bytes, copies)
    }

    /// Copies `bytes` (the verified file) into `copies`, opens the copy, and validates its
    /// descriptor against `spec`.
    ///
    /// The library is never closed: a library that registered thread-local destructors leaves
    /// the C library holding pointers into its code, and unmapping it crashes the process when
    /// a thread that used it exits. So the handle is forgotten and the mapping stays for the
    /// rest of the process.
    ///
    /// # Errors
    /// [`LoadError::Io`] (the copy), [`LoadError::Open`] (`dlopen`),
    /// [`LoadError::MissingSymbol`], [`LoadError::AbiVersion`], [`LoadError::Mismatch`] and
    /// [`LoadError::Descriptor`].
    pub fn open(spec: &LibrarySpec, bytes: &[u8], copies: &Copies) -> Result<Library, LoadError> {
        open(spec, bytes, copies)
    }

    /// The copy that was opened.
    pub fn copy(&self) -> &Path {
        &self.copy
    }

    /// The library's size in bytes: what stays mapped once its plugin is gone.
    pub fn size(&self) -> u64 {
        self.bytes
    }

    /// Runs the descriptor's `boot` with `table` and the configuration (JSON), creating the
    /// plugin's instance. On success, also returns what `boot` wrote: an adjusted
    /// configuration (JSON), or nothing.
    ///
    /// Runs plugin code; call it on a thread that may block.
    ///
    /// # Errors
    /// What `boot` said, with its status ([`abi::STATUS_PANIC`](plugboard_native_abi::STATUS_PANIC)
    /// for a panic it caught).
    pub fn boot(
        &self,
        table: &'static HostTable,
        config: &[u8],
    ) -> Result<(Plugin, Vec<u8>), Failure> {
        let mut raw: *mut c_void = std::ptr::null_mut();
        let mut out = Buf::EMPTY;
        // SAFETY: the table is leaked (valid forever); the config, the slot and `out` are valid
        // for the call.
        let status = unsafe { (self.functions.boot)(table, Str::new(config), &mut raw, &mut out) };
        let bytes = result(out);
        if status != STATUS_OK {
            return Err(Failure::from_status(status, &bytes));
        }
        Ok((
            Plugin {
                functions: self.functions,
                instance: InstancePtr(raw),
            },
            bytes,
        ))
    }
}

/// A booted plugin: its instance and its library's functions. Cheap to copy; every copy is the
/// same instance. Its functions may be called from any thread, `call` concurrently (the ABI
/// requires plugins to allow it).
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    functions: Functions,
    instance: InstancePtr,
}

impl Plugin {
    /// Calls `method` with `payload`: the result on success.
    ///
    /// # Errors
    /// The plugin's status and message: [`abi::STATUS_NOT_FOUND`](plugboard_native_abi::STATUS_NOT_FOUND)
    /// with the known methods (comma-separated), `STATUS_DENIED`, `STATUS_PANIC` with the panic
    /// message, or `STATUS_ERROR`.
    pub fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut out = Buf::EMPTY;
        // SAFETY: the instance is the one `boot` returned (not destroyed: `destroy`'s contract);
        // the ABI lets `call` run on any thread, concurrently; `method`, `payload` and `out`
        // are valid for the call.
        let status = unsafe {
            (self.functions.call)(
                self.instance.0,
                Str::text(method),
                Str::new(payload),
                &mut out,
            )
        };
        let bytes = result(out);
        if status == STATUS_OK {
            Ok(bytes)
        } else {
            Err(Failure::from_status(status, &bytes))
        }
    }

    /// Runs the `start` hook, if the plugin has one. Runs plugin code; call it on a thread that
    /// may block.
    ///
    /// # Errors
    /// As for [`call`](Self::call).
    pub fn start(&self) -> Result<(), Failure> {
        self.hook(self.functions.start)
    }

    /// Runs the `stop` hook, if the plugin has one.
    ///
    /// # Errors
    /// As for [`call`](Self::call).
    pub fn stop(&self) -> Result<(), Failure> {
        self.hook(self.functions.stop)
    }

    fn hook(&self, hook: Option<HookFn>) -> Result<(), Failure> {
        let Some(hook) = hook else {
            return Ok(());
        };
        let mut out = Buf::EMPTY;
        // SAFETY: the instance is the one `boot` returned, not destroyed; `out` is ours.
        let status = unsafe { hook(self.instance.0, &mut out) };
        let bytes = result(out);
        if status == STATUS_OK {
            Ok(())
        } else {
            Err(Failure::from_status(status, &bytes))
        }
    }

    /// Whether the plugin has a `destroy` function.
    pub fn has_destroy(&self) -> bool {
        self.functions.destroy.is_some()
    }

    /// Runs `destroy`, which releases the instance.
    ///
    /// # Safety
    /// No other function of this plugin (through any copy of this [`Plugin`]) may run at the
    /// same time or afterwards: the instance is gone.
    pub unsafe fn destroy(&self) {
        if let Some(destroy) = self.functions.destroy {
            // SAFETY: per this function's contract, nothing uses the instance after this.
            unsafe { destroy(self.instance.0) }
        }
    }
}

/// The `out` buffer after a plugin function wrote to it.
fn result(out: Buf) -> Vec<u8> {
    // SAFETY: `out` started as `Buf::EMPTY`, and the plugin grew it only through the host's
    // `reserve`; it is not used again.
    unsafe { take(out) }
}

/// Copies `bytes` (the verified entry), opens the copy, and validates its descriptor against
/// the spec. The library is never closed.
fn open(spec: &LibrarySpec, bytes: &[u8], copies: &Copies) -> Result<Library, LoadError> {
    use libloading::os::unix::{Library as DlLibrary, RTLD_LOCAL, RTLD_NOW};

    let plugin = spec.plugin.clone();
    let entry = spec.path.as_path();
    let copy = copies.write(spec, bytes)?;
    // RTLD_NOW: an unresolved symbol fails here, with a message, instead of aborting the host
    // at the first call that needs it. RTLD_LOCAL: plugins do not see each other's symbols.
    // SAFETY: opening runs the library's initializers, which is what loading a plugin means;
    // the operator installed it, and its digest was checked against `integrity:` if given.
    let library = unsafe { DlLibrary::open(Some(&copy), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
        LoadError::Open {
            plugin: plugin.clone(),
            path: entry.to_owned(),
            message: e.to_string(),
        }
    })?;
    // SAFETY: the symbol, if present, is the ABI's entry function (`EntryFn`); a library that
    // exports the name with another type breaks the ABI's one rule about its one symbol.
    let entry_fn: Result<EntryFn, _> =
        unsafe { library.get::<EntryFn>(ENTRY_SYMBOL_C) }.map(|s| *s);
    // Never dlclose: see the crate documentation. Forgetting the handle keeps the mapping
    // for the rest of the process, whatever happens next.
    std::mem::forget(library);
    let entry_fn = entry_fn.map_err(|e| LoadError::MissingSymbol {
        plugin: plugin.clone(),
        path: entry.to_owned(),
        message: e.to_string(),
    })?;
    let bad = |problem: &str| LoadError::Descriptor {
        plugin: plugin.clone(),
        path: entry.to_owned(),
        problem: problem.to_owned(),
    };
    // SAFETY: calling the entry function has no preconditions.
    let raw = unsafe { entry_fn() };
    if raw.is_null() {
        return Err(bad("`plugboard_plugin` returned a null pointer"));
    }
    // Only the version is read before it is known to match: every ABI version starts with it.
    // SAFETY: a non-null descriptor starts with a `u32` version, whatever its ABI version.
    let found = unsafe { raw.cast::<u32>().read() };
    if found != ABI_VERSION {
        return Err(LoadError::AbiVersion {
            plugin,
            path: entry.to_owned(),
            found,
            expected: ABI_VERSION,
        });
    }
    // SAFETY: the version matches, so this is a `PluginDescriptor` of this ABI, which lives as
    // long as the library (forever).
    let d: &PluginDescriptor = unsafe { &*raw };
    // SAFETY: the descriptor's strings live as long as the library.
    let (id, version) = unsafe { (descriptor_str(d.id), descriptor_str(d.version)) };
    let (Some(id), Some(version)) = (id, version) else {
        return Err(bad("its id or version is not UTF-8"));
    };
    let expected = format!("{} {}", spec.plugin, spec.version);
    let found = format!("{id} {version}");
    if expected != found {
        return Err(LoadError::Mismatch {
            plugin,
            path: entry.to_owned(),
            expected,
            found,
        });
    }
    let (Some(boot), Some(call)) = (d.boot, d.call) else {
        return Err(bad(
            "`boot` and `call` are required and one of them is null",
        ));
    };
    Ok(Library {
        functions: Functions {
            boot,
            start: d.start,
            stop: d.stop,
            call,
            destroy: d.destroy,
        },
        copy,
        bytes: bytes.len() as u64,
    })
}

/// A raw pointer that may cross threads: the plugin's instance, which the ABI requires to be
/// usable from any thread.
#[derive(Clone, Copy, Debug)]
struct InstancePtr(*mut c_void);

// SAFETY: the ABI requires a plugin's instance to be usable from any thread, concurrently
// for `call`; the host only passes the pointer back to the plugin's own functions.
unsafe impl Send for InstancePtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for InstancePtr {}
