//! [`SandboxPolicy`]: what a plugin's process may touch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use plugboard_manifest::Permissions;

use crate::SandboxError;

/// How much of a path a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PathAccess {
    /// Read files and list directories.
    Read,
    /// Read, and execute files (programs, interpreters, the plugin's own entry).
    ReadExec,
    /// Read, write, create, remove, rename and truncate; not execute.
    ReadWrite,
}

/// Which TCP ports a rule set allows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Ports {
    /// No port at all.
    #[default]
    None,
    /// Only these ports (never empty).
    Only(BTreeSet<u16>),
    /// Any port: the kernel is not asked to restrict this direction.
    Any,
}

impl Ports {
    fn add(&mut self, port: u16) {
        match self {
            Self::Any => {}
            Self::Only(set) => {
                set.insert(port);
            }
            Self::None => *self = Self::Only(BTreeSet::from([port])),
        }
    }
}

/// A path with the access it is granted, and whether it was asked for explicitly (an explicit
/// path that is missing is a warning; a missing default is silently skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathGrant {
    pub(crate) path: PathBuf,
    pub(crate) access: PathAccess,
    pub(crate) explicit: bool,
}

/// Read and execute: what the dynamic loader and interpreters load programs and libraries from.
/// `/bin`, `/sbin` and `/lib*` are symlinks into `/usr` on merged-`/usr` systems; listed for
/// the others.
pub const DEFAULT_EXEC_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Read only: the loader's cache and configuration, TLS roots, time zone, name resolution and
/// user names, random devices, CPU topology (for `nproc`-style queries). Besides these, the
/// system defaults allow reading every `/etc/python3*` directory (Debian's Python reads its
/// `sitecustomize.py` there through a symlink in `/usr/lib`). Secrets such as `/etc/shadow` and
/// the rest of `/etc` stay out.
pub const DEFAULT_READ_PATHS: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ld.so.preload",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/crypto-policies",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/dev/random",
    "/dev/urandom",
    "/sys/devices/system/cpu",
];

