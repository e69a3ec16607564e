//! Real children under a policy: what they may and may not do, as the kernel answers.
//!
//! Each test first asks [`probe`] what this kernel enforces; where a feature is missing it
//! asserts that the probe and the prepared policy say so (never an empty pass).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use plugboard_manifest::{FsPermissions, Permissions};
use plugboard_sandbox::{probe, PreparedPolicy, SandboxPolicy};

/// Debian's own interpreter: under /usr, which the system defaults allow (a pyenv shim under
/// the home directory would not be).
const PYTHON: &str = "/usr/bin/python3";

fn prepared(policy: &SandboxPolicy) -> PreparedPolicy {
    policy.prepare().expect("policy prepares")
}

fn run(prepared: Option<&PreparedPolicy>, program: &str, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command.args(args).env_clear().env("LC_ALL", "C");
    if let Some(p) = prepared {
        p.install(&mut command);
    }
    command.output().expect("child spawns")
}

/// Runs Python code that prints one result line; returns it.
fn python(prepared: Option<&PreparedPolicy>, code: &str) -> String {
    let out = run(prepared, PYTHON, &["-I", "-c", code]);
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "python failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Python code that tries `action` (an expression) and prints `ok` or the errno.
fn attempt(action: &str) -> String {
    format!("import os, socket, subprocess\ntry:\n    {action}\n    print('ok')\nexcept OSError as e:\n    print(e.errno)")
}

fn filesystem_enforced(p: &PreparedPolicy) -> bool {
    if p.support().enforces_filesystem() {
        return true;
    }
    assert!(
        p.warnings().iter().any(|w| w.contains("NOT enforced")),
        "without Landlock the prepared policy must warn: {:?}",
        p.warnings()
    );
    false
}

#[test]
fn reading_outside_the_allowed_paths_is_denied_and_inside_works() {
    let allowed = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(allowed.path().join("in.txt"), "inside").unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "secret").unwrap();
    let secret = secret.to_str().unwrap();

    // Control: without the sandbox the child reads it.
    let out = run(None, "/bin/cat", &[secret]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "secret");

    let p = prepared(&SandboxPolicy::new().allow_read(allowed.path()));
    if !filesystem_enforced(&p) {
        return;
    }
    let out = run(Some(&p), "/bin/cat", &[secret]);
    assert!(!out.status.success(), "cat of a denied file succeeded");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Permission denied"), "stderr: {stderr}");
    assert_eq!(
        python(Some(&p), &attempt(&format!("open({secret:?}).read()"))),
        libc::EACCES.to_string()
    );

    let inside = allowed.path().join("in.txt");
    let out = run(Some(&p), "/bin/cat", &[inside.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside");
}

#[test]
fn writing_needs_a_read_write_path() {
    let ro = tempfile::tempdir().unwrap();
    let rw = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("f"), "x").unwrap();
    let p = prepared(
        &SandboxPolicy::new()
            .allow_read(ro.path())
            .allow_read_write(rw.path()),
    );
    if !filesystem_enforced(&p) {
        return;
    }
    let ro_file = ro.path().join("f");
    let ro_new = ro.path().join("new");
    let rw_new = rw.path().join("new");
    let eacces = libc::EACCES.to_string();
    assert_eq!(
        python(Some(&p), &attempt(&format!("open({:?}).read()", ro_file))),
        "ok"
    );
    assert_eq!(
        python(
            Some(&p),
            &attempt(&format!("open({:?}, 'a').write('y')", ro_file))
        ),
        eacces
    );
    assert_eq!(
        python(
            Some(&p),
            &attempt(&format!("open({:?}, 'w').write('y')", ro_new))
        ),
        eacces
    );
    assert_eq!(
        python(Some(&p), &attempt(&format!("os.remove({:?})", ro_file))),
        eacces
    );
    assert_eq!(
        python(
            Some(&p),
            &attempt(&format!("open({:?}, 'w').write('y')", rw_new))
        ),
        "ok"
    );
    assert_eq!(std::fs::read_to_string(&rw_new).unwrap(), "y");
    assert_eq!(std::fs::read_to_string(&ro_file).unwrap(), "x");
    assert!(!ro_new.exists());
}

#[test]
fn executing_needs_an_executable_path() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("true");
    std::fs::copy("/bin/true", &copy).unwrap();
    let copy = copy.to_str().unwrap();
    let eacces = libc::EACCES.to_string();

    let p = prepared(&SandboxPolicy::new().allow_read(dir.path()));
    if !filesystem_enforced(&p) {
        return;
    }
    let spawn = |cmd: &str| attempt(&format!("subprocess.run([{cmd:?}])"));
    assert_eq!(python(Some(&p), &spawn(copy)), eacces);
    // The plugin's own entry runs from an executable path, as `for_plugin` makes its directory.
    let p = prepared(&SandboxPolicy::new().allow_exec(dir.path()));
    let out = run(Some(&p), copy, &[]);
    assert!(out.status.success());
}

