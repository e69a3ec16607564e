//! The directory monitor: watches the external plugin directories and reloads what changed.
//!
//! File-system events (inotify on Linux, through the `notify` crate; polling where a file system
//! sends none, or when asked) are debounced: the monitor waits until the directories have been
//! quiet for a moment, so a plugin copied in file by file, or an editor's save in several
//! writes, is one change. Then it calls [`Host::rescan`], which compares the directories with
//! what runs and applies the difference.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::reload::ReloadError;
use crate::{Error, Host};

/// How the monitor watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// How long the directories must stay quiet before a change is applied. Short enough that
    /// an update serves within a blink, long enough that a copy in progress is one change.
    pub debounce: Duration,
    /// Poll every interval instead of relying on file-system events (for network and FUSE
    /// file systems that send none). `None` uses events, and falls back to polling every
    /// second if they cannot be set up.
    pub poll: Option<Duration>,
    /// Also watch the bundled directory (off by default: it belongs to the application).
    pub bundled: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(50),
            poll: None,
            bundled: false,
        }
    }
}

/// How a [`Monitor`] learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    /// File-system events (inotify, FSEvents, ...).
    Events,
    /// Polling, at this interval.
    Poll(Duration),
}

impl fmt::Display for WatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchKind::Events => f.write_str("file-system events"),
            WatchKind::Poll(d) => write!(f, "polling every {d:?}"),
        }
    }
}

/// A running directory monitor. Dropping it stops watching.
pub struct Monitor {
    kind: WatchKind,
    dirs: Vec<PathBuf>,
    task: tokio::task::JoinHandle<()>,
    // Kept alive for as long as the monitor: dropping it stops the events.
    _watcher: Box<dyn Watcher + Send>,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("kind", &self.kind)
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// How it watches.
    pub fn kind(&self) -> WatchKind {
        self.kind
    }

    /// The directories it watches.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Host {
    /// Watches the external plugin directories (and the bundled one if asked) and applies each
    /// change with [`Host::rescan`] once the files have settled. Outcomes go to the listeners
    /// of [`Host::on_reload`]. Call it after [`Host::start`], from within a tokio runtime.
    ///
    /// A directory that does not exist yet is created, so that plugins can be dropped in later.
    ///
    /// # Errors
    /// When a directory cannot be created or watched even by polling.
    pub fn watch(&self, options: WatchOptions) -> Result<Monitor, Error> {
        let config = self.config();
        let mut dirs: Vec<PathBuf> = config.directories.external.clone();
        if options.bundled {
            dirs.extend(config.directories.bundled.clone());
        }
        for d in &dirs {
            std::fs::create_dir_all(d).map_err(|source| Error::Io {
                path: d.clone(),
                source,
            })?;
        }
        let state_dir = self.state_dir();
        let (tx, rx) = mpsc::unbounded_channel::<()>();
        let handler = move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            // The host's own writes (logs, storage) must never look like a plugin change.
            if !event.paths.is_empty() && event.paths.iter().all(|p| p.starts_with(&state_dir)) {
                return;
            }
            if event.kind.is_access() {
                return;
            }
            let _ = tx.send(());
        };
        let (mut watcher, kind): (Box<dyn Watcher + Send>, WatchKind) = match options.poll {
            Some(interval) => (
                poll_watcher(handler, interval, &dirs)?,
                WatchKind::Poll(interval),
            ),
            None => match notify::recommended_watcher(handler.clone()) {
                Ok(w) => (Box::new(w), WatchKind::Events),
                Err(e) => {
                    let interval = Duration::from_secs(1);
                    tracing::warn!(
                        "file-system events are not available ({e}); polling the plugin directories every {interval:?}"
                    );
                    (
                        poll_watcher(handler, interval, &dirs)?,
                        WatchKind::Poll(interval),
                    )
                }
            },
        };
        for d in &dirs {
            watch_dir(&mut *watcher, d)?;
        }
        let host = self.clone();
        let task = tokio::spawn(run(host, rx, options.debounce));
        Ok(Monitor {
            kind,
            dirs,
            task,
            _watcher: watcher,
        })
    }
}

fn poll_watcher(
    handler: impl notify::EventHandler,
    interval: Duration,
    dirs: &[PathBuf],
) -> Result<Box<dyn Watcher + Send>, Error> {
    // The poller's modification times have a resolution of one second; comparing contents
    // catches an update written within the same second as the previous one.
    let config = notify::Config::default()
        .with_poll_interval(interval)
        .with_compare_contents(true);
    let w = notify::PollWatcher::new(handler, config).map_err(|e| watch_error(dirs.first(), e))?;
    Ok(Box::new(w))
}

fn watch_dir(watcher: &mut dyn Watcher, dir: &Path) -> Result<(), Error> {
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|e| watch_error(Some(&dir.to_path_buf()), e))
}

fn watch_error(dir: Option<&PathBuf>, e: notify::Error) -> Error {
    let path = dir.cloned().unwrap_or_default();
    Error::Io {
        source: std::io::Error::other(format!(
            "cannot watch this plugin directory: {e}; check that it exists and is readable (on Linux, a low fs.inotify.max_user_watches also causes this)"
        )),
        path,
    }
}

/// Waits for a burst of events, lets it settle, rescans; until the host stops.
async fn run(host: Host, mut rx: mpsc::UnboundedReceiver<()>, debounce: Duration) {
    while rx.recv().await.is_some() {
        // Debounce: wait until no event has arrived for `debounce`.
        loop {
            match tokio::time::timeout(debounce, rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_) => break,
            }
        }
        match host.rescan().await {
            Ok(_) => {}
            Err(ReloadError::NotRunning) => return,
            Err(e) => tracing::error!("hot reload: {e}"),
        }
    }
}
