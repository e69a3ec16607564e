//! A per-thread copy of the host's table, for calls by plugin id.
//!
//! Reading the table through its `ArcSwap` costs two atomic read-modify-writes per call (the
//! hazard slot taken and given back), which was a fifth of a builtin call. Instead, each thread
//! keeps the table it last used with the host's change counter (`epoch`) at that time; a call
//! only reads the counter, and takes the table afresh when it moved. Tables are immutable, so a
//! copy that is one change old is as good as a lookup made a moment earlier: a slot it leads to
//! that has been replaced since is `retired`, and the caller goes through the route instead.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{HostInner, Table};

/// Host ids, so that a cached table is never taken for another host's (addresses are reused;
/// ids are not).
static NEXT_HOST: AtomicU64 = AtomicU64::new(1);

/// A fresh host id.
pub(crate) fn next_host_id() -> u64 {
    NEXT_HOST.fetch_add(1, Ordering::Relaxed)
}

struct Cached {
    host: u64,
    epoch: u64,
    table: Option<Arc<Table>>,
    /// How many calls on this thread are using `table` now (a plugin calling another plugin
    /// nests). The entry is replaced only when none is.
    depth: u32,
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { host: 0, epoch: 0, table: None, depth: 0 })
    };
}

/// Gives the depth back when the call that took it returns (or unwinds).
struct Depth;

impl Drop for Depth {
    fn drop(&mut self) {
        let _ = CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.depth = c.depth.saturating_sub(1);
            }
        });
    }
}

impl HostInner {
    /// Replaces the table and moves the change counter, so threads take the new one.
    pub(crate) fn set_table(&self, table: Arc<Table>) {
        self.table.store(table);
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Runs `f` on the current table: this thread's copy when it is current, else a fresh one.
    #[allow(unsafe_code)]
    pub(crate) fn with_table<R>(&self, f: impl FnOnce(&Table) -> R) -> R {
        let epoch = self.epoch.load(Ordering::Acquire);
        let cached = CACHE
            .try_with(|c| {
                let mut c = c.try_borrow_mut().ok()?;
                if c.host == self.id && c.epoch == epoch {
                    if let Some(t) = &c.table {
                        let p = Arc::as_ptr(t);
                        c.depth += 1;
                        return Some(p);
                    }
                }
                if c.depth > 0 {
                    return None;
                }
                let table = self.table.load_full();
                let p = Arc::as_ptr(&table);
                *c = Cached {
                    host: self.id,
                    epoch,
                    table: Some(table),
                    depth: 1,
                };
                Some(p)
            })
            .ok()
            .flatten();
        match cached {
            Some(p) => {
                let _depth = Depth;
                // SAFETY: `p` points into the `Arc<Table>` held by this thread's cache entry.
                // The entry is replaced or dropped only while its depth is zero, and the depth
                // counted above stays until `_depth` is dropped after `f` returns: the table
                // outlives the borrow.
                f(unsafe { &*p })
            }
            None => f(&self.table.load()),
        }
    }
}