#[test]
fn for_plugin_allows_the_plugin_directory_and_its_permissions() {
    let plugin = tempfile::tempdir().unwrap();
    std::fs::create_dir(plugin.path().join("data")).unwrap();
    std::fs::create_dir(plugin.path().join("cache")).unwrap();
    std::fs::write(plugin.path().join("data/config.json"), "{}").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let permissions = Permissions {
        fs: FsPermissions {
            read: vec!["data".into(), outside.path().to_str().unwrap().into()],
            write: vec!["cache".into(), "missing-dir".into()],
        },
        ..Permissions::default()
    };
    let p = prepared(&SandboxPolicy::for_plugin(plugin.path(), &permissions).unwrap());
    assert_eq!(p.skipped_paths(), [plugin.path().join("missing-dir")]);
    assert!(p.warnings().iter().any(|w| w.contains("missing-dir")));
    if !filesystem_enforced(&p) {
        return;
    }
    let config = plugin.path().join("data/config.json");
    let cached = plugin.path().join("cache/x");
    let in_data = plugin.path().join("data/x");
    assert_eq!(
        python(Some(&p), &attempt(&format!("open({config:?}).read()"))),
        "ok"
    );
    assert_eq!(
        python(
            Some(&p),
            &attempt(&format!("os.listdir({:?})", outside.path()))
        ),
        "ok"
    );
    assert_eq!(
        python(
            Some(&p),
            &attempt(&format!("open({cached:?}, 'w').write('1')"))
        ),
        "ok"
    );
    assert_eq!(
        python(
            Some(&p),
            &attempt(&format!("open({in_data:?}, 'w').write('1')"))
        ),
        libc::EACCES.to_string()
    );
}

