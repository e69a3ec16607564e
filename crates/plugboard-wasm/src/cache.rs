//! The compiled-module cache: compiled code in memory for the life of the runtime, and on disk
//! under the host's state directory, so a second start of a plugin (in this process or the
//! next) skips compilation.
//!
//! An entry's key is the sha256 of the artifact, wasmtime's version and the engine's
//! compatibility hash (its settings and the host CPU's features), so a changed module, a new
//! wasmtime or other settings never load stale code. The file beside each entry holds the
//! sha256 of the compiled bytes, checked before they are loaded: a truncated or corrupted
//! entry is recompiled, never run.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// Compiled code, either kind.
#[derive(Clone)]
pub(crate) enum Compiled {
    /// A core module (Extism ABI).
    Module(Module),
    /// A component.
    Component(Component),
}

/// Where the compiled code came from, for the plugin's log and the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already compiled in this process.
    Memory,
    /// Loaded from the state directory.
    Disk,
    /// Compiled now (and stored when a state directory is known).
    Compiled,
}

/// The runtime's compiled-module cache.
#[derive(Debug, Default)]
pub(crate) struct ModuleCache {
    memory: Mutex<HashMap<String, CompiledEntry>>,
    /// One lock per key being compiled, so that plugins loading the same artifact at once
    /// (a thousand copies of one module) compile it once and the others wait for it.
    compiling: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

#[derive(Clone)]
struct CompiledEntry(Compiled);

impl std::fmt::Debug for CompiledEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled(..)")
    }
}

/// The cache key for `digest` (the artifact's sha256, hex) on `engine`.
pub(crate) fn key(engine: &Engine, digest: &str, component: bool) -> String {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!(
        "{digest}-{}-{:016x}-{}",
        wasmtime_version(),
        h.finish(),
        if component { "c" } else { "m" }
    )
}

/// The wasmtime version compiled code belongs to.
fn wasmtime_version() -> &'static str {
    // `Module::serialize` embeds it too; keeping it in the key means a wasmtime upgrade leaves
    // old entries unused instead of failing to load them.
    "wasmtime48"
}

impl ModuleCache {
    /// The compiled form of `bytes`: from memory, from `dir`, or compiled now (and written to
    /// `dir`). Errors are compile errors; cache I/O failures only cost a compilation.
    pub(crate) fn get(
        &self,
        engine: &Engine,
        dir: Option<&Path>,
        digest: &str,
        bytes: &[u8],
        component: bool,
    ) -> wasmtime::Result<(Compiled, CacheOutcome)> {
        let key = key(engine, digest, component);
        if let Some(hit) = self.memory.lock().get(&key) {
            return Ok((hit.0.clone(), CacheOutcome::Memory));
        }
        let gate = self
            .compiling
            .lock()
            .entry(key.clone())
            .or_default()
            .clone();
        let _compiling = gate.lock();
        if let Some(hit) = self.memory.lock().get(&key) {
            return Ok((hit.0.clone(), CacheOutcome::Memory));
        }
        let from_disk = dir.and_then(|d| read(engine, d, &key, component));
        let (compiled, outcome) = match from_disk {
            Some(c) => (c, CacheOutcome::Disk),
            None => {
                let c = if component {
                    Compiled::Component(Component::new(engine, bytes)?)
                } else {
                    Compiled::Module(Module::new(engine, bytes)?)
                };
                if let Some(d) = dir {
                    write(d, &key, &c);
                }
                (c, CacheOutcome::Compiled)
            }
        };
        self.memory
            .lock()
            .insert(key.clone(), CompiledEntry(compiled.clone()));
        self.compiling.lock().remove(&key);
        Ok((compiled, outcome))
    }
}

fn paths(dir: &Path, key: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{key}.cwasm")),
        dir.join(format!("{key}.sha256")),
    )
}

fn read(engine: &Engine, dir: &Path, key: &str, component: bool) -> Option<Compiled> {
    let (code, sum) = paths(dir, key);
    let bytes = std::fs::read(&code).ok()?;
    let expected = std::fs::read_to_string(&sum).ok()?;
    if hex::encode(Sha256::digest(&bytes)) != expected.trim() {
        let _ = std::fs::remove_file(&code);
        return None;
    }
    // SAFETY: the bytes are what `serialize` wrote for this engine's settings and wasmtime
    // version (both in the key), in a directory of the host's own, and their digest matches
    // the one written beside them, so they are not truncated or corrupted. wasmtime checks
    // the header (version, settings) again and refuses a mismatch.
    #[allow(unsafe_code)]
    let loaded = unsafe {
        if component {
            Component::deserialize(engine, &bytes).map(Compiled::Component)
        } else {
            Module::deserialize(engine, &bytes).map(Compiled::Module)
        }
    };
    loaded.ok()
}

fn write(dir: &Path, key: &str, compiled: &Compiled) {
    let bytes = match compiled {
        Compiled::Module(m) => m.serialize(),
        Compiled::Component(c) => c.serialize(),
    };
    let Ok(bytes) = bytes else { return };
    if create_private_dir(dir).is_err() {
        return;
    }
    let (code, sum) = paths(dir, key);
    let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
    // Written to a temporary name and renamed, so a reader never sees half a file; the digest
    // goes last, so an entry without it is ignored.
    if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, &code).is_ok() {
        let _ = std::fs::write(&sum, hex::encode(Sha256::digest(&bytes)));
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}
