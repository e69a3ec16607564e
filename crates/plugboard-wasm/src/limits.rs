//! Per-instance memory limit, per-call budgets, and how a failed call is classified.

use std::time::{Duration, Instant};

use plugboard_core::CallError;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};

/// The memory limit of one instance, as a wasmtime resource limiter. A growth past the limit
/// fails (`memory.grow` returns -1, as the specification wants); the limiter remembers it so
/// that a trap that follows is reported as running out of memory.
#[derive(Debug, Clone)]
pub(crate) struct MemoryLimit {
    pub(crate) max: usize,
    pub(crate) refused: Option<usize>,
}

impl MemoryLimit {
    pub(crate) fn new(max: u64) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            refused: None,
        }
    }
}

/// Tables are small; this only keeps a guest from asking for millions of entries.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// What one call may spend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Epoch ticks until the deadline.
    pub(crate) ticks: u64,
    /// The deadline, for messages.
    pub(crate) timeout: Duration,
    /// Instructions, when the plugin has a fuel budget.
    pub(crate) fuel: Option<u64>,
}

/// Store data that carries the wall-clock deadline of the call in progress.
pub(crate) trait HasDeadline {
    fn deadline(&mut self) -> &mut Instant;
}

/// A deadline far enough away to never fire (between calls, during instantiation).
pub(crate) fn never() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(365 * 24 * 3600))
        .unwrap_or(now)
}

/// Makes epoch deadlines exact: when the epoch says the deadline has come, the wall clock is
/// asked too, and the guest runs on tick by tick until it has. The epoch thread may lag and
/// then catch up in a burst; without this, a call could be stopped before its deadline.
pub(crate) fn install_deadline<T: HasDeadline + 'static>(store: &mut Store<T>) {
    store.epoch_deadline_callback(|mut ctx| {
        if Instant::now() >= *ctx.data_mut().deadline() {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Continue(1))
        }
    });
}

impl Budget {
    /// Arms `store` for one call.
    pub(crate) fn arm<T: HasDeadline>(&self, store: &mut wasmtime::Store<T>) {
        let now = Instant::now();
        *store.data_mut().deadline() = now.checked_add(self.timeout).unwrap_or_else(never);
        store.set_epoch_deadline(self.ticks);
        if let Some(f) = self.fuel {
            // Only fails when the engine does not meter fuel, and plugins with a budget run
            // on the engine that does.
            let _ = store.set_fuel(f);
        }
    }
}

/// What kind of fault ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Timeout,
    OutOfMemory,
    StackOverflow,
    OutOfFuel,
    Trap,
}

/// Why a call into a guest failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The guest reported an error; the instance is fine and goes back to the pool.
    Guest(CallError),
    /// A host function refused (a denied permission, a failed host call) and unwound the
    /// guest: the call fails with that error, the instance is discarded (its state may be
    /// half-updated), and it does not count against the plugin's health.
    Aborted(CallError),
    /// The instance trapped, ran out of memory, fuel or time: it is discarded and replaced,
    /// and repeated faults mark the plugin unhealthy.
    Fault(FaultKind, String),
}

/// An error a host function raises to unwind the guest with a specific [`CallError`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HostRefusal(pub(crate) CallError);

/// Classifies an error from wasmtime after a call into the guest.
pub(crate) fn classify(err: wasmtime::Error, memory: &MemoryLimit, budget: &Budget) -> Failure {
    if let Some(HostRefusal(e)) = err.downcast_ref::<HostRefusal>() {
        return Failure::Aborted(e.clone());
    }
    let trap = err.downcast_ref::<Trap>().copied();
    match trap {
        Some(Trap::Interrupt) => Failure::Fault(
            FaultKind::Timeout,
            format!(
                "did not finish within its deadline of {} ms (`wasm.timeout`)",
                budget.timeout.as_millis()
            ),
        ),
        Some(Trap::OutOfFuel) => Failure::Fault(
            FaultKind::OutOfFuel,
            format!(
                "ran out of fuel after {} instructions (`wasm.fuel`)",
                budget.fuel.unwrap_or_default()
            ),
        ),
        Some(Trap::StackOverflow) => Failure::Fault(
            FaultKind::StackOverflow,
            "stack overflow (unbounded recursion?)".into(),
        ),
        _ if memory.refused.is_some() => Failure::Fault(
            FaultKind::OutOfMemory,
            format!(
                "out of memory: it asked for {} bytes, past its limit of {} bytes (`wasm.memory_max`); then: {}",
                memory.refused.unwrap_or_default(),
                memory.max,
                root_message(&err)
            ),
        ),
        Some(_) => Failure::Fault(FaultKind::Trap, format!("trapped: {}", root_message(&err))),
        None => Failure::Fault(FaultKind::Trap, root_message(&err)),
    }
}

fn root_message(err: &wasmtime::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            ticks: 10,
            timeout: Duration::from_millis(20),
            fuel: Some(5),
        }
    }

    #[test]
    fn traps_are_classified_by_what_the_guest_hit() {
        let m = MemoryLimit::new(1 << 20);
        let kind = |t: Trap| match classify(wasmtime::Error::new(t), &m, &budget()) {
            Failure::Fault(k, msg) => (k, msg),
            other => panic!("{other:?}"),
        };
        let (k, msg) = kind(Trap::Interrupt);
        assert_eq!(k, FaultKind::Timeout);
        assert!(
            msg.contains("20 ms") && msg.contains("wasm.timeout"),
            "{msg}"
        );
        assert_eq!(kind(Trap::OutOfFuel).0, FaultKind::OutOfFuel);
        assert_eq!(kind(Trap::StackOverflow).0, FaultKind::StackOverflow);
        assert_eq!(kind(Trap::UnreachableCodeReached).0, FaultKind::Trap);
    }

    #[test]
    fn a_trap_after_a_refused_growth_is_out_of_memory() {
        let mut m = MemoryLimit::new(1 << 16);
        assert!(!m.memory_growing(0, 1 << 17, None).unwrap());
        assert!(m.memory_growing(0, 1 << 16, None).unwrap());
        match classify(
            wasmtime::Error::new(Trap::UnreachableCodeReached),
            &m,
            &budget(),
        ) {
            Failure::Fault(FaultKind::OutOfMemory, msg) => {
                assert!(msg.contains("131072") && msg.contains("65536"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_host_refusal_keeps_its_call_error() {
        let e = CallError::Denied("no".into());
        let f = classify(
            wasmtime::Error::new(HostRefusal(e.clone())),
            &MemoryLimit::new(1),
            &budget(),
        );
        assert!(matches!(f, Failure::Aborted(ref got) if *got == e), "{f:?}");
    }
}
