//! Landlock's kernel ABI, spoken with raw system calls.
//!
//! The `landlock` crate would do, but its ruleset is built and applied in one go by code that may
//! allocate; between fork and exec only system calls are safe, so the few structures and
//! constants of `include/uapi/linux/landlock.h` are declared here instead.

use std::io;
use std::os::fd::RawFd;

/// `LANDLOCK_CREATE_RULESET_VERSION`: ask the kernel for its ABI version.
const CREATE_RULESET_VERSION: libc::c_uint = 1;
/// `LANDLOCK_RULE_PATH_BENEATH`.
const RULE_PATH_BENEATH: libc::c_int = 1;
/// `LANDLOCK_RULE_NET_PORT`.
const RULE_NET_PORT: libc::c_int = 2;

/// File-system access rights (`LANDLOCK_ACCESS_FS_*`), with the ABI that introduced each.
pub(crate) mod fs {
    pub(crate) const EXECUTE: u64 = 1 << 0;
    pub(crate) const WRITE_FILE: u64 = 1 << 1;
    pub(crate) const READ_FILE: u64 = 1 << 2;
    pub(crate) const READ_DIR: u64 = 1 << 3;
    /// Every right of ABI 1 (bits 0 to 12: the above, remove, make-*).
    pub(crate) const ABI1: u64 = (1 << 13) - 1;
    /// ABI 2: link or rename a file into another directory.
    pub(crate) const REFER: u64 = 1 << 13;
    /// ABI 3: truncate a file.
    pub(crate) const TRUNCATE: u64 = 1 << 14;
    /// ABI 5: ioctl on a character or block device opened afterwards.
    pub(crate) const IOCTL_DEV: u64 = 1 << 15;

    /// The rights that make sense on a file (not a directory); the kernel refuses a rule on a
    /// file that grants a directory right.
    pub(crate) const ON_FILE: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

    /// Read files and list directories.
    pub(crate) const READ: u64 = READ_FILE | READ_DIR;
    /// Read, and execute files.
    pub(crate) const READ_EXEC: u64 = READ | EXECUTE;
    /// Everything but executing: read, write, create, remove, rename, truncate, device ioctls.
    pub(crate) const READ_WRITE: u64 = (ABI1 | REFER | TRUNCATE | IOCTL_DEV) & !EXECUTE;

    /// The rights a ruleset handles on a kernel of this ABI.
    pub(crate) fn handled(abi: u32) -> u64 {
        let mut rights = ABI1;
        if abi >= 2 {
            rights |= REFER;
        }
        if abi >= 3 {
            rights |= TRUNCATE;
        }
        if abi >= 5 {
            rights |= IOCTL_DEV;
        }
        rights
    }
}

/// TCP access rights (`LANDLOCK_ACCESS_NET_*`, ABI 4).
pub(crate) mod net {
    pub(crate) const BIND_TCP: u64 = 1 << 0;
    pub(crate) const CONNECT_TCP: u64 = 1 << 1;
}

/// Scopes (`LANDLOCK_SCOPE_*`, ABI 6): what a sandboxed process may not reach outside its domain.
pub(crate) mod scope {
    pub(crate) const ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    pub(crate) const SIGNAL: u64 = 1 << 1;
}

/// `struct landlock_ruleset_attr`. The kernel accepts this full size on older ABIs as long as
/// the fields it does not know are zero.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RulesetAttr {
    pub(crate) handled_access_fs: u64,
    pub(crate) handled_access_net: u64,
    pub(crate) scoped: u64,
}

/// `struct landlock_path_beneath_attr` (packed in the kernel's header).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `struct landlock_net_port_attr`.
#[repr(C)]
struct NetPortAttr {
    allowed_access: u64,
    port: u64,
}

/// The kernel's Landlock ABI version, or why there is none.
pub(crate) fn abi_version() -> Result<u32, String> {
    // SAFETY: with a null attribute, size 0 and the VERSION flag the kernel reads no memory.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if r >= 1 {
        return Ok(u32::try_from(r).unwrap_or(u32::MAX));
    }
    let err = io::Error::last_os_error();
    Err(match err.raw_os_error() {
        Some(libc::ENOSYS) => {
            "the kernel was built without Landlock (CONFIG_SECURITY_LANDLOCK), or a seccomp \
             filter around this process hides it"
                .to_owned()
        }
        Some(libc::EOPNOTSUPP) => "Landlock is built into the kernel but not enabled at boot \
             (add `landlock` to the `lsm=` kernel parameter)"
            .to_owned(),
        _ => format!("landlock_create_ruleset failed: {err}"),
    })
}

/// `landlock_create_ruleset`; the kernel returns the fd with `O_CLOEXEC`.
pub(crate) fn create_ruleset(attr: &RulesetAttr) -> Result<RawFd, i32> {
    // SAFETY: `attr` is a valid `landlock_ruleset_attr` of the size passed.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::from_ref(attr),
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as RawFd)
    }
}

/// `landlock_add_rule` of a path-beneath rule.
pub(crate) fn add_path_rule(
    ruleset: RawFd,
    parent_fd: RawFd,
    allowed_access: u64,
) -> Result<(), i32> {
    let attr = PathBeneathAttr {
        allowed_access,
        parent_fd,
    };
    // SAFETY: `attr` is a valid, packed `landlock_path_beneath_attr` living across the call.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            RULE_PATH_BENEATH,
            std::ptr::from_ref(&attr),
            0u32,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `landlock_add_rule` of a TCP port rule.
pub(crate) fn add_port_rule(ruleset: RawFd, port: u16, allowed_access: u64) -> Result<(), i32> {
    let attr = NetPortAttr {
        allowed_access,
        port: u64::from(port),
    };
    // SAFETY: `attr` is a valid `landlock_net_port_attr` living across the call.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            RULE_NET_PORT,
            std::ptr::from_ref(&attr),
            0u32,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `landlock_restrict_self`: the calling thread (the whole child, single-threaded after fork)
/// enters the ruleset's domain, for good.
pub(crate) fn restrict_self(ruleset: RawFd) -> Result<(), i32> {
    // SAFETY: a plain system call on an fd; no memory is passed.
    #[allow(unsafe_code)]
    let r = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// The calling thread's errno, read without allocating.
pub(crate) fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}
