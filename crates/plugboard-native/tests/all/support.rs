//! A host in a temporary directory, with native plugins copied into its plugin directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugboard_core::manifest::Manifest;
use plugboard_core::{BuiltinPlugin, CallError, Host, HostBuilder, Methods};
use plugboard_native::NativeRuntime;
use tempfile::TempDir;

/// A host directory: `config.yaml`, `plugins/<id>/`, `state/`.
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) runtime: NativeRuntime,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let runtime = NativeRuntime::with_state_dir(dir.path().join("state"));
        let fixture = Fixture { dir, runtime };
        fixture.config("");
        fixture
    }

    /// Writes `config.yaml` with `extra` appended.
    pub(crate) fn config(&self, extra: &str) {
        let text = format!(
            "directories:\n  external: [plugins]\nstate_dir: state\nlogging:\n  level: DEBUG\n{extra}"
        );
        fs::write(self.dir.path().join("config.yaml"), text).unwrap();
    }

    /// The directory of plugin `id`.
    pub(crate) fn plugin_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join("plugins").join(id)
    }

    /// Installs `lib` as plugin `id`'s entry `libplugin.so`, with a manifest of `extra` keys.
    pub(crate) fn native(&self, id: &str, version: &str, lib: &Path, extra: &str) -> PathBuf {
        let dir = self.plugin_dir(id);
        fs::create_dir_all(&dir).unwrap();
        let entry = dir.join("libplugin.so");
        fs::copy(lib, &entry).unwrap();
        fs::write(
            dir.join("plugin.yaml"),
            format!("id: {id}\nversion: {version}\nruntime: native\nentry: libplugin.so\n{extra}"),
        )
        .unwrap();
        entry
    }

    pub(crate) fn builder(&self) -> HostBuilder {
        self.bare_builder().runtime(Arc::new(self.runtime.clone()))
    }

    /// A builder with no native runtime registered yet.
    pub(crate) fn bare_builder(&self) -> HostBuilder {
        Host::builder()
            .config_file(self.dir.path().join("config.yaml"))
            .unwrap()
    }

    pub(crate) async fn start(&self) -> Host {
        self.start_with(|b| b).await
    }

    pub(crate) async fn start_with(&self, f: impl FnOnce(HostBuilder) -> HostBuilder) -> Host {
        let host = f(self.builder()).build().unwrap();
        host.start().await.unwrap();
        host
    }
}

/// A builtin `base-utils` with `normalize` (JSON string in, white space collapsed, out), as
/// the example application has: what the word counter calls through the host API.
#[derive(Default)]
pub(crate) struct BaseUtils;

impl BuiltinPlugin for BaseUtils {
    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let methods = Methods::new().json("normalize", |_: &BaseUtils, text: String| {
            Ok::<_, String>(text.split_whitespace().collect::<Vec<_>>().join(" "))
        });
        methods.dispatch(self, "base-utils", method, payload)
    }
}

pub(crate) fn base_utils_manifest() -> Manifest {
    Manifest::from_yaml_str(
        "id: base-utils\nversion: 1.0.0\nruntime: builtin\nentry: base_utils\n",
        "inline",
    )
    .unwrap()
}
