//! [`PreparedPolicy`]: a policy turned into open file descriptors and a BPF program before fork,
//! and [`apply_in_child`], which only makes system calls with them after fork.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::landlock::{self, fs, net, scope, RulesetAttr};
use crate::policy::{PathAccess, Ports};
use crate::support::{probe, LandlockStatus, SandboxSupport, SeccompStatus};
use crate::{seccomp, ChildStep, SandboxError, SandboxPolicy};

/// A path opened with `O_PATH | O_CLOEXEC`, with the rights the kernel will accept for it.
#[derive(Debug)]
struct PathRule {
    fd: OwnedFd,
    access: u64,
}

#[derive(Debug)]
struct Inner {
    support: SandboxSupport,
    warnings: Vec<String>,
    skipped: Vec<PathBuf>,
    /// `None` when Landlock is unavailable.
    ruleset: Option<RulesetAttr>,
    path_rules: Vec<PathRule>,
    /// Rights on the child's own `/proc/self`, 0 for none.
    proc_self: u64,
    port_rules: Vec<(u16, u64)>,
    /// Empty when seccomp is unavailable.
    filter: Vec<libc::sock_filter>,
}

/// A [`SandboxPolicy`] ready to apply in a child: paths opened, BPF built, kernel support known.
///
/// Cheap to clone (shared); prepare once per plugin and reuse it for every (re)start. The path
/// descriptors are close-on-exec, so the plugin never inherits them.
#[derive(Debug, Clone)]
pub struct PreparedPolicy {
    inner: Arc<Inner>,
    /// Paths added per spawn by [`with_read_write`](PreparedPolicy::with_read_write).
    extra: Vec<Arc<PathRule>>,
}

/// Opens `path` as a rule granting `wanted` (masked to what the kernel handles, and to file
/// rights when it is not a directory); `None` when nothing is left to grant.
fn open_rule(path: &Path, wanted: u64, handled_fs: u64) -> io::Result<Option<PathRule>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)?;
    let is_dir = file.metadata().is_ok_and(|m| m.is_dir());
    let mut access = wanted & handled_fs;
    if !is_dir {
        access &= fs::ON_FILE;
    }
    Ok((access != 0).then(|| PathRule {
        fd: file.into(),
        access,
    }))
}

impl SandboxPolicy {
    /// Opens every path of the policy and builds the seccomp program, against what the running
    /// kernel supports. Call it before spawning (it allocates; the child must not).
    ///
    /// Best effort by default: what the kernel cannot enforce, and explicit paths that do not
    /// exist, become [`warnings`](PreparedPolicy::warnings) (show them; never pretend). System
    /// default paths that do not exist are skipped quietly.
    ///
    /// # Errors
    /// [`SandboxError::OpenPath`] when an existing path cannot be opened; with
    /// [`strict`](Self::strict), also [`SandboxError::Unsupported`] and
    /// [`SandboxError::MissingPath`] for what would otherwise be warnings.
    pub fn prepare(&self) -> Result<PreparedPolicy, SandboxError> {
        self.prepare_for(probe())
    }

