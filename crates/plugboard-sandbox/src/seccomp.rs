//! The seccomp filter: a deny-list of system calls a plugin never needs, written as classic BPF.
//!
//! A deny-list, not an allow-list: plugins are Go, Python, Rust or anything else, and an
//! allow-list tight enough to matter breaks some runtime's next release. What is denied here is
//! what lets a process escape or widen a sandbox, reach into another process, or change the
//! machine; each entry says why. Denied calls fail with `EPERM` (so a program sees an ordinary
//! permission error and can degrade), except `clone3`, which fails with `ENOSYS` so that the C
//! library falls back to `clone`, whose flags the filter can inspect.

use std::io;

/// One system call the filter refuses, for documentation and `plugboard info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeniedSyscall {
    /// The system call's name.
    pub name: &'static str,
    /// Why a plugin is refused it.
    pub reason: &'static str,
    /// Whether it is refused only with some arguments (namespace flags of `clone`/`unshare`,
    /// terminal injection requests of `ioctl`).
    pub conditional: bool,
}

/// How the filter treats one system call.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Always refused with this errno.
    Deny(i32),
    /// Refused with `EPERM` when the first argument has any of these bits.
    DenyFlags(u32),
    /// Refused with `EPERM` when the second argument (as the kernel reads it, 32 bits) is one of
    /// these values.
    DenySecondArg(&'static [u32]),
}

/// `TIOCSTI` (push a character into a terminal's input: typing commands into the shell of the
/// terminal the plugin inherited) and `TIOCLINUX` (the same on virtual consoles, among others).
const TERMINAL_INJECTION: &[u32] = &[0x5412, 0x541C];

/// `CLONE_NEW*`: every namespace flag. `CLONE_NEWTIME` (0x80) is left out for `clone`, where
/// the low byte is the exit signal, and kept for `unshare`.
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;
const NEWTIME_FLAG: u32 = 0x80; // CLONE_NEWTIME

