//! What the running kernel can enforce: [`probe`] and [`SandboxSupport`].

use std::fmt;

use serde::Serialize;

use crate::{landlock, seccomp};

/// Whether Landlock is there, and which ABI version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
#[non_exhaustive]
pub enum LandlockStatus {
    /// Landlock works; `abi` says which rights (see [`SandboxSupport::enforced`]).
    Available {
        /// The kernel's Landlock ABI version (1 on 5.13, 4 on 6.7 with TCP ports, 6 on 6.12
        /// with scopes).
        abi: u32,
    },
    /// Landlock cannot be used here.
    Unavailable {
        /// Why, and what to do about it.
        reason: String,
    },
}

/// Whether seccomp filters work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
#[non_exhaustive]
pub enum SeccompStatus {
    /// Filters are installed and denied calls fail with their errno.
    Available,
    /// No filter can be installed.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// What the running kernel enforces for a sandboxed plugin: the answer `plugboard info` prints.
///
/// Nothing is pretended: a feature the kernel lacks is listed in [`missing`](Self::missing),
/// and a policy prepared on this kernel carries the same words as warnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SandboxSupport {
    /// Landlock (file-system paths, TCP ports, scopes).
    pub landlock: LandlockStatus,
    /// Seccomp (the system-call deny-list).
    pub seccomp: SeccompStatus,
    /// `no_new_privs` (set-user-id binaries do not raise privileges); always set on Linux.
    pub no_new_privs: bool,
}

/// Asks the running kernel what it can enforce. Cheap (two system calls); call it once at start.
pub fn probe() -> SandboxSupport {
    SandboxSupport {
        landlock: match landlock::abi_version() {
            Ok(abi) => LandlockStatus::Available { abi },
            Err(reason) => LandlockStatus::Unavailable { reason },
        },
        seccomp: match seccomp::available() {
            Ok(()) => SeccompStatus::Available,
            Err(reason) => SeccompStatus::Unavailable { reason },
        },
        no_new_privs: true,
    }
}

impl SandboxSupport {
    /// The Landlock ABI version, if Landlock is available.
    pub fn landlock_abi(&self) -> Option<u32> {
        match self.landlock {
            LandlockStatus::Available { abi } => Some(abi),
            LandlockStatus::Unavailable { .. } => None,
        }
    }

    /// Whether file-system rules are enforced (Landlock ABI 1).
    pub fn enforces_filesystem(&self) -> bool {
        self.landlock_abi().is_some()
    }

    /// Whether TCP bind and connect ports are enforced (Landlock ABI 4).
    pub fn enforces_tcp_ports(&self) -> bool {
        self.landlock_abi().is_some_and(|abi| abi >= 4)
    }

    /// Whether signals and abstract Unix sockets are confined to the plugin (Landlock ABI 6).
    pub fn enforces_scopes(&self) -> bool {
        self.landlock_abi().is_some_and(|abi| abi >= 6)
    }

    /// Whether the system-call deny-list is enforced.
    pub fn enforces_syscall_filter(&self) -> bool {
        matches!(self.seccomp, SeccompStatus::Available)
    }

    /// The rules in force on this kernel, one short phrase each.
    pub fn enforced(&self) -> Vec<&'static str> {
        let mut rules = vec!["no_new_privs"];
        if let Some(abi) = self.landlock_abi() {
            rules.push("file-system paths (read, write, execute, create, remove)");
            if abi >= 2 {
                rules.push("links and renames across directories");
            }
            if abi >= 3 {
                rules.push("file truncation");
            }
            if abi >= 4 {
                rules.push("TCP bind and connect ports");
            }
            if abi >= 5 {
                rules.push("device ioctls");
            }
            if abi >= 6 {
                rules.push("signals and abstract Unix sockets stay inside the plugin");
            }
        }
        if self.enforces_syscall_filter() {
            rules.push("system-call deny-list (seccomp)");
        }
        rules
    }

    /// What a policy asks for that this kernel cannot enforce, as warnings to show.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        match (&self.landlock, self.landlock_abi()) {
            (LandlockStatus::Unavailable { reason }, _) => missing.push(format!(
                "file-system and network permissions are NOT enforced: {reason}"
            )),
            (_, Some(abi)) if abi < 4 => missing.push(format!(
                "network permissions are NOT enforced: Landlock ABI {abi} has no TCP rules \
                 (ABI 4, Linux 6.7, has them)"
            )),
            _ => {}
        }
        if let SeccompStatus::Unavailable { reason } = &self.seccomp {
            missing.push(format!(
                "the system-call deny-list is NOT enforced: {reason}"
            ));
        }
        missing
    }
}

impl fmt::Display for SandboxSupport {
    /// One line for `plugboard info`: `landlock ABI 7, seccomp; enforced: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.landlock_abi() {
            Some(abi) => write!(f, "landlock ABI {abi}")?,
            None => f.write_str("no landlock")?,
        }
        f.write_str(if self.enforces_syscall_filter() {
            ", seccomp"
        } else {
            ", no seccomp"
        })?;
        write!(f, "; enforced: {}", self.enforced().join(", "))?;
        for m in self.missing() {
            write!(f, "; {m}")?;
        }
        Ok(())
    }
}
