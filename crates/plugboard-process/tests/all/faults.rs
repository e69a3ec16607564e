//! Plugins that misbehave while starting or in a call: each is refused or answered with an
//! error that names the plugin, quotes what it printed, and says what to do.

use std::time::Instant;

use plugboard_core::{CallError, PluginState};

use crate::support::{within, Fixture};

/// Starts a probe with `PROBE_FAULT=fault` and returns its failure reason.
async fn start_failure(fault: &str, process: &str) -> String {
    let f = Fixture::new();
    f.probe(
        "faulty",
        &format!("  env: {{PROBE_FAULT: {fault}}}\n  restart: {{policy: never}}\n{process}"),
        "",
    );
    let host = f.start().await;
    assert_eq!(host.state("faulty"), Some(PluginState::Failed));
    let reason = host.status("faulty").unwrap().reason.unwrap();
    host.stop().await;
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_never_prints_a_handshake_times_out() {
    let began = Instant::now();
    let reason = start_failure("no-handshake", "  start_timeout: 1s\n").await;
    assert!(
        reason.contains("did not print its go-plugin handshake within 1000 ms"),
        "{reason}"
    );
    assert!(reason.contains("process.start_timeout"), "{reason}");
    assert!(began.elapsed().as_secs() < 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_prints_garbage_is_refused_with_the_line_quoted() {
    let reason = start_failure("garbage", "").await;
    assert!(reason.contains("not a go-plugin handshake"), "{reason}");
    assert!(reason.contains("Starting probe v1.0"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_serves_a_version_not_offered_is_refused_with_both() {
    let reason = start_failure("wrong-version", "  handshake: {cookie_key: PLUGBOARD_PLUGIN, cookie_value: d3b2c1a0-plugboard, versions: [1, 2]}\n").await;
    assert!(
        reason.contains("application protocol version 7"),
        "{reason}"
    );
    assert!(reason.contains("1, 2"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_exits_at_once_is_refused_with_its_stderr() {
    let reason = start_failure("exit1", "").await;
    assert!(reason.contains("exited with status 1"), "{reason}");
    assert!(reason.contains("missing PROBE_DB"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_magic_cookie_is_refused_with_what_the_plugin_said() {
    let reason = start_failure(
        "none",
        "  handshake: {cookie_key: OTHER_APP, cookie_value: x, versions: [1]}\n",
    )
    .await;
    assert!(reason.contains("exited with status 1"), "{reason}");
    assert!(reason.contains("not meant to be run directly"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_floods_stderr_still_answers() {
    let f = Fixture::new();
    f.probe("noisy", "  env: {PROBE_FAULT: flood}\n", "");
    let host = f.start().await;
    for i in 0..20 {
        let payload = format!("call {i}");
        let reply = within(10, host.call("noisy", "echo", payload.as_bytes()))
            .await
            .unwrap();
        assert_eq!(reply, payload.as_bytes());
    }
    assert_eq!(host.call("noisy", "noise", b"5000").await.unwrap(), b"5000");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_hangs_meets_its_deadline_and_the_plugin_goes_on() {
    let f = Fixture::new();
    f.probe("slow", "  call_timeout: 300ms\n", "");
    let host = f.start().await;
    let began = Instant::now();
    match within(10, host.call("slow", "sleep", b""))
        .await
        .unwrap_err()
    {
        CallError::Timeout { millis, .. } => assert_eq!(millis, 300),
        other => panic!("unexpected {other:?}"),
    }
    assert!(began.elapsed().as_millis() < 3000);
    assert_eq!(host.call("slow", "echo", b"still").await.unwrap(), b"still");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_is_not_executable_is_refused_at_check() {
    let f = Fixture::new();
    f.script("inert", "not a program", "", "");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        f.plugin_dir("inert").join("bin/plugin"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let host = f.start().await;
    let reason = host.status("inert").unwrap().reason.unwrap_or_default();
    assert!(reason.contains("chmod +x"), "{reason}");
    host.stop().await;
}

/// The sandbox seam: the hook's pre-exec function runs in the child before exec (here it
/// refuses, as a sandbox that cannot be applied must), an error from the hook refuses the
/// plugin, and `sandbox: off` skips the hook with a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_hook_runs_before_exec_and_can_be_turned_off() {
    use plugboard_process::{PreExec, ProcessRuntime, SandboxHook};
    use std::sync::Arc;

    let f = Fixture::new();
    f.probe("confined", "  restart: {policy: never}\n", "");
    f.probe("refused", "  restart: {policy: never}\n", "");
    f.probe("free", "  sandbox: off\n", "");
    let hook: SandboxHook = Arc::new(|d| match d.id().as_str() {
        "refused" => Err(
            "the kernel enforces no Landlock; set `process.sandbox: off` to run it unconfined"
                .to_owned(),
        ),
        _ => {
            let pre: PreExec = Arc::new(|| Err(std::io::Error::from_raw_os_error(libc_eperm())));
            Ok(Some(pre))
        }
    });
    let host = f
        .bare_builder()
        .runtime(Arc::new(ProcessRuntime::new().with_sandbox(hook)))
        .build()
        .unwrap();
    within(60, host.start()).await.unwrap();
    let confined = host.status("confined").unwrap().reason.unwrap_or_default();
    assert!(confined.contains("cannot start"), "{confined}");
    assert!(confined.contains("not permitted"), "{confined}");
    let refused = host.status("refused").unwrap().reason.unwrap_or_default();
    assert!(refused.contains("no Landlock"), "{refused}");
    assert_eq!(host.state("free"), Some(PluginState::Active));
    assert_eq!(host.call("free", "echo", b"ok").await.unwrap(), b"ok");
    host.stop().await;
    assert!(host
        .read_log("free")
        .unwrap()
        .contains("the OS sandbox is off"));
}

fn libc_eperm() -> i32 {
    1
}