/// Read and write: the character devices every program may write to.
pub const DEFAULT_READ_WRITE_PATHS: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// What a plugin's process may touch, before it is [prepared](SandboxPolicy::prepare).
///
/// Everything not allowed is denied: on the file system, paths outside the rules (Landlock);
/// on the network, TCP ports outside the rules (Landlock ABI 4); and always the system calls of
/// [`denied_syscalls`](crate::denied_syscalls) (seccomp). Unless
/// [`without_system_defaults`](Self::without_system_defaults) is called, the policy also allows
/// [`DEFAULT_EXEC_PATHS`], [`DEFAULT_READ_PATHS`], [`DEFAULT_READ_WRITE_PATHS`] (each only if
/// it exists) and the plugin process's own `/proc/self` directory, which the loader and typical
/// interpreters (Python, Go's runtime, glibc) need.
///
/// What Landlock cannot express, and so is not enforced here: host names of `net` permissions
/// (only ports), UDP, connecting to path-named Unix sockets, and the `env` permission (the
/// process runtime filters the environment it passes).
///
/// # Examples
/// ```
/// use plugboard_sandbox::SandboxPolicy;
/// let policy = SandboxPolicy::new()
///     .allow_exec("/opt/plugins/greeter")
///     .allow_read_write("/run/plugboard/greeter")
///     .allow_connect_port(443);
/// let prepared = policy.prepare().expect("prepared");
/// for warning in prepared.warnings() {
///     eprintln!("sandbox: {warning}");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    pub(crate) paths: Vec<PathGrant>,
    pub(crate) connect: Ports,
    pub(crate) bind: Ports,
    pub(crate) system_defaults: bool,
    pub(crate) strict: bool,
    pub(crate) notes: Vec<String>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxPolicy {
    /// A policy that allows only the system defaults: no other path, no TCP port.
    pub fn new() -> Self {
        Self {
            paths: Vec::new(),
            connect: Ports::None,
            bind: Ports::None,
            system_defaults: true,
            strict: false,
            notes: Vec::new(),
        }
    }

    /// The policy for a plugin: its directory readable and executable, and what `permissions`
    /// (the effective set, after the operator's grant) allows. File-system paths are relative
    /// to `plugin_dir` unless absolute; `net` entries `host:port` allow connecting to that port
    /// (any host: Landlock filters ports, not addresses), and a `*` port allows every port.
    ///
    /// Add the plugin's socket directory with [`allow_read_write`](Self::allow_read_write), or,
    /// when each start has a fresh one, with
    /// [`PreparedPolicy::with_read_write`](crate::PreparedPolicy::with_read_write) (go-plugin
    /// 1.0 makes its socket under `TMPDIR`, so point `TMPDIR` there too). A plugin that listens
    /// on TCP needs [`allow_bind_port`](Self::allow_bind_port); an interpreter installed
    /// outside the system defaults (a pyenv or a virtualenv) needs
    /// [`allow_exec`](Self::allow_exec).
    ///
    /// # Errors
    /// [`SandboxError::InvalidNet`] for a `net` entry that is not `host:port`.
    pub fn for_plugin(
        plugin_dir: impl AsRef<Path>,
        permissions: &Permissions,
    ) -> Result<Self, SandboxError> {
        let dir = plugin_dir.as_ref();
        let mut policy = Self::new().allow_exec(dir);
        for p in &permissions.fs.read {
            policy = policy.allow_read(dir.join(p));
        }
        for p in &permissions.fs.write {
            policy = policy.allow_read_write(dir.join(p));
        }
        let mut hosts_named = false;
        for entry in &permissions.net {
            let (host, port) = entry
                .rsplit_once(':')
                .ok_or_else(|| SandboxError::InvalidNet {
                    entry: entry.clone(),
                })?;
            hosts_named |= host != "*";
            policy = match port {
                "*" => policy.allow_any_connect(),
                p => match p.parse::<u16>() {
                    Ok(port) if port > 0 => policy.allow_connect_port(port),
                    _ => {
                        return Err(SandboxError::InvalidNet {
                            entry: entry.clone(),
                        })
                    }
                },
            };
        }
        if hosts_named {
            policy.notes.push(
                "network permissions are enforced by port only: Landlock cannot tell hosts apart"
                    .to_owned(),
            );
        }
        Ok(policy)
    }

    fn grant(mut self, path: impl Into<PathBuf>, access: PathAccess) -> Self {
        self.paths.push(PathGrant {
            path: path.into(),
            access,
            explicit: true,
        });
        self
    }

    /// Allows reading `path` (a file, or a directory and everything beneath it).
    pub fn allow_read(self, path: impl Into<PathBuf>) -> Self {
        self.grant(path, PathAccess::Read)
    }

    /// Allows reading and executing `path` and what is beneath it.
    pub fn allow_exec(self, path: impl Into<PathBuf>) -> Self {
        self.grant(path, PathAccess::ReadExec)
    }

    /// Allows reading and writing `path` and what is beneath it (creating, removing, renaming,
    /// truncating files, making Unix sockets); not executing.
    pub fn allow_read_write(self, path: impl Into<PathBuf>) -> Self {
        self.grant(path, PathAccess::ReadWrite)
    }

    /// Allows connecting to TCP `port` on any host.
    pub fn allow_connect_port(mut self, port: u16) -> Self {
        self.connect.add(port);
        self
    }

    /// Allows TCP connections to every port.
    pub fn allow_any_connect(mut self) -> Self {
        self.connect = Ports::Any;
        self
    }

    /// Allows binding TCP `port` (0 means "an ephemeral port of the kernel's choice").
    pub fn allow_bind_port(mut self, port: u16) -> Self {
        self.bind.add(port);
        self
    }

    /// Allows binding every TCP port.
    pub fn allow_any_bind(mut self) -> Self {
        self.bind = Ports::Any;
        self
    }

    /// Leaves out the system defaults (loader, libraries, `/dev/null`, ...): only what is
    /// allowed explicitly. Few programs start like that; for tests and static binaries.
    pub fn without_system_defaults(mut self) -> Self {
        self.system_defaults = false;
        self
    }

    /// Makes [`prepare`](Self::prepare) fail, instead of warning, when the kernel cannot
    /// enforce Landlock, TCP rules the policy needs, or seccomp, or when an explicit path is
    /// missing.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The explicit path rules, in order.
    pub fn paths(&self) -> impl Iterator<Item = (&Path, PathAccess)> {
        self.paths.iter().map(|g| (g.path.as_path(), g.access))
    }

    /// The TCP ports the plugin may connect to.
    pub fn connect_ports(&self) -> &Ports {
        &self.connect
    }

    /// The TCP ports the plugin may bind.
    pub fn bind_ports(&self) -> &Ports {
        &self.bind
    }

    /// Every path rule, system defaults included, in the order they are applied.
    pub(crate) fn all_paths(&self) -> Vec<PathGrant> {
        let mut all = Vec::new();
        if self.system_defaults {
            for (list, access) in [
                (DEFAULT_EXEC_PATHS, PathAccess::ReadExec),
                (DEFAULT_READ_PATHS, PathAccess::Read),
                (DEFAULT_READ_WRITE_PATHS, PathAccess::ReadWrite),
            ] {
                all.extend(list.iter().map(|p| PathGrant {
                    path: PathBuf::from(p),
                    access,
                    explicit: false,
                }));
            }
            all.extend(python_site_config());
        }
        all.extend(self.paths.iter().cloned());
        all
    }
}

