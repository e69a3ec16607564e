//! The Linux OS sandbox for Plugboard's plugin processes.
//!
//! None of go-plugin, Nushell or VS Code sandbox their plugin children; Plugboard does, with what
//! an unprivileged process can do to itself on Linux, applied in the child between fork and exec
//! so that the plugin's first instruction already runs confined:
//!
//! - **`no_new_privs`**: set-user-id programs no longer raise privileges (and the kernel then
//!   allows the two below without `CAP_SYS_ADMIN`).
//! - **Landlock**: file-system paths readable, executable or writable; TCP ports to connect to
//!   and bind (ABI 4, Linux 6.7); signals and abstract Unix sockets kept inside the plugin (ABI
//!   6). Everything else is denied with `EACCES`.
//! - **seccomp**: a deny-list of system calls a plugin never needs ([`denied_syscalls`]: ptrace,
//!   mounts, namespaces, kernel modules, bpf, keyrings, ...), refused with `EPERM`.
//!
//! The kernel may lack some of it. [`probe`] says what is enforced (for `plugboard info`), and a
//! [`PreparedPolicy`] carries [warnings](PreparedPolicy::warnings) for what is not: best effort,
//! never a silent pretence, or [`strict`](SandboxPolicy::strict) to refuse instead.
//!
//! # Example
//! ```no_run
//! use std::process::Command;
//! use plugboard_manifest::Permissions;
//! use plugboard_sandbox::SandboxPolicy;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Once per plugin, when it is loaded: opens the paths, builds the BPF program.
//! let permissions = Permissions::default(); // the effective set, after the operator's grant
//! let prepared = SandboxPolicy::for_plugin("/srv/plugins/greeter", &permissions)?.prepare()?;
//! for warning in prepared.warnings() {
//!     eprintln!("sandbox: {warning}");
//! }
//!
//! // At every start: this start's socket directory, then spawn.
//! let socket_dir = "/tmp/pb-greeter-1";
//! # std::fs::create_dir_all(socket_dir)?;
//! let this_start = prepared.with_read_write(socket_dir)?;
//! let mut command = Command::new("/srv/plugins/greeter/bin/greeter-plugin");
//! // go-plugin 1.0 makes its socket under TMPDIR; newer ones read PLUGIN_UNIX_SOCKET_DIR.
//! command.env("TMPDIR", socket_dir).env("PLUGIN_UNIX_SOCKET_DIR", socket_dir);
//! this_start.install(&mut command); // tokio: this_start.install(command.as_std_mut())
//! let child = command.spawn()?;
//! # drop(child);
//! # Ok(())
//! # }
//! ```
//!
//! # Concepts
//! - [`SandboxPolicy`]: what may be touched; [`SandboxPolicy::for_plugin`] builds it from a
//!   plugin directory and its effective [`Permissions`](plugboard_manifest::Permissions).
//! - [`PreparedPolicy`]: the policy as open descriptors and a BPF program, made before fork.
//! - [`apply_in_child`]: the part that runs after fork; only system calls.
//! - [`SandboxSupport`]: what this kernel enforces.
//!
//! Linux only, x86_64 and aarch64.
#![deny(missing_docs)]

mod error;
mod landlock;
mod policy;
mod prepared;
mod seccomp;
mod support;

pub use error::{ChildStep, SandboxError};
pub use policy::{
    PathAccess, Ports, SandboxPolicy, DEFAULT_EXEC_PATHS, DEFAULT_READ_PATHS,
    DEFAULT_READ_WRITE_PATHS,
};
pub use prepared::{apply_in_child, PreparedPolicy};
pub use seccomp::{denied_syscalls, DeniedSyscall};
pub use support::{probe, LandlockStatus, SandboxSupport, SeccompStatus};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn main_types_are_send_and_sync() {
        assert_send_sync::<SandboxPolicy>();
        assert_send_sync::<PreparedPolicy>();
        assert_send_sync::<SandboxSupport>();
        assert_send_sync::<SandboxError>();
    }
}
