//! The floor benchmark: a blocking Unix-socket ping-pong of 16-byte messages between two
//! processes, on one core and across cores. Prints one JSON line per placement:
//!
//! `{"bench":"unix-pingpong","mean_us":9.3,"median_us":7.1,"message_bytes":16,"p99_us":16.7,"placement":"same-core","samples":100000}`
//! (keys in alphabetical order, times in microseconds)
//!
//! `cargo bench -p plugboard-interop --bench unix_pingpong [-- ROUND_TRIPS]`

use plugboard_interop::floor::PingPong;

fn main() -> std::io::Result<()> {
    let round_trips = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    for (placement, same_core) in [("same-core", true), ("any-core", false)] {
        let pp = PingPong {
            round_trips,
            same_core,
            ..PingPong::default()
        };
        let l = pp.run()?;
        println!(
            "{}",
            serde_json::json!({
                "bench": "unix-pingpong",
                "placement": placement,
                "message_bytes": pp.message_bytes,
                "samples": l.samples,
                "median_us": (l.median_us * 10.0).round() / 10.0,
                "p99_us": (l.p99_us * 10.0).round() / 10.0,
                "mean_us": (l.mean_us * 10.0).round() / 10.0,
            })
        );
    }
    Ok(())
}