/// Debian's Python reads `/etc/python3.X/sitecustomize.py` through a symlink in `/usr/lib`; the
/// directory's name depends on the installed versions.
fn python_site_config() -> Vec<PathGrant> {
    let Ok(entries) = std::fs::read_dir("/etc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| PathGrant {
            path: e.path(),
            access: PathAccess::Read,
            explicit: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::{LandlockStatus, SandboxSupport, SeccompStatus};
    use plugboard_manifest::FsPermissions;

    fn no_kernel_support() -> SandboxSupport {
        SandboxSupport {
            landlock: LandlockStatus::Unavailable {
                reason: "not here".into(),
            },
            seccomp: SeccompStatus::Unavailable {
                reason: "not here".into(),
            },
            no_new_privs: true,
        }
    }

    #[test]
    fn for_plugin_resolves_paths_against_the_plugin_directory() {
        let permissions = Permissions {
            fs: FsPermissions {
                read: vec!["data".into(), "/etc/app".into()],
                write: vec!["cache".into()],
            },
            net: vec!["api.example.com:443".into(), "*:8080".into()],
            ..Permissions::default()
        };
        let policy = SandboxPolicy::for_plugin("/plugins/p", &permissions).unwrap();
        let paths: Vec<_> = policy.paths().collect();
        assert_eq!(
            paths,
            [
                (Path::new("/plugins/p"), PathAccess::ReadExec),
                (Path::new("/plugins/p/data"), PathAccess::Read),
                (Path::new("/etc/app"), PathAccess::Read),
                (Path::new("/plugins/p/cache"), PathAccess::ReadWrite),
            ]
        );
        assert_eq!(
            policy.connect_ports(),
            &Ports::Only(BTreeSet::from([443, 8080]))
        );
        assert_eq!(policy.bind_ports(), &Ports::None);
    }

    #[test]
    fn a_star_port_allows_every_connection() {
        let permissions = Permissions {
            net: vec!["*.example.com:*".into(), "localhost:80".into()],
            ..Permissions::default()
        };
        let policy = SandboxPolicy::for_plugin("/p", &permissions).unwrap();
        assert_eq!(policy.connect_ports(), &Ports::Any);
    }

    #[test]
    fn bad_net_entries_are_refused_with_the_entry() {
        for entry in ["example.com", "example.com:0", "example.com:http"] {
            let permissions = Permissions {
                net: vec![entry.into()],
                ..Permissions::default()
            };
            let err = SandboxPolicy::for_plugin("/p", &permissions).unwrap_err();
            assert!(err.to_string().contains(entry), "{err}");
        }
    }

    #[test]
    fn without_kernel_support_prepare_warns_and_strict_refuses() {
        let policy = SandboxPolicy::new().allow_read("/definitely/not/here");
        let prepared = policy.prepare_for(no_kernel_support()).unwrap();
        let warnings = prepared.warnings().join("\n");
        assert!(warnings.contains("file-system and network permissions are NOT enforced"));
        assert!(warnings.contains("deny-list is NOT enforced"));
        let err = policy
            .strict(true)
            .prepare_for(no_kernel_support())
            .unwrap_err();
        assert!(matches!(err, SandboxError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn strict_refuses_a_missing_explicit_path() {
        let support = crate::probe();
        if !support.enforces_filesystem() {
            return;
        }
        let err = SandboxPolicy::new()
            .allow_read("/definitely/not/here")
            .strict(true)
            .prepare_for(support)
            .unwrap_err();
        assert!(matches!(err, SandboxError::MissingPath { .. }), "{err}");
    }
}
