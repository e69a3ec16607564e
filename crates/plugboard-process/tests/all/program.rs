//! `ProcessRuntime::load_program`: another runtime runs a program of its choosing for a plugin
//! (the native runtime's isolation shim does), under the same spawn, handshake, host API and
//! supervision as the manifest's own `entry:`.

use std::fs;
use std::sync::Arc;

use async_trait::async_trait;
use plugboard_core::manifest::RuntimeKind;
use plugboard_core::{Descriptor, HostApi, PluginInstance, PluginState, Runtime, RuntimeError};
use plugboard_process::{ProcessRuntime, Program};

use crate::support::{probe, within, Fixture};

/// A runtime that runs `program` for every plugin, whatever its entry.
#[derive(Debug)]
struct RunsProgram {
    inner: ProcessRuntime,
    program: Program,
}

#[async_trait]
impl Runtime for RunsProgram {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Process
    }

    async fn load(
        &self,
        descriptor: Arc<Descriptor>,
        host: HostApi,
    ) -> Result<Arc<dyn PluginInstance>, RuntimeError> {
        self.inner
            .load_program(descriptor, host, self.program.clone())
            .await
    }
}

/// A plugin whose entry does not exist: only the program given to the runtime can run it.
fn install(f: &Fixture, process: &str) {
    let dir = f.plugin_dir("borrowed");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("plugin.yaml"),
        format!("id: borrowed\nversion: 1.0.0\nruntime: process\nentry: bin/not-there\npermissions:\n  storage: true\nprocess:\n  start_timeout: 10s\n{process}"),
    )
    .unwrap();
}

async fn pid(host: &plugboard_core::Host) -> u32 {
    String::from_utf8(host.call("borrowed", "pid", b"").await.unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_runs_in_place_of_the_entry_and_is_supervised() {
    let f = Fixture::new();
    install(&f, "  restart: {policy: on-failure, max: 3}\n");
    let runtime = RunsProgram {
        inner: ProcessRuntime::default(),
        program: Program::new(probe()),
    };
    let host = f.bare_builder().runtime(Arc::new(runtime)).build().unwrap();
    within(60, host.start()).await.unwrap();
    assert_eq!(host.status("borrowed").unwrap().state, PluginState::Active);
    assert_eq!(host.call("borrowed", "echo", b"hi").await.unwrap(), b"hi");
    // The host API reaches it through the broker.
    assert_eq!(host.call("borrowed", "count", b"").await.unwrap(), b"1");

    // An exit is noticed, and the manifest's restart policy brings it back.
    let first = pid(&host).await;
    assert!(host.call("borrowed", "exit", b"").await.is_err());
    let mut back = None;
    for _ in 0..200 {
        if let Ok(out) = host.call("borrowed", "echo", b"again").await {
            back = Some(out);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(back.as_deref(), Some(&b"again"[..]));
    assert_ne!(pid(&host).await, first);
    assert_eq!(host.call("borrowed", "count", b"").await.unwrap(), b"2");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_that_is_not_executable_is_refused_with_its_path() {
    let f = Fixture::new();
    install(&f, "");
    let not_exe = f.dir.path().join("plain-file");
    fs::write(&not_exe, "not a program").unwrap();
    let runtime = RunsProgram {
        inner: ProcessRuntime::default(),
        program: Program::new(&not_exe).arg("--flag"),
    };
    let host = f.bare_builder().runtime(Arc::new(runtime)).build().unwrap();
    within(60, host.start()).await.unwrap();
    let status = host.status("borrowed").unwrap();
    assert_eq!(status.state, PluginState::Failed);
    let reason = status.reason.unwrap();
    assert!(
        reason.contains("plain-file") && reason.contains("not an executable file"),
        "{reason}"
    );
    host.stop().await;
}
