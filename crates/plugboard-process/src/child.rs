//! One plugin process: spawned in its own process group, its stderr read into the plugin's
//! log, its exit watched, and the whole group stopped on demand.

use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use plugboard_core::manifest::LogLevel;
use plugboard_core::HostApi;
use plugboard_protocol::handshake::{self, parse_log_line};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

use crate::error::ProcessError;

/// How many stderr lines are kept for error messages.
const STDERR_TAIL: usize = 20;
/// Longer lines are cut: a plugin that writes megabytes without a newline costs no memory.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// The last lines a plugin wrote on stderr, for error messages.
#[derive(Debug, Default, Clone)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: &str) {
        let mut t = self.0.lock();
        if t.len() == STDERR_TAIL {
            t.pop_front();
        }
        t.push_back(line.to_owned());
    }

    /// The kept lines, as a quoted block for an error message ("" when there are none).
    pub(crate) fn render(&self) -> String {
        let t = self.0.lock();
        if t.is_empty() {
            return "; it wrote nothing on stderr".to_owned();
        }
        let mut s = String::from("; its last stderr lines:");
        for l in t.iter() {
            s.push_str("\n    ");
            s.push_str(l);
        }
        s
    }
}

/// How a process ended, in words.
pub(crate) fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}{}", signal_name(sig)),
        _ => "exited".to_owned(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        _ => "",
    }
}

/// What is known of the process's end: `None` while it runs.
pub(crate) type Exit = watch::Receiver<Option<ExitStatus>>;

/// A running plugin process.
pub(crate) struct Child {
    pub(crate) pid: u32,
    pub(crate) exit: Exit,
    pub(crate) stderr: StderrTail,
    /// Set when the stderr reader reached the end (the process and its group closed it).
    pub(crate) stderr_done: watch::Receiver<bool>,
    /// A reattached process is not ours: it is never signalled.
    owned: bool,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("pid", &self.pid).finish()
    }
}

/// What [`spawn`] hands back besides the [`Child`].
pub(crate) struct Pipes {
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) stdout: ChildStdout,
}

/// Starts `entry` in a process group of its own (so that stopping it reaches its children),
/// with `env` added to the inherited environment, and starts reading its stderr into `host`'s
/// log.
pub(crate) fn spawn(
    host: &HostApi,
    entry: &Path,
    args: &[String],
    env: &[(String, String)],
    with_stdin: bool,
    pre_exec: Option<crate::PreExec>,
) -> Result<(Child, Pipes), ProcessError> {
    let mut cmd = Command::new(entry);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if with_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &host.descriptor().dir {
        cmd.current_dir(dir);
    }
    if let Some(hook) = pre_exec {
        #[allow(unsafe_code)]
        // SAFETY: the hook is documented to be async-signal-safe (it only makes system calls
        // on memory prepared before the fork).
        unsafe {
            cmd.pre_exec(move || hook());
        }
    }
    let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
        plugin: host.id().to_string(),
        entry: entry.to_owned(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    let stdout = child.stdout.take().expect("stdout was piped");
    let stderr = child.stderr.take().expect("stderr was piped");
    let stdin = child.stdin.take();

    let tail = StderrTail::default();
    let (done_tx, done_rx) = watch::channel(false);
    tokio::spawn(read_stderr(
        BufReader::new(stderr),
        host.clone(),
        tail.clone(),
        done_tx,
    ));
    let (exit_tx, exit_rx) = watch::channel(None);
    tokio::spawn(async move {
        let status = child.wait().await;
        if let Ok(s) = status {
            exit_tx.send_replace(Some(s));
        } else {
            // wait() fails only if the child was already reaped; report it as gone.
            use std::os::unix::process::ExitStatusExt;
            exit_tx.send_replace(Some(ExitStatus::from_raw(0)));
        }
    });
    Ok((
        Child {
            pid,
            exit: exit_rx,
            stderr: tail,
            stderr_done: done_rx,
            owned: true,
        },
        Pipes { stdin, stdout },
    ))
}

impl Child {
    /// A process this host did not start (reattach): watched by pid, never signalled.
    pub(crate) fn reattached(pid: u32) -> Child {
        let (exit_tx, exit_rx) = watch::channel(None);
        if pid != 0 {
            tokio::spawn(async move {
                // A process that is not our child cannot be waited for: poll its existence.
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    // SAFETY-free: kill(pid, 0) only checks that the process exists.
                    if !process_exists(pid) {
                        use std::os::unix::process::ExitStatusExt;
                        exit_tx.send_replace(Some(ExitStatus::from_raw(0)));
                        return;
                    }
                    if exit_tx.is_closed() {
                        return;
                    }
                }
            });
        }
        Child {
            pid,
            exit: exit_rx,
            stderr: StderrTail::default(),
            stderr_done: watch::channel(true).1,
            owned: false,
        }
    }

    /// Whether the process has exited.
    pub(crate) fn exited(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    /// Waits until the process has exited.
    pub(crate) async fn wait(&self) -> ExitStatus {
        let mut rx = self.exit.clone();
        let seen = rx.wait_for(Option::is_some).await.map(|s| *s);
        match seen {
            Ok(Some(s)) => s,
            _ => {
                use std::os::unix::process::ExitStatusExt;
                ExitStatus::from_raw(0)
            }
        }
    }

    /// Waits (at most `limit`) until stderr is read to its end, so that an error message
    /// about an exit carries the process's last words.
    pub(crate) async fn drain_stderr(&self, limit: Duration) {
        let mut rx = self.stderr_done.clone();
        let _ = tokio::time::timeout(limit, rx.wait_for(|d| *d)).await;
    }

    /// Sends `signal` to the whole process group.
    pub(crate) fn signal_group(&self, signal: i32) {
        if !self.owned || self.pid == 0 {
            return;
        }
        let Ok(pgid) = libc::pid_t::try_from(self.pid) else {
            return;
        };
        #[allow(unsafe_code)]
        // SAFETY: killpg has no memory effects; a group that no longer exists gives ESRCH.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }

    /// Stops the group: SIGTERM, up to `grace` for the leader to exit, then SIGKILL. The
    /// group is killed even after the leader exited, so that grandchildren do not outlive it.
    pub(crate) async fn terminate(&self, grace: Duration) {
        if !self.owned {
            return;
        }
        if self.exited().is_none() {
            self.signal_group(libc::SIGTERM);
            let _ = tokio::time::timeout(grace, self.wait()).await;
        }
        self.signal_group(libc::SIGKILL);
        let _ = tokio::time::timeout(grace, self.wait()).await;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // A session dropped without a stop (a failed start, a host dropped without `stop`)
        // leaves no process group behind.
        if self.exited().is_none() {
            self.signal_group(libc::SIGKILL);
        }
    }
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    #[allow(unsafe_code)]
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Reads one line of at most [`MAX_LINE`] bytes (the rest of a longer line is skipped), without
/// its line ending. `None` at the end of the stream.
pub(crate) async fn read_line_capped<R: AsyncBufRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut seen_any = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(seen_any.then(|| finish_line(line)));
        }
        seen_any = true;
        let (chunk, found) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = found.map_or(buf.len(), |i| i + 1);
        r.consume(used);
        if found.is_some() {
            return Ok(Some(finish_line(line)));
        }
    }
}