/// The table: (number, name, rule, reason).
fn table() -> Vec<(libc::c_long, &'static str, Rule, &'static str)> {
    use libc::*;
    let eperm = Rule::Deny(EPERM);
    #[allow(unused_mut)]
    let mut t = vec![
        (SYS_ptrace, "ptrace", eperm, "reads and writes other processes' memory and registers; a way around every other rule"),
        (SYS_process_vm_readv, "process_vm_readv", eperm, "reads another process's memory"),
        (SYS_process_vm_writev, "process_vm_writev", eperm, "writes another process's memory"),
        (SYS_pidfd_getfd, "pidfd_getfd", eperm, "steals a file descriptor from another process"),
        (SYS_mount, "mount", eperm, "changes the file-system tree the Landlock rules are about"),
        (SYS_umount2, "umount2", eperm, "changes the file-system tree"),
        (SYS_pivot_root, "pivot_root", eperm, "changes the root file system"),
        (SYS_chroot, "chroot", eperm, "changes the root directory; a classic escape with an open directory"),
        (SYS_open_tree, "open_tree", eperm, "new mount API: clones mounts"),
        (SYS_move_mount, "move_mount", eperm, "new mount API: attaches mounts"),
        (SYS_fsopen, "fsopen", eperm, "new mount API: creates a file-system context"),
        (SYS_fsconfig, "fsconfig", eperm, "new mount API: configures a file-system context"),
        (SYS_fsmount, "fsmount", eperm, "new mount API: creates a mount"),
        (SYS_fspick, "fspick", eperm, "new mount API: reconfigures a mount"),
        (SYS_mount_setattr, "mount_setattr", eperm, "changes mount attributes"),
        (SYS_open_by_handle_at, "open_by_handle_at", eperm, "opens any file by handle, bypassing path checks (the 'shocker' container escape)"),
        (SYS_setns, "setns", eperm, "enters another namespace"),
        (SYS_unshare, "unshare", Rule::DenyFlags(NAMESPACE_FLAGS | NEWTIME_FLAG), "with CLONE_NEW* flags: new namespaces (user namespaces above all) are the largest kernel attack surface an unprivileged process can reach"),
        (SYS_clone, "clone", Rule::DenyFlags(NAMESPACE_FLAGS), "with CLONE_NEW* flags: as unshare; threads and fork stay allowed"),
        (SYS_clone3, "clone3", Rule::Deny(ENOSYS), "its flags live in memory a filter cannot read; ENOSYS makes the C library and Go fall back to clone"),
        (SYS_kexec_load, "kexec_load", eperm, "replaces the running kernel"),
        (SYS_kexec_file_load, "kexec_file_load", eperm, "replaces the running kernel"),
        (SYS_reboot, "reboot", eperm, "reboots or halts the machine"),
        (SYS_init_module, "init_module", eperm, "loads kernel code"),
        (SYS_finit_module, "finit_module", eperm, "loads kernel code"),
        (SYS_delete_module, "delete_module", eperm, "unloads kernel code"),
        (SYS_bpf, "bpf", eperm, "loads programs into the kernel; a frequent source of kernel exploits"),
        (SYS_perf_event_open, "perf_event_open", eperm, "observes other processes and the kernel; a frequent source of kernel exploits"),
        (SYS_userfaultfd, "userfaultfd", eperm, "stalls the kernel on page faults, the standard tool to win kernel races"),
        (SYS_keyctl, "keyctl", eperm, "the kernel keyring is not namespaced: keys of the user's other processes"),
        (SYS_add_key, "add_key", eperm, "the kernel keyring"),
        (SYS_request_key, "request_key", eperm, "the kernel keyring"),
        (SYS_io_uring_setup, "io_uring_setup", eperm, "io_uring operations are not system calls, so this filter cannot see them; also a frequent source of kernel exploits"),
        (SYS_swapon, "swapon", eperm, "changes the machine's swap"),
        (SYS_swapoff, "swapoff", eperm, "changes the machine's swap"),
        (SYS_acct, "acct", eperm, "turns process accounting on or off for the machine"),
        (SYS_settimeofday, "settimeofday", eperm, "sets the machine's clock"),
        (SYS_clock_settime, "clock_settime", eperm, "sets the machine's clock"),
        (SYS_clock_adjtime, "clock_adjtime", eperm, "adjusts the machine's clock"),
        (SYS_sethostname, "sethostname", eperm, "renames the machine"),
        (SYS_setdomainname, "setdomainname", eperm, "renames the machine's domain"),
        (SYS_syslog, "syslog", eperm, "reads or clears the kernel log, which leaks kernel addresses"),
        (SYS_quotactl, "quotactl", eperm, "changes disk quotas"),
        (SYS_vhangup, "vhangup", eperm, "hangs up the terminal of other processes"),
        (SYS_ioctl, "ioctl", Rule::DenySecondArg(TERMINAL_INJECTION), "with TIOCSTI or TIOCLINUX: types into the terminal the plugin inherited, outside the sandbox; every other ioctl stays allowed"),
    ];
    #[cfg(target_arch = "x86_64")]
    t.extend([
        (SYS_iopl, "iopl", eperm, "raw access to I/O ports"),
        (SYS_ioperm, "ioperm", eperm, "raw access to I/O ports"),
        (
            SYS_uselib,
            "uselib",
            eperm,
            "an obsolete loader call, only ever used in exploits",
        ),
    ]);
    t
}

/// The system calls the filter refuses, in its order, each with its reason.
///
/// All fail with `EPERM` unless said otherwise:
/// - other processes: `ptrace`, `process_vm_readv`, `process_vm_writev`, `pidfd_getfd`;
/// - the file-system tree the Landlock rules are about: `mount`, `umount2`, `pivot_root`,
///   `chroot`, `open_tree`, `move_mount`, `fsopen`, `fsconfig`, `fsmount`, `fspick`,
///   `mount_setattr`, and `open_by_handle_at` (opens files by handle, past path checks);
/// - namespaces: `setns`; `unshare` and `clone` with any `CLONE_NEW*` flag (threads and fork
///   stay allowed); `clone3` fails with `ENOSYS`, as its flags cannot be inspected, so that libc
///   and Go fall back to `clone`;
/// - the kernel itself: `kexec_load`, `kexec_file_load`, `reboot`, `init_module`,
///   `finit_module`, `delete_module`, `bpf`, `perf_event_open`, `userfaultfd`,
///   `io_uring_setup` (its operations bypass this filter), `keyctl`, `add_key`, `request_key`
///   (the keyring is not namespaced), `syslog`;
/// - the machine: `swapon`, `swapoff`, `acct`, `settimeofday`, `clock_settime`,
///   `clock_adjtime`, `sethostname`, `setdomainname`, `quotactl`, `vhangup`, and on x86_64
///   `iopl`, `ioperm`, `uselib`;
/// - `ioctl` with `TIOCSTI` or `TIOCLINUX`: typing into the terminal the plugin inherited.
///
/// System calls of another ABI (32-bit `int 0x80` on x86_64, x32) are refused as a whole.
pub fn denied_syscalls() -> Vec<DeniedSyscall> {
    table()
        .into_iter()
        .map(|(_, name, rule, reason)| DeniedSyscall {
            name,
            reason,
            conditional: !matches!(rule, Rule::Deny(_)),
        })
        .collect()
}

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h) and seccomp return values.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
#[cfg(target_arch = "x86_64")]
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

