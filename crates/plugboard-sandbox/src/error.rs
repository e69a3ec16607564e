//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// A step of [`apply_in_child`](crate::apply_in_child), named in [`SandboxError::Child`].
///
/// The child reports only an errno back through `Command::spawn` (the standard library sends the
/// errno alone across the fork), so this name is seen only when `apply_in_child` is called
/// directly; in a spawn error the errno is what survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildStep {
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// `landlock_create_ruleset`.
    LandlockCreate,
    /// `landlock_add_rule` for a path.
    LandlockPathRule,
    /// Opening `/proc/self` in the child, to let the plugin read its own process directory.
    LandlockProcSelf,
    /// `landlock_add_rule` for a TCP port.
    LandlockPortRule,
    /// `landlock_restrict_self`.
    LandlockRestrict,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp,
}

impl ChildStep {
    /// The system call this step makes, for messages.
    pub fn syscall(self) -> &'static str {
        match self {
            Self::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Self::LandlockCreate => "landlock_create_ruleset",
            Self::LandlockPathRule | Self::LandlockPortRule => "landlock_add_rule",
            Self::LandlockProcSelf => "open(/proc/self)",
            Self::LandlockRestrict => "landlock_restrict_self",
            Self::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
        }
    }
}

/// Why a sandbox could not be prepared or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A path of the policy exists but could not be opened to become a Landlock rule.
    #[error(
        "cannot open {} to allow it in the plugin's sandbox: {source}; \
         check that the host process can read it, or remove it from the permissions",
        path.display()
    )]
    OpenPath {
        /// The path as the policy names it.
        path: PathBuf,
        /// What `open(O_PATH)` said.
        #[source]
        source: io::Error,
    },
    /// A path the policy names explicitly does not exist, and the policy is strict.
    #[error(
        "{} does not exist, so the plugin's sandbox cannot allow it; create it before the \
         plugin starts, or remove it from the permissions",
        path.display()
    )]
    MissingPath {
        /// The path as the policy names it.
        path: PathBuf,
    },
    /// A `net` permission is not `host:port`.
    #[error(
        "the network permission {entry:?} is not `host:port` with a port from 1 to 65535 or `*`; \
         write it like `api.example.com:443`"
    )]
    InvalidNet {
        /// The entry as written.
        entry: String,
    },
    /// The policy is strict and the kernel cannot enforce part of it.
    #[error(
        "the kernel cannot enforce the sandbox: {what}; run on a kernel with it enabled, \
         or turn the sandbox off for this plugin (`sandbox: off`) knowingly"
    )]
    Unsupported {
        /// What is missing, and why.
        what: String,
    },
    /// A system call failed between fork and exec.
    #[error(
        "the sandbox could not be applied in the plugin's process: {} failed with {}",
        step.syscall(),
        io::Error::from_raw_os_error(*errno)
    )]
    Child {
        /// The failing step.
        step: ChildStep,
        /// Its errno.
        errno: i32,
    },
}

impl From<SandboxError> for io::Error {
    /// Keeps the errno of a [`SandboxError::Child`] (which `Command::spawn` passes back to the
    /// parent) without allocating, as the child must not; other errors become `io::Error::other`.
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::Child { errno, .. } => io::Error::from_raw_os_error(errno),
            other => io::Error::other(other),
        }
    }
}