fn finish_line(mut line: Vec<u8>) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// At most this many stderr lines a second go to the plugin's log; the rest are counted and
/// reported, so that a plugin flooding its stderr cannot flood the host's disk or starve it.
const LOG_LINES_PER_SECOND: u32 = 2000;

async fn read_stderr<R: AsyncRead + Unpin>(
    mut r: BufReader<R>,
    host: HostApi,
    tail: StderrTail,
    done: watch::Sender<bool>,
) {
    let mut window = std::time::Instant::now();
    let (mut logged, mut dropped) = (0u32, 0u64);
    let mut read = 0u32;
    while let Ok(Some(line)) = read_line_capped(&mut r).await {
        read = read.wrapping_add(1);
        if read.is_multiple_of(256) {
            tokio::task::yield_now().await;
        }
        if line.trim().is_empty() {
            continue;
        }
        tail.push(&line);
        if window.elapsed() >= Duration::from_secs(1) {
            if dropped > 0 {
                host.log(
                    LogLevel::Warning,
                    &format!("the plugin wrote more than {LOG_LINES_PER_SECOND} stderr lines a second; {dropped} were not logged"),
                );
            }
            window = std::time::Instant::now();
            (logged, dropped) = (0, 0);
        }
        if logged < LOG_LINES_PER_SECOND {
            logged += 1;
            log_line(&host, &line);
        } else {
            dropped += 1;
        }
    }
    done.send_replace(true);
}

/// Writes one stderr (or forwarded stdio) line into the plugin's log with its level.
pub(crate) fn log_line(host: &HostApi, line: &str) {
    let record = parse_log_line(line);
    let level = level(record.level);
    if !host.log_enabled(level) {
        return;
    }
    let values: Vec<(String, String)> = record
        .fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    let fields: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    host.log_with(level, &record.message, &fields);
}

/// The core's level for a level go-plugin's log lines carry.
pub(crate) fn level(l: handshake::LogLevel) -> LogLevel {
    match l {
        handshake::LogLevel::Trace => LogLevel::Trace,
        handshake::LogLevel::Debug => LogLevel::Debug,
        handshake::LogLevel::Info => LogLevel::Info,
        handshake::LogLevel::Warn => LogLevel::Warning,
        handshake::LogLevel::Error => LogLevel::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_cut_and_line_endings_dropped() {
        let mut input = vec![b'x'; MAX_LINE + 100];
        input.extend_from_slice(b"\r\nnext\nlast");
        let mut r = BufReader::with_capacity(64, input.as_slice());
        let first = read_line_capped(&mut r).await.unwrap().unwrap();
        assert_eq!(first.len(), MAX_LINE);
        assert_eq!(read_line_capped(&mut r).await.unwrap().unwrap(), "next");
        assert_eq!(read_line_capped(&mut r).await.unwrap().unwrap(), "last");
        assert_eq!(read_line_capped(&mut r).await.unwrap(), None);
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let t = StderrTail::default();
        assert!(t.render().contains("nothing"));
        for i in 0..(STDERR_TAIL + 5) {
            t.push(&format!("line {i}"));
        }
        let shown = t.render();
        assert!(!shown.contains("line 4\n"));
        assert!(shown.contains(&format!("line {}", STDERR_TAIL + 4)));
    }
}
