//! Why a native plugin could not be checked or loaded. Each message names the plugin and the
//! file, and says what to do.

use std::path::PathBuf;

/// Why the native runtime refused a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The entry file does not exist.
    #[error("plugin {plugin}: its entry {} does not exist; build the library (for a Rust plugin, `cargo build` its cdylib) and put it in the plugin directory, or fix `entry:` in plugin.yaml", path.display())]
    Missing {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
    },
    /// The plugin was registered in code, so there is no directory to find its entry in.
    #[error("plugin {plugin}: a native plugin needs a plugin directory holding its library; it was registered without one")]
    NoDirectory {
        /// The plugin.
        plugin: String,
    },
    /// A file could not be read or written.
    #[error("plugin {plugin}: cannot {action} {}: {source}", path.display())]
    Io {
        /// The plugin.
        plugin: String,
        /// What the runtime was doing: `read`, `copy the library to`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The entry does not match the manifest's `integrity:`.
    #[error("plugin {plugin}: {} does not match `integrity:` in plugin.yaml (expected sha256:{expected}, the file is sha256:{actual}); it was not loaded. Reinstall the plugin, or update `integrity:` if you rebuilt the library on purpose", path.display())]
    Integrity {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
        /// The digest the manifest asks for.
        expected: String,
        /// The digest of the file.
        actual: String,
    },
    /// The entry is not a shared library for this machine.
    #[error("plugin {plugin}: {} is not a shared library this host can load: {reason}; build the plugin for {host} (`cargo build` on this machine, or `--target` for it)", path.display(), host = host_description())]
    Format {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `dlopen` refused the library.
    #[error("plugin {plugin}: cannot load {}: {message}{}", path.display(), open_hint(message, path))]
    Open {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
        /// What `dlopen` said.
        message: String,
    },
    /// The library does not export the entry symbol.
    #[error("plugin {plugin}: {} does not export `{}`, so it is not a Plugboard native plugin; a Rust plugin exports it with `plugboard_pdk::export_native!(YourType, id = \"{plugin}\")`, a C plugin defines it as sdk/c/plugboard.h shows (dlsym said: {message})", path.display(), plugboard_native_abi::ENTRY_SYMBOL)]
    MissingSymbol {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
        /// What `dlsym` said.
        message: String,
    },
    /// The library was built for another version of the ABI.
    #[error("plugin {plugin}: {} was built for native ABI version {found}, and this host speaks version {expected}; rebuild the plugin against this host's plugboard-pdk or sdk/c/plugboard.h", path.display())]
    AbiVersion {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
        /// The plugin's ABI version.
        found: u32,
        /// The host's.
        expected: u32,
    },
    /// The library describes another plugin or version than its manifest.
    #[error("plugin {plugin}: {} describes itself as {found}, but plugin.yaml says {expected}; the library and its manifest must agree: rebuild the library or fix plugin.yaml", path.display())]
    Mismatch {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
        /// `id version` as the manifest says.
        expected: String,
        /// `id version` as the library says.
        found: String,
    },
    /// The descriptor lacks a required function or is malformed.
    #[error("plugin {plugin}: the descriptor {} exports is unusable: {problem}; see sdk/c/plugboard.h for what a descriptor must hold", path.display())]
    Descriptor {
        /// The plugin.
        plugin: String,
        /// The entry file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `native: { isolation: process }` was asked for, and the shim program that runs the
    /// library in a process of its own was not found.
    #[error("plugin {plugin}: `native: {{ isolation: process }}` runs the library in the shim program `plugboard-native-shim`, which was not found (looked in: {searched}); build it (`cargo build -p plugboard-native-shim`) and put it beside the host's executable or on PATH, or point PLUGBOARD_NATIVE_SHIM at it; or remove `isolation: process` from plugin.yaml to run the library in the host process")]
    ShimNotFound {
        /// The plugin.
        plugin: String,
        /// Where the runtime looked, in order.
        searched: String,
    },
    /// `native: { isolation: process }` was asked for, and this host was built without the
    /// isolation support.
    #[error("plugin {plugin}: `native: {{ isolation: process }}` needs plugboard-native's `isolation` feature, which this host was built without; rebuild the host with it, or remove `isolation: process` from plugin.yaml to run the library in the host process")]
    IsolationUnavailable {
        /// The plugin.
        plugin: String,
    },
}

fn host_description() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// What to do about a `dlopen` failure, judged from its message.
fn open_hint(message: &str, path: &std::path::Path) -> String {
    if message.contains("cannot open shared object file") {
        format!(
            ". A library it links against is missing on this machine: install it, or add its directory to LD_LIBRARY_PATH (`ldd {}` lists what it needs)",
            path.display()
        )
    } else if message.contains("undefined symbol") {
        ". It needs a symbol that nothing loaded provides: link it against the library that defines it".to_owned()
    } else {
        String::new()
    }
}
