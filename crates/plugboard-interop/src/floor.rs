//! The floor: a blocking ping-pong of small messages over a Unix socket between two processes.
//!
//! No plugin transport does less work per call (no framing, no serialisation, no executor), so
//! its round trip is the unit in which Plugboard's stdio and gRPC call latencies are given.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::Latency;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingPong {
    /// Timed round trips.
    pub round_trips: usize,
    /// Untimed round trips first.
    pub warmup: usize,
    /// Bytes per message, each way.
    pub message_bytes: usize,
    /// Pin both processes to CPU 0 (the cheapest case), rather than let the scheduler place them
    /// (usually on two cores, which costs cross-core wake-ups).
    pub same_core: bool,
}

impl Default for PingPong {
    fn default() -> Self {
        Self {
            round_trips: 20_000,
            warmup: 1_000,
            message_bytes: 16,
            same_core: false,
        }
    }
}

/// The most bytes a message may have (the echo side's buffer lives on its stack).
pub const MAX_MESSAGE_BYTES: usize = 4096;

impl PingPong {
    /// Forks an echo process and times `round_trips` round trips with it.
    ///
    /// # Errors
    /// When the socket pair or the fork fails, the echo process dies, or `message_bytes` is 0 or
    /// over [`MAX_MESSAGE_BYTES`].
    pub fn run(&self) -> io::Result<Latency> {
        if self.message_bytes == 0 || self.message_bytes > MAX_MESSAGE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("message_bytes must be 1 to {MAX_MESSAGE_BYTES}"),
            ));
        }
        let (mut ours, theirs) = UnixStream::pair()?;
        let mut timings = Vec::with_capacity(self.round_trips);
        let message = vec![0x5a_u8; self.message_bytes];
        let mut reply = vec![0_u8; self.message_bytes];
        let same_core = self.same_core;
        let size = self.message_bytes;
        // SAFETY: the child runs `echo`, which makes read and write system calls on a stack
        // buffer and exits with `_exit`: no allocation, no lock, nothing that is unsafe after
        // fork in a multi-threaded parent.
        #[allow(unsafe_code)]
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            drop(ours);
            echo(theirs, size, same_core);
        }
        drop(theirs);
        if same_core {
            pin_to_cpu0();
        }
        let mut exchange = || -> io::Result<()> {
            for i in 0..self.warmup + self.round_trips {
                let began = Instant::now();
                ours.write_all(&message)?;
                ours.read_exact(&mut reply)?;
                if i >= self.warmup {
                    timings.push(began.elapsed());
                }
            }
            Ok(())
        };
        let result = exchange();
        drop(ours); // the echo process sees end-of-file and exits
        reap(pid);
        if same_core {
            unpin();
        }
        result?;
        Latency::of(&mut timings).ok_or_else(|| io::Error::other("no round trips were asked for"))
    }
}

/// The child's loop; never returns.
fn echo(mut stream: UnixStream, size: usize, same_core: bool) -> ! {
    if same_core {
        pin_to_cpu0();
    }
    let mut buf = [0_u8; MAX_MESSAGE_BYTES];
    let code = loop {
        if stream.read_exact(&mut buf[..size]).is_err() {
            break 0; // the parent closed its end: done
        }
        if stream.write_all(&buf[..size]).is_err() {
            break 1;
        }
    };
    // SAFETY: ends the forked child at once, without running the parent's atexit handlers.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(code)
    }
}

fn set_affinity(cpus: &libc::cpu_set_t) {
    // SAFETY: `cpus` is a valid cpu_set_t of the size passed; failure only leaves placement
    // to the scheduler.
    #[allow(unsafe_code)]
    unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), cpus);
    }
}

fn pin_to_cpu0() {
    // SAFETY: cpu_set_t is plain data, all zeroes is an empty set; CPU_SET writes within it.
    #[allow(unsafe_code)]
    let cpus = unsafe {
        let mut cpus: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut cpus);
        cpus
    };
    set_affinity(&cpus);
}

fn unpin() {
    // SAFETY: as in `pin_to_cpu0`.
    #[allow(unsafe_code)]
    let cpus = unsafe {
        let mut cpus: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut cpus);
        }
        cpus
    };
    set_affinity(&cpus);
}

/// Waits for the echo process; kills it if it has not exited shortly after its socket closed.
fn reap(pid: libc::pid_t) {
    let mut status = 0;
    for _ in 0..100 {
        // SAFETY: waits for our own child without blocking.
        #[allow(unsafe_code)]
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: our own child, still running after 100 ms: kill it and wait for it.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
}
