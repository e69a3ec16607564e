//! The wasmtime engines a runtime shares between its plugins, and the clock that enforces
//! per-call deadlines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A call's deadline is a number of ticks, so a guest that loops
/// is stopped at most one tick after its deadline.
pub(crate) const TICK: Duration = Duration::from_millis(2);

/// The settings every engine of a runtime shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineSettings {
    /// Pooled instance slots, or `None` for on-demand allocation.
    pub(crate) pooling: Option<u32>,
    /// The largest linear memory the pool must hold (the runtime's memory cap).
    pub(crate) memory_cap: u64,
}

/// Builds an engine: components without the async ABI (which costs every call), epoch
/// interruption for deadlines, and fuel metering only when `fuel` is set (it slows every loop,
/// so plugins without a fuel budget run on an engine without it).
pub(crate) fn build(settings: EngineSettings, fuel: bool) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(true)
        .consume_fuel(fuel);
    if let Some(slots) = settings.pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(slots)
            .total_component_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memory_size(usize::try_from(settings.memory_cap).unwrap_or(usize::MAX));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// Advances the epoch of the runtime's engines every [`TICK`] on a thread of its own, until
/// dropped. One thread per runtime, not one per call.
#[derive(Debug)]
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    pub(crate) fn start(engines: Vec<Engine>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = thread::Builder::new()
            .name("plugboard-wasm-epoch".into())
            .spawn(move || {
                // The epoch follows the wall clock: when this thread was not scheduled for a
                // while (a busy machine), it catches up instead of falling behind.
                let start = Instant::now();
                let mut done: u128 = 0;
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(TICK);
                    let due = start.elapsed().as_nanos() / TICK.as_nanos();
                    while done < due {
                        for e in &engines {
                            e.increment_epoch();
                        }
                        done += 1;
                    }
                }
            });
        if spawned.is_err() {
            // Without the thread no deadline fires; calls still run. Say so once.
            eprintln!("plugboard-wasm: cannot start the epoch thread; per-call deadlines are not enforced");
        }
        Self { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The number of epoch ticks that covers `timeout`; the deadline callback checks the wall
/// clock when they have passed (see `limits::install_deadline`).
pub(crate) fn ticks(timeout: Duration) -> u64 {
    let tick = TICK.as_nanos();
    u64::try_from(timeout.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_covered_by_whole_ticks() {
        assert_eq!(ticks(Duration::from_millis(1000)), 500);
        assert_eq!(
            ticks(Duration::from_millis(3)),
            2,
            "a partial tick rounds up"
        );
        assert_eq!(ticks(Duration::ZERO), 1, "never a deadline of zero ticks");
        assert_eq!(ticks(Duration::MAX), u64::MAX, "saturates");
    }
}
