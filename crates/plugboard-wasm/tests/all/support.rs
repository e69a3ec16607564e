//! A host in a temporary directory with wasm plugins, and the guests' builders.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugboard_core::manifest::Manifest;
use plugboard_core::{BuiltinPlugin, CallError, Host, HostBuilder, Methods};
use plugboard_wasm::WasmRuntime;
use tempfile::TempDir;

/// The source directory of the test guests.
pub(crate) fn guests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/guests")
}

/// A core module from `guests/<name>.wat`.
pub(crate) fn wat(name: &str) -> Vec<u8> {
    wat::parse_file(guests().join(format!("{name}.wat"))).unwrap()
}

/// A component of the world `world` in the WIT package at `wit_dir`, from the core module in
/// `guests/<core>.wat`.
pub(crate) fn component_from(core: &str, wit_dir: &Path, world: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(wit_dir).unwrap();
    let world = resolve.select_world(&[pkg], Some(world)).unwrap();
    let mut module = wat(core);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// The test component of the plugboard:plugin world.
pub(crate) fn component() -> Vec<u8> {
    component_from(
        "component",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit"),
        "plugin",
    )
}

/// A host directory: `config.yaml`, `plugins/<id>/`, `state/`.
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) runtime: WasmRuntime,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let fixture = Fixture {
            dir,
            runtime: WasmRuntime::new().unwrap(),
        };
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

    pub(crate) fn plugin_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join("plugins").join(id)
    }

    /// Installs `bytes` as plugin `id`'s `plugin.wasm`, with a manifest of `extra` keys.
    pub(crate) fn wasm(&self, id: &str, bytes: &[u8], extra: &str) -> PathBuf {
        let dir = self.plugin_dir(id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("plugin.wasm"), bytes).unwrap();
        fs::write(
            dir.join("plugin.yaml"),
            format!("id: {id}\nversion: 1.0.0\nruntime: wasm\nentry: plugin.wasm\n{extra}"),
        )
        .unwrap();
        dir
    }

    /// An Extism-ABI plugin from `guests/<guest>.wat`.
    pub(crate) fn extism(&self, id: &str, guest: &str, extra: &str) -> PathBuf {
        self.wasm(id, &wat(guest), &format!("wasm:\n  abi: extism\n{extra}"))
    }

    pub(crate) fn builder(&self) -> HostBuilder {
        Host::builder()
            .config_file(self.dir.path().join("config.yaml"))
            .unwrap()
            .runtime(Arc::new(self.runtime.clone()))
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

/// A builtin `base-utils` with `normalize` (white space collapsed), which wasm plugins call
/// through the host API.
#[derive(Default)]
pub(crate) struct BaseUtils;

impl BuiltinPlugin for BaseUtils {
    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let methods = Methods::new().raw("normalize", |_: &BaseUtils, bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            Ok::<_, CallError>(
                text.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .into_bytes(),
            )
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

/// Whether `tool` is missing (skip; under `CI=true` a failure).
pub(crate) fn tool_missing(tool: &str, install: &str) -> bool {
    plugboard_test_support::tool_missing(tool, install)
}

/// The WIT directory of the wasmtime-wasi this crate builds with (its WASI 0.2 packages), found
/// through `cargo metadata`.
pub(crate) fn wasi_wit() -> PathBuf {
    let out = std::process::Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wasmtime-wasi")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("wasmtime-wasi is a dependency")
        .to_owned();
    Path::new(&manifest).parent().unwrap().join("src/p2/wit")
}

/// The test component that connects through wasi:sockets (`guests/net.wat`).
pub(crate) fn net_component() -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    resolve.push_dir(wasi_wit()).unwrap();
    resolve
        .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit"))
        .unwrap();
    let pkg = resolve
        .push_str(
            "net.wit",
            "package test:net;\nworld net {\n  include plugboard:plugin/plugin@0.1.0;\n  import wasi:sockets/instance-network@0.2.12;\n  import wasi:sockets/tcp-create-socket@0.2.12;\n  import wasi:sockets/tcp@0.2.12;\n}\n",
        )
        .unwrap();
    let world = resolve.select_world(&[pkg], Some("net")).unwrap();
    let mut module = wat("net");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// Held by the tests that measure deadlines or spin a guest, so they do not compete with each
/// other for the machine's cores (a deadline test measures wall-clock time).
pub(crate) static SPINNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
