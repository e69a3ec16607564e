//! Real peers and floors for Plugboard's process runtime, shared by its tests and benchmarks.
//!
//! - [`go`]: builds the Go go-plugin peers of `examples/go` with `scripts/build-go` (offline,
//!   from Debian's Go packages) and runs the Go hosts: `kv-host` in its round-trip and
//!   benchmark modes, `pb-host` against any plugin on Plugboard's own proto (the Go notes
//!   plugin, or `examples/pdk_peer.rs`, a Rust plugin served by plugboard-pdk).
//! - [`floor`]: a blocking Unix-socket ping-pong between two processes, the latency no plugin
//!   transport can beat on this machine.
#![deny(missing_docs)]

pub mod floor;
pub mod go;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Latency figures of a series of timings, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// How many timings.
    pub samples: usize,
    /// The median (nearest rank).
    pub median_us: f64,
    /// The 99th percentile (nearest rank).
    pub p99_us: f64,
    /// The mean.
    pub mean_us: f64,
}

impl Latency {
    /// Summarises `timings` (sorted in place). `None` when empty.
    pub fn of(timings: &mut [Duration]) -> Option<Self> {
        if timings.is_empty() {
            return None;
        }
        timings.sort_unstable();
        let rank = |q: f64| {
            let r = (q * timings.len() as f64).ceil() as usize;
            timings[r.clamp(1, timings.len()) - 1]
        };
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let total: Duration = timings.iter().sum();
        Some(Self {
            samples: timings.len(),
            median_us: us(rank(0.5)),
            p99_us: us(rank(0.99)),
            mean_us: us(total) / timings.len() as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut t: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let l = Latency::of(&mut t).unwrap();
        assert_eq!((l.samples, l.median_us, l.p99_us), (100, 50.0, 99.0));
        assert!((l.mean_us - 50.5).abs() < 1e-9);
        assert_eq!(Latency::of(&mut []), None);
    }
}
