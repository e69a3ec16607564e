//! Why a WebAssembly plugin could not be loaded.

use std::path::PathBuf;

use plugboard_core::RuntimeError;

/// Why a WebAssembly plugin could not be loaded. Each message names the plugin, the file or
/// field, and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The plugin has no directory (it was declared in code), so no entry file can be found.
    #[error("plugin {plugin}: a wasm plugin needs a plugin directory holding its module; it was declared without one")]
    NoDirectory {
        /// The plugin.
        plugin: String,
    },
    /// The entry file does not exist.
    #[error("plugin {plugin}: its entry {} does not exist; build the module or fix `entry:` in its plugin.yaml", path.display())]
    Missing {
        /// The plugin.
        plugin: String,
        /// The expected path.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("plugin {plugin}: cannot {action} {}: {source}", path.display())]
    Io {
        /// The plugin.
        plugin: String,
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The entry is not WebAssembly at all.
    #[error("plugin {plugin}: {} is not a WebAssembly file (it does not start with `\\0asm`); `entry:` must name a .wasm module or component", path.display())]
    NotWasm {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
    },
    /// The file is a core module where a component was expected, or the other way round.
    #[error("plugin {plugin}: {} is a {found}, but its manifest says `wasm: {{ abi: {abi} }}`; {hint}", path.display())]
    WrongKind {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// What the file is.
        found: &'static str,
        /// What the manifest asks for.
        abi: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// `integrity:` does not match the file.
    #[error("plugin {plugin}: {} has sha256 {actual}, but `integrity:` says {expected}; reinstall the plugin or fix its manifest", path.display())]
    Integrity {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// The manifest's digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },
    /// wasmtime refused the module: truncated, invalid, or using features the host does not
    /// enable.
    #[error("plugin {plugin}: {} is not a valid WebAssembly {what}: {message}", path.display())]
    Invalid {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// `module` or `component`.
        what: &'static str,
        /// What wasmtime said.
        message: String,
    },
    /// The module or component imports something the host does not provide, or lacks an export
    /// the host needs.
    #[error("plugin {plugin}: {} does not fit the {abi} interface: {message}", path.display())]
    Interface {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// `plugboard:plugin` world or Extism ABI.
        abi: &'static str,
        /// What is missing or wrong.
        message: String,
    },
    /// The sandbox could not be set up (for example a granted directory does not exist).
    #[error("plugin {plugin}: cannot set up its sandbox: {message}")]
    Sandbox {
        /// The plugin.
        plugin: String,
        /// What went wrong and which permission it concerns.
        message: String,
    },
}

impl From<LoadError> for RuntimeError {
    fn from(e: LoadError) -> Self {
        RuntimeError::new(e.to_string())
    }
}
