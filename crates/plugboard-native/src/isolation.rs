//! `native: { isolation: process }`: the library runs in the shim program
//! (`plugboard-native-shim`), which the process runtime starts, supervises and restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugboard_core::manifest::LogLevel;
use plugboard_core::{Descriptor, HostApi, PluginInstance, RuntimeError};
use plugboard_process::{ProcessRuntime, Program};

use crate::{library_spec, runtime_error, LoadError, NativeRuntime};

/// The environment variable naming the shim program, when it is neither given to
/// [`NativeRuntime::with_shim`] nor beside the host's executable.
pub const ENV_SHIM: &str = "PLUGBOARD_NATIVE_SHIM";

/// The shim program's file name.
pub const SHIM_NAME: &str = "plugboard-native-shim";

/// How isolated plugins are run: which shim, under which process runtime.
#[derive(Debug, Clone, Default)]
pub(crate) struct Isolation {
    shim: Option<PathBuf>,
    process: Option<ProcessRuntime>,
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where the shim is looked for, in order: the path the runtime was given (only that one when
/// given), `PLUGBOARD_NATIVE_SHIM`, beside the current executable (and one directory up, for
/// test binaries in `target/<profile>/deps`), then `PATH`.
fn candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = configured {
        return vec![path.to_owned()];
    }
    let mut found = Vec::new();
    if let Some(path) = std::env::var_os(ENV_SHIM).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        found.push(dir.join(SHIM_NAME));
        if dir.file_name().is_some_and(|n| n == "deps") {
            if let Some(up) = dir.parent() {
                found.push(up.join(SHIM_NAME));
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        found.extend(std::env::split_paths(&path).map(|d| d.join(SHIM_NAME)));
    }
    found
}

fn find_shim(configured: Option<&Path>, plugin: &str) -> Result<PathBuf, LoadError> {
    let candidates = candidates(configured);
    candidates
        .iter()
        .find(|p| is_executable(p))
        .cloned()
        .ok_or_else(|| LoadError::ShimNotFound {
            plugin: plugin.to_owned(),
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl NativeRuntime {
    /// Runs plugins under `isolation: process` with the shim program at `path`, instead of
    /// looking for it (in `PLUGBOARD_NATIVE_SHIM`, beside the current executable, then on
    /// `PATH`).
    pub fn with_shim(mut self, path: impl Into<PathBuf>) -> Self {
        self.isolation.shim = Some(path.into());
        self
    }

    /// Runs plugins under `isolation: process` with `process`, so that they share its
    /// configuration (its OS sandbox, for one). By default a plain [`ProcessRuntime`] with no
    /// sandbox is used.
    pub fn with_process_runtime(mut self, process: ProcessRuntime) -> Self {
        self.isolation.process = Some(process);
        self
    }

    /// The shim program plugins under `isolation: process` would run in.
    ///
    /// # Errors
    /// [`LoadError::ShimNotFound`], listing where it was looked for.
    pub fn shim(&self) -> Result<PathBuf, LoadError> {
        find_shim(self.isolation.shim.as_deref(), "(any)")
    }

    pub(crate) fn check_isolation(&self, descriptor: &Descriptor) -> Result<(), LoadError> {
        find_shim(self.isolation.shim.as_deref(), descriptor.id().as_ref()).map(drop)
    }

    /// Checks the library (header, `integrity:`) in this process, then asks the process runtime
    /// to run the shim for it.
    pub(crate) async fn load_isolated(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        let plugin = descriptor.id().to_string();
        let spec = library_spec(&descriptor).map_err(runtime_error)?;
        let checked = spec.clone();
        tokio::task::spawn_blocking(move || checked.check())
            .await
            .map_err(|e| {
                RuntimeError::new(format!(
                    "plugin {plugin}: the thread checking its library failed: {e}"
                ))
            })?
            .map_err(runtime_error)?;
        let shim = find_shim(self.isolation.shim.as_deref(), &plugin).map_err(runtime_error)?;
        let mut program = Program::new(&shim)
            .arg("--plugin")
            .arg(&spec.plugin)
            .arg("--version")
            .arg(&spec.version);
        if let Some(sha256) = &spec.sha256 {
            // The shim checks again the bytes it loads: the file may change after this check.
            program = program.arg("--sha256").arg(sha256);
        }
        program = program.arg(spec.path.to_string_lossy());
        // A library that is a symbolic link out of the plugin directory is read where it points.
        if let Ok(real) = std::fs::canonicalize(&spec.path) {
            program = program.allow_read(real);
        }
        host.log(
            LogLevel::Debug,
            &format!(
                "isolation: process: running {} in {}",
                descriptor.manifest.entry,
                shim.display()
            ),
        );
        let process = self.isolation.process.clone().unwrap_or_default();
        process.load_program(descriptor, host, program).await
    }
}