    /// [`prepare`](Self::prepare) against a given kernel support, for tests and for hosts that
    /// probed once already.
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare).
    pub fn prepare_for(&self, support: SandboxSupport) -> Result<PreparedPolicy, SandboxError> {
        let mut warnings = Vec::new();
        match (&support.landlock, support.landlock_abi()) {
            (LandlockStatus::Unavailable { reason }, _) => warnings.push(format!(
                "file-system and network permissions are NOT enforced: {reason}"
            )),
            (_, Some(abi))
                if abi < 4 && (self.connect != Ports::Any || self.bind != Ports::Any) =>
            {
                warnings.push(format!(
                    "TCP ports are NOT enforced: Landlock ABI {abi} has no TCP rules (ABI 4, \
                     Linux 6.7, has them), so the plugin may connect and listen anywhere"
                ))
            }
            _ => {}
        }
        if let SeccompStatus::Unavailable { reason } = &support.seccomp {
            warnings.push(format!(
                "the system-call deny-list is NOT enforced: {reason}"
            ));
        }
        if self.strict && !warnings.is_empty() {
            return Err(SandboxError::Unsupported {
                what: warnings.join("; "),
            });
        }
        warnings.extend(self.notes.iter().cloned());

        let mut skipped = Vec::new();
        let mut path_rules = Vec::new();
        let mut ruleset = None;
        let mut proc_self = 0;
        let mut port_rules = Vec::new();
        if let Some(abi) = support.landlock_abi() {
            let handled_fs = fs::handled(abi);
            let mut attr = RulesetAttr {
                handled_access_fs: handled_fs,
                ..RulesetAttr::default()
            };
            if abi >= 4 {
                for (ports, right) in [
                    (&self.connect, net::CONNECT_TCP),
                    (&self.bind, net::BIND_TCP),
                ] {
                    match ports {
                        Ports::Any => {}
                        Ports::None => attr.handled_access_net |= right,
                        Ports::Only(set) => {
                            attr.handled_access_net |= right;
                            port_rules.extend(set.iter().map(|&p| (p, right)));
                        }
                    }
                }
            }
            if abi >= 6 {
                attr.scoped = scope::ABSTRACT_UNIX_SOCKET | scope::SIGNAL;
            }
            for grant in self.all_paths() {
                let wanted = match grant.access {
                    PathAccess::Read => fs::READ,
                    PathAccess::ReadExec => fs::READ_EXEC,
                    PathAccess::ReadWrite => fs::READ_WRITE,
                };
                match open_rule(&grant.path, wanted, handled_fs) {
                    Ok(Some(rule)) => path_rules.push(rule),
                    Ok(None) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if grant.explicit {
                            if self.strict {
                                return Err(SandboxError::MissingPath { path: grant.path });
                            }
                            warnings.push(format!(
                                "{} does not exist, so the sandbox does not allow it",
                                grant.path.display()
                            ));
                            skipped.push(grant.path);
                        }
                    }
                    Err(source) => {
                        return Err(SandboxError::OpenPath {
                            path: grant.path,
                            source,
                        })
                    }
                }
            }
            if self.system_defaults {
                proc_self = fs::READ & handled_fs;
            }
            ruleset = Some(attr);
        }
        let filter = if support.enforces_syscall_filter() {
            seccomp::program()
        } else {
            Vec::new()
        };
        Ok(PreparedPolicy {
            extra: Vec::new(),
            inner: Arc::new(Inner {
                support,
                warnings,
                skipped,
                ruleset,
                path_rules,
                proc_self,
                port_rules,
                filter,
            }),
        })
    }
}

impl PreparedPolicy {
    /// What the kernel enforces for this policy.
    pub fn support(&self) -> &SandboxSupport {
        &self.inner.support
    }

    /// What is not enforced or not allowed as asked, one sentence each: log them as warnings.
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Explicit paths left out because they did not exist.
    pub fn skipped_paths(&self) -> &[PathBuf] {
        &self.inner.skipped
    }

    /// This policy plus read-write access to `path`, sharing everything already prepared:
    /// for what is known only at spawn time, such as a fresh socket directory per start.
    /// Cheap (one `open`); call it before the fork, like [`SandboxPolicy::prepare`].
    ///
    /// # Errors
    /// [`SandboxError::OpenPath`] when `path` cannot be opened (it must exist).
    pub fn with_read_write(&self, path: impl AsRef<Path>) -> Result<PreparedPolicy, SandboxError> {
        let path = path.as_ref();
        let mut extended = self.clone();
        let Some(ruleset) = &self.inner.ruleset else {
            return Ok(extended); // no Landlock: nothing to allow (the warnings say so)
        };
        let rule =
            open_rule(path, fs::READ_WRITE, ruleset.handled_access_fs).map_err(|source| {
                SandboxError::OpenPath {
                    path: path.to_owned(),
                    source,
                }
            })?;
        extended.extra.extend(rule.map(Arc::new));
        Ok(extended)
    }

