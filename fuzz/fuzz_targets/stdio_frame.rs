//! Arbitrary bytes through the stdio transport's frame decoder and message parser.
//!
//! Nothing may panic. The first byte picks the framing and the size limit, the second how the
//! rest is cut into the pieces a pipe might deliver. Every frame must respect the limit, and
//! every message that parses must re-encode, frame and decode back to an equal message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugboard_protocol::frame::{FrameDecoder, FrameKind, HostRequest, StdioMessage};

fuzz_target!(|data: &[u8]| {
    let [mode, chunking, stream @ ..] = data else {
        return;
    };
    let kind = if mode & 1 == 0 {
        FrameKind::NewlineDelimited
    } else {
        FrameKind::LengthPrefixed
    };
    // Small limits exercise the size checks; the largest leaves room for any input here.
    let max = match mode >> 1 {
        0..=63 => usize::from(mode >> 1),
        _ => 1 << 20,
    };
    let piece = usize::from(*chunking).max(1);

    let mut decoder = FrameDecoder::new(kind, max);
    let mut frames = Vec::new();
    let mut failed = false;
    for chunk in stream.chunks(piece) {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
    }
    while !failed {
        match decoder.finish() {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break,
            Err(_) => failed = true,
        }
    }

    for frame in frames {
        assert!(
            frame.len() <= max,
            "a {}-byte frame passed a {max}-byte limit",
            frame.len()
        );
        let Ok(message) = StdioMessage::from_json(&frame) else {
            continue;
        };
        // Payload and host-call decoding must not panic either.
        match &message {
            StdioMessage::Call(call) => drop(call.payload.to_bytes()),
            StdioMessage::Event(event) => drop(event.payload.to_bytes()),
            StdioMessage::Result(result) => drop(result.payload.to_bytes()),
            StdioMessage::HostCall(call) => drop(HostRequest::from_call(call)),
            _ => {}
        }
        let wire = message.to_frame(kind).expect("a parsed message frames");
        let mut again = FrameDecoder::new(kind, usize::MAX);
        again.push(&wire);
        let decoded = again
            .next_frame()
            .expect("own frame decodes")
            .expect("own frame is complete");
        let reparsed = StdioMessage::from_json(&decoded).expect("own message parses");
        assert_eq!(reparsed, message, "round trip changed the message");
    }
});