#[test]
fn tcp_connect_only_to_listed_ports() {
    let listed = TcpListener::bind("127.0.0.1:0").unwrap();
    let unlisted = TcpListener::bind("127.0.0.1:0").unwrap();
    let listed_port = listed.local_addr().unwrap().port();
    let unlisted_port = unlisted.local_addr().unwrap().port();
    let permissions = Permissions {
        net: vec![format!("localhost:{listed_port}")],
        ..Permissions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let p = prepared(&SandboxPolicy::for_plugin(dir.path(), &permissions).unwrap());
    let connect = |port: u16| {
        attempt(&format!(
            "socket.create_connection(('127.0.0.1', {port}), timeout=5).close()"
        ))
    };
    // Control: the unlisted port accepts connections when not sandboxed.
    assert_eq!(python(None, &connect(unlisted_port)), "ok");

    if !p.support().enforces_tcp_ports() {
        assert!(
            p.warnings().iter().any(|w| w.contains("NOT enforced")),
            "the policy must say TCP is not enforced: {:?}",
            p.warnings()
        );
        assert!(!p
            .support()
            .enforced()
            .contains(&"TCP bind and connect ports"));
        return;
    }
    assert!(p.warnings().iter().any(|w| w.contains("by port only")));
    assert_eq!(python(Some(&p), &connect(listed_port)), "ok");
    assert_eq!(
        python(Some(&p), &connect(unlisted_port)),
        libc::EACCES.to_string()
    );
    // Binding is denied too unless allowed.
    let bind = attempt("socket.socket().bind(('127.0.0.1', 0))");
    assert_eq!(python(Some(&p), &bind), libc::EACCES.to_string());
    let p = prepared(&SandboxPolicy::new().allow_bind_port(0));
    assert_eq!(python(Some(&p), &bind), "ok");
    drop((listed, unlisted));
}

#[test]
fn dangerous_system_calls_fail_with_eperm() {
    let p = prepared(&SandboxPolicy::new());
    if !p.support().enforces_syscall_filter() {
        assert!(p
            .warnings()
            .iter()
            .any(|w| w.contains("deny-list is NOT enforced")));
        return;
    }
    let eperm = libc::EPERM.to_string();
    let libc_call = |call: &str| {
        format!(
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n\
             r = {call}\nprint('ok' if r == 0 else ctypes.get_errno())"
        )
    };
    // PTRACE_TRACEME would succeed for any unsandboxed process.
    assert_eq!(python(None, &libc_call("libc.ptrace(0, 0, 0, 0)")), "ok");
    assert_eq!(
        python(Some(&p), &libc_call("libc.ptrace(0, 0, 0, 0)")),
        eperm
    );
    // CLONE_NEWUSER: allowed unsandboxed on this machine (the control is what makes it count).
    let newuser = libc_call("libc.unshare(0x10000000)");
    let unsandboxed = python(None, &newuser);
    assert_eq!(
        python(Some(&p), &newuser),
        eperm,
        "unsandboxed: {unsandboxed}"
    );
    assert_eq!(
        python(
            Some(&p),
            &libc_call("libc.mount(b'none', b'/mnt', b'tmpfs', 0, None)")
        ),
        eperm
    );
    assert_eq!(
        python(
            Some(&p),
            &libc_call(&format!(
                "libc.syscall({}, 0, 0, 0, 0, 0)",
                libc::SYS_keyctl
            ))
        ),
        eperm
    );
    // TIOCSTI on stdin (/dev/null here): ENOTTY from the kernel unsandboxed, EPERM from the
    // filter sandboxed; another ioctl (FIONREAD on a pipe) still works.
    let tiocsti = libc_call("libc.ioctl(0, 0x5412, ctypes.c_char_p(b'x'))");
    assert_eq!(python(None, &tiocsti), libc::ENOTTY.to_string());
    assert_eq!(python(Some(&p), &tiocsti), eperm);
    let fionread = libc_call(
        "(lambda r, n: libc.ioctl(r, 0x541B, ctypes.byref(n)))(os.pipe()[0], ctypes.c_int())",
    );
    assert_eq!(python(Some(&p), &fionread), "ok");
    let out = run(Some(&p), "/usr/bin/unshare", &["-U", "/bin/true"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Operation not permitted"),
        "stderr: {stderr}"
    );
    // What a plugin needs stays: threads, fork and exec of an allowed program.
    let everyday = "import os, threading, subprocess\n\
        t = threading.Thread(target=lambda: None); t.start(); t.join()\n\
        pid = os.fork()\n\
        if pid == 0: os._exit(7)\n\
        _, status = os.waitpid(pid, 0)\n\
        out = subprocess.run(['/bin/echo', 'hi'], capture_output=True).stdout\n\
        print(os.waitstatus_to_exitcode(status), out.decode().strip())";
    assert_eq!(python(Some(&p), everyday), "7 hi");
}

#[test]
fn no_new_privs_and_seccomp_are_set() {
    let p = prepared(&SandboxPolicy::new());
    let out = run(Some(&p), "/bin/cat", &["/proc/self/status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    if p.support().enforces_syscall_filter() {
        assert!(status.contains("Seccomp:\t2"), "{status}");
    }
    // Control: not set without the sandbox.
    let out = run(None, "/bin/cat", &["/proc/self/status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("NoNewPrivs:\t0"));
}

#[test]
fn signals_to_the_host_are_scoped_when_the_kernel_can() {
    let p = prepared(&SandboxPolicy::new());
    let code = attempt("os.kill(os.getppid(), 0)");
    assert_eq!(python(None, &code), "ok");
    let expected = if p.support().enforces_scopes() {
        libc::EPERM.to_string()
    } else {
        "ok".to_owned()
    };
    assert_eq!(python(Some(&p), &code), expected);
}

#[test]
fn a_program_the_policy_does_not_allow_fails_to_spawn_with_eacces() {
    let p = prepared(&SandboxPolicy::new().without_system_defaults());
    if !filesystem_enforced(&p) {
        return;
    }
    let mut command = Command::new("/bin/true");
    p.install(&mut command);
    let err = command
        .spawn()
        .expect_err("exec of a path outside the policy");
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is needed by these tests"
    );
}

#[test]
fn the_probe_reports_what_the_children_saw() {
    let support = probe();
    let line = support.to_string();
    println!("sandbox support: {line}");
    assert!(line.contains("enforced: no_new_privs"), "{line}");
    match support.landlock_abi() {
        Some(abi) => {
            assert!(line.contains(&format!("landlock ABI {abi}")), "{line}");
            assert!(support
                .enforced()
                .contains(&"file-system paths (read, write, execute, create, remove)"));
            assert_eq!(support.enforces_tcp_ports(), abi >= 4);
        }
        None => assert!(support.missing().iter().any(|m| m.contains("NOT enforced"))),
    }
    let json = serde_json::to_value(&support).unwrap();
    assert!(json["landlock"]["status"].is_string(), "{json}");
}

#[test]
fn interpreters_start_cleanly_under_the_system_defaults() {
    let p = prepared(&SandboxPolicy::new());
    let out = run(
        Some(&p),
        PYTHON,
        &["-c", "import ssl, json, socket; print('hi')"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "python complained"
    );
    let out = run(
        Some(&p),
        "/bin/sh",
        &[
            "-c",
            "echo hi | /bin/cat > /dev/null && head -c 4 /dev/urandom | wc -c",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "sh complained");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
}

#[test]
fn a_directory_known_only_at_spawn_time_is_added_to_a_prepared_policy() {
    let base = prepared(&SandboxPolicy::new());
    if !filesystem_enforced(&base) {
        return;
    }
    let sockets = tempfile::tempdir().unwrap();
    let file = sockets.path().join("sock");
    let write = attempt(&format!("open({file:?}, 'w').write('1')"));
    let extended = base.with_read_write(sockets.path()).unwrap();
    assert_eq!(python(Some(&extended), &write), "ok");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(python(Some(&base), &write), libc::EACCES.to_string());
    let missing = base
        .with_read_write(sockets.path().join("nope"))
        .unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
}