    /// Makes `command` apply this policy in its child, between fork and exec.
    ///
    /// For a `tokio::process::Command`, pass `command.as_std_mut()`. If applying fails in the
    /// child, `spawn` fails with that step's errno (for example `EPERM`).
    pub fn install(&self, command: &mut std::process::Command) {
        let prepared = self.clone();
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
        // work is allowed. `apply_in_child` makes system calls only, with data prepared before
        // the fork, and neither allocates nor takes locks; its error converts to an io::Error
        // without allocating.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || apply_in_child(&prepared).map_err(io::Error::from));
        }
    }
}

/// Applies a prepared policy to the calling process, for good: `no_new_privs`, then the
/// Landlock domain, then the seccomp filter.
///
/// Meant for `CommandExt::pre_exec` (see [`PreparedPolicy::install`]), where it runs in the
/// single-threaded child after fork: it makes system calls only and does not allocate. Calling
/// it in a multi-threaded process sandboxes only the calling thread.
///
/// # Errors
/// [`SandboxError::Child`] with the step and errno that failed.
pub fn apply_in_child(prepared: &PreparedPolicy) -> Result<(), SandboxError> {
    let p = &*prepared.inner;
    let fail = |step| {
        let errno = landlock::errno();
        move || SandboxError::Child { step, errno }
    };
    // SAFETY: prctl with integer arguments only.
    #[allow(unsafe_code)]
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r != 0 {
        return Err(fail(ChildStep::NoNewPrivs)());
    }
    if let Some(attr) = &p.ruleset {
        let ruleset = landlock::create_ruleset(attr).map_err(|errno| SandboxError::Child {
            step: ChildStep::LandlockCreate,
            errno,
        })?;
        let result = fill_and_restrict(p, &prepared.extra, ruleset);
        // SAFETY: `ruleset` is the fd created above and closed once, here.
        #[allow(unsafe_code)]
        unsafe {
            libc::close(ruleset);
        }
        result?;
    }
    if !p.filter.is_empty() {
        seccomp::install(&p.filter).map_err(|errno| SandboxError::Child {
            step: ChildStep::Seccomp,
            errno,
        })?;
    }
    Ok(())
}

fn fill_and_restrict(p: &Inner, extra: &[Arc<PathRule>], ruleset: i32) -> Result<(), SandboxError> {
    let child = |step| move |errno| SandboxError::Child { step, errno };
    for rule in p.path_rules.iter().chain(extra.iter().map(|r| &**r)) {
        landlock::add_path_rule(ruleset, rule.fd.as_raw_fd(), rule.access)
            .map_err(child(ChildStep::LandlockPathRule))?;
    }
    if p.proc_self != 0 {
        // Opened here, in the child, so that it is the plugin's own /proc/<pid>.
        // SAFETY: a NUL-terminated static path; the fd is closed below.
        #[allow(unsafe_code)]
        let fd = unsafe {
            libc::open(
                c"/proc/self".as_ptr(),
                libc::O_PATH | libc::O_CLOEXEC | libc::O_DIRECTORY,
            )
        };
        if fd >= 0 {
            let r = landlock::add_path_rule(ruleset, fd, p.proc_self);
            // SAFETY: `fd` was opened above and is closed once.
            #[allow(unsafe_code)]
            unsafe {
                libc::close(fd);
            }
            r.map_err(child(ChildStep::LandlockPathRule))?;
        } else if landlock::errno() != libc::ENOENT {
            return Err(child(ChildStep::LandlockProcSelf)(landlock::errno()));
        }
    }
    for &(port, right) in &p.port_rules {
        landlock::add_port_rule(ruleset, port, right)
            .map_err(child(ChildStep::LandlockPortRule))?;
    }
    landlock::restrict_self(ruleset).map_err(child(ChildStep::LandlockRestrict))
}
