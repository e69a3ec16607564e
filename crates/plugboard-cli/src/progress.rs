//! Progress on stderr for anything that takes more than a second.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard::{Host, PluginState};

/// Reports how many plugins have settled while the host starts, once a second has passed.
#[derive(Debug)]
pub(crate) struct StartProgress {
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StartProgress {
    pub(crate) fn begin(host: &Host, what: &'static str) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let (h, d) = (host.clone(), done.clone());
        let task = tokio::spawn(async move {
            let began = Instant::now();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let tty = std::io::stderr().is_terminal();
            while !d.load(Ordering::Acquire) {
                let statuses = h.statuses();
                let total = statuses.len();
                let settled = statuses.iter().filter(|s| s.state.is_settled()).count();
                let waiting: Vec<String> = statuses
                    .iter()
                    .filter(|s| !s.state.is_settled() && s.state != PluginState::Resolved)
                    .map(|s| format!("{} ({})", s.id, s.state))
                    .take(3)
                    .collect();
                let line = format!(
                    "{what}: {settled}/{total} plugins settled after {:.0}s{}",
                    began.elapsed().as_secs_f64(),
                    if waiting.is_empty() {
                        String::new()
                    } else {
                        format!("; waiting for {}", waiting.join(", "))
                    }
                );
                {
                    let mut err = std::io::stderr().lock();
                    if tty {
                        let _ = write!(err, "\r\x1b[2K{line}");
                    } else {
                        let _ = writeln!(err, "{line}");
                    }
                    let _ = err.flush();
                }
                tokio::time::sleep(Duration::from_secs(if tty { 1 } else { 2 })).await;
            }
            if tty {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
        });
        Self { done, task }
    }

    pub(crate) async fn finish(self) {
        self.done.store(true, Ordering::Release);
        self.task.abort();
        let _ = self.task.await;
    }
}
