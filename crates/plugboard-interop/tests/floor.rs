//! The floor benchmark's measurement works and gives sane figures.

use plugboard_interop::floor::PingPong;

#[test]
fn a_unix_socket_ping_pong_between_two_processes_is_timed() {
    for same_core in [false, true] {
        let l = PingPong {
            round_trips: 2_000,
            warmup: 100,
            message_bytes: 16,
            same_core,
        }
        .run()
        .unwrap();
        println!("same_core={same_core}: {l:?}");
        assert_eq!(l.samples, 2_000);
        assert!(l.median_us > 0.0 && l.p99_us >= l.median_us && l.mean_us > 0.0);
        assert!(
            l.median_us < 10_000.0,
            "a round trip took {} µs",
            l.median_us
        );
    }
}

#[test]
fn message_sizes_are_checked() {
    for message_bytes in [0, plugboard_interop::floor::MAX_MESSAGE_BYTES + 1] {
        let pp = PingPong {
            message_bytes,
            ..PingPong::default()
        };
        assert!(pp.run().is_err());
    }
}