// Offsets in `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// The low 32 bits of the first argument (little-endian targets).
const OFFSET_ARG0_LOW: u32 = 16;
/// The low 32 bits of the second argument.
const OFFSET_ARG1_LOW: u32 = 24;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("plugboard-sandbox's seccomp filter knows x86_64 and aarch64 only");

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter program, built before fork (it allocates).
pub(crate) fn program() -> Vec<libc::sock_filter> {
    let eperm = RET_ERRNO | libc::EPERM as u32;
    let mut p = vec![
        // A system call of another ABI (i386 `int 0x80` on x86_64, arm32 on aarch64) has other
        // numbers: refuse them all rather than misread them.
        stmt(LD_W_ABS, OFFSET_ARCH),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, eperm),
        stmt(LD_W_ABS, OFFSET_NR),
    ];
    // x32 system calls carry the native ABI's arch with bit 30 set in the number.
    #[cfg(target_arch = "x86_64")]
    p.extend([jump(JGE_K, 0x4000_0000, 0, 1), stmt(RET_K, eperm)]);
    for (nr, _, rule, _) in table() {
        let nr = nr as u32;
        match rule {
            Rule::Deny(errno) => {
                p.push(jump(JEQ_K, nr, 0, 1));
                p.push(stmt(RET_K, RET_ERRNO | errno as u32));
            }
            Rule::DenyFlags(flags) => {
                p.push(jump(JEQ_K, nr, 0, 4));
                p.push(stmt(LD_W_ABS, OFFSET_ARG0_LOW));
                p.push(jump(JSET_K, flags, 0, 1));
                p.push(stmt(RET_K, eperm));
                p.push(stmt(RET_K, RET_ALLOW));
            }
            Rule::DenySecondArg(values) => {
                let skip = u8::try_from(2 + 2 * values.len()).expect("a short list");
                p.push(jump(JEQ_K, nr, 0, skip));
                p.push(stmt(LD_W_ABS, OFFSET_ARG1_LOW));
                for &v in values {
                    p.push(jump(JEQ_K, v, 0, 1));
                    p.push(stmt(RET_K, eperm));
                }
                p.push(stmt(RET_K, RET_ALLOW));
            }
        }
    }
    p.push(stmt(RET_K, RET_ALLOW));
    p
}

/// Whether this kernel runs seccomp filters that return errnos, or why not.
pub(crate) fn available() -> Result<(), String> {
    let action: u32 = RET_ERRNO;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from a valid pointer and changes nothing.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0u32,
            std::ptr::from_ref(&action),
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    Err(match err.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EINVAL) => {
            "the kernel was built without seccomp filters (CONFIG_SECCOMP_FILTER)".to_owned()
        }
        _ => format!("seccomp(SECCOMP_GET_ACTION_AVAIL) failed: {err}"),
    })
}

/// Installs the filter on the calling thread. Only a system call: safe between fork and exec.
/// `no_new_privs` must already be set.
pub(crate) fn install(program: &[libc::sock_filter]) -> Result<(), i32> {
    let prog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies it.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            std::ptr::from_ref(&prog),
        )
    };
    if r < 0 {
        Err(crate::landlock::errno())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_the_calls_the_design_requires() {
        let names: Vec<_> = denied_syscalls().iter().map(|d| d.name).collect();
        for required in [
            "ptrace",
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "kexec_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "userfaultfd",
            "unshare",
            "setns",
            "reboot",
            "swapon",
            "swapoff",
            "process_vm_readv",
            "process_vm_writev",
            "open_by_handle_at",
        ] {
            assert!(names.contains(&required), "{required} is not denied");
        }
    }

    #[test]
    fn the_program_fits_classic_bpf_and_ends_in_allow() {
        let p = program();
        assert!(p.len() < 4096, "BPF_MAXINSNS");
        let last = p.last().unwrap();
        assert_eq!((last.code, last.k), (RET_K, RET_ALLOW));
    }
}
