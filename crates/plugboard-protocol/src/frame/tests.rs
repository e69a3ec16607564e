//! Framing tests: every way bytes can arrive, and every way they can be wrong.

use proptest::prelude::*;

use super::*;

const ND: FrameKind = FrameKind::NewlineDelimited;
const LP: FrameKind = FrameKind::LengthPrefixed;

const MESSAGES: [&[u8]; 4] = [
    br#"{"type":"hello","protocol_version":1,"plugin_id":"upper","config":{}}"#,
    br#"{"type":"call","id":1,"method":"upper","payload_json":{"text":"hi"}}"#,
    br#"{"type":"event","topic":"t","payload_b64":"AAEC"}"#,
    br#"{"type":"stop"}"#,
];

fn stream(kind: FrameKind) -> Vec<u8> {
    MESSAGES
        .iter()
        .flat_map(|m| encode(kind, m).unwrap())
        .collect()
}

/// Everything the decoder yields, `push`ing `chunks` one by one and draining after each.
fn decode_chunks(
    kind: FrameKind,
    max: usize,
    chunks: &[&[u8]],
) -> Result<Vec<Vec<u8>>, FrameError> {
    let mut decoder = FrameDecoder::new(kind, max);
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(frame) = decoder.next_frame()? {
            frames.push(frame);
        }
    }
    while let Some(frame) = decoder.finish()? {
        frames.push(frame);
    }
    Ok(frames)
}

#[test]
fn frames_split_at_every_byte_boundary() {
    for kind in [ND, LP] {
        let bytes = stream(kind);
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let frames = decode_chunks(kind, DEFAULT_MAX_FRAME_LEN, &[a, b]).unwrap();
            assert_eq!(frames, MESSAGES, "{kind} cut at {cut}");
        }
        // And one byte at a time.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(
            decode_chunks(kind, DEFAULT_MAX_FRAME_LEN, &singles).unwrap(),
            MESSAGES
        );
    }
}

#[test]
fn several_frames_in_one_push() {
    for kind in [ND, LP] {
        let mut decoder = FrameDecoder::new(kind, DEFAULT_MAX_FRAME_LEN);
        decoder.push(&stream(kind));
        for expected in MESSAGES {
            assert_eq!(decoder.next_frame().unwrap().as_deref(), Some(expected));
        }
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.kind(), kind);
    }
}

#[test]
fn newline_framing_drops_crlf_and_blank_lines_and_keeps_nul() {
    let frames = decode_chunks(
        ND,
        100,
        &[b"\n  \r\n{\"a\":1}\r\n\t\n{\"b\":\"\0\"}\n{\"c\":\r1}\n"],
    )
    .unwrap();
    assert_eq!(
        frames,
        vec![
            b"{\"a\":1}".to_vec(),
            b"{\"b\":\"\0\"}".to_vec(),
            b"{\"c\":\r1}".to_vec()
        ]
    );
}

#[test]
fn a_last_line_without_newline_is_a_frame_at_end_of_stream() {
    let mut decoder = FrameDecoder::new(ND, 100);
    decoder.push(b"{\"type\":\"stop\"}\n{\"type\":\"log\"}\r");
    assert!(decoder.next_frame().unwrap().is_some());
    assert_eq!(decoder.next_frame().unwrap(), None);
    assert_eq!(
        decoder.finish().unwrap().as_deref(),
        Some(&b"{\"type\":\"log\"}"[..])
    );
    assert_eq!(decoder.finish().unwrap(), None);
    let mut blank = FrameDecoder::new(ND, 100);
    blank.push(b"  ");
    assert_eq!(blank.finish().unwrap(), None);
}

#[test]
fn a_stream_ending_inside_a_length_prefixed_frame_is_truncated() {
    let full = encode(LP, b"{\"type\":\"stop\"}").unwrap();
    for cut in 1..full.len() {
        let mut decoder = FrameDecoder::new(LP, 100);
        decoder.push(&full[..cut]);
        assert_eq!(decoder.next_frame().unwrap(), None);
        let error = decoder.finish().unwrap_err();
        let expected = (cut >= 4).then_some(15);
        assert_eq!(
            error,
            FrameError::Truncated {
                buffered: cut,
                expected
            }
        );
        assert!(error.to_string().contains("mid-message"));
    }
    let mut empty = FrameDecoder::new(LP, 100);
    assert_eq!(empty.finish().unwrap(), None);
}

#[test]
fn oversized_length_prefixed_frames_are_refused_from_the_prefix() {
    let mut decoder = FrameDecoder::new(LP, 10);
    // Exactly the limit is fine.
    decoder.push(&encode(LP, b"0123456789").unwrap());
    assert_eq!(decoder.next_frame().unwrap().unwrap().len(), 10);
    // One more is refused as soon as the prefix arrives, before the body.
    decoder.push(&11u32.to_be_bytes());
    let error = decoder.next_frame().unwrap_err();
    assert!(matches!(
        error,
        FrameError::FrameTooLarge {
            declared: 11,
            max: 10,
            ..
        }
    ));
    // The error is final, and later bytes are not even kept.
    decoder.push(&encode(LP, b"{}").unwrap());
    assert_eq!(decoder.next_frame().unwrap_err(), error);
    assert_eq!(decoder.finish().unwrap_err(), error);
}

#[test]
fn text_on_a_length_prefixed_stream_is_explained() {
    // A plugin printing JSON lines to a host that expects length prefixes.
    let error = decode_chunks(LP, DEFAULT_MAX_FRAME_LEN, &[b"{\"type\":\"ready\"}\n"]).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("2065855609 bytes"), "{message}");
    assert!(message.contains(r#"{\"ty"#), "{message}");
    assert!(message.contains("PLUGBOARD_STDIO_FRAMING"), "{message}");
}

#[test]
fn oversized_lines_are_refused_while_they_grow() {
    // Exactly the limit, with or without CR, is fine.
    let ok = decode_chunks(ND, 10, &[b"0123456789\n0123456789\r\n"]).unwrap();
    assert_eq!(ok.len(), 2);
    // A complete line over the limit.
    let error = decode_chunks(ND, 10, &[b"0123456789A\n"]).unwrap_err();
    assert_eq!(error, FrameError::LineTooLong { len: 11, max: 10 });
    // An unfinished line is refused once it cannot fit, without waiting for its newline.
    let mut decoder = FrameDecoder::new(ND, 10);
    decoder.push(b"0123456789\r");
    assert_eq!(decoder.next_frame().unwrap(), None);
    decoder.push(b"x");
    assert_eq!(
        decoder.next_frame().unwrap_err(),
        FrameError::LineTooLong { len: 12, max: 10 }
    );
    assert!(decoder.next_frame().is_err());
}

#[test]
fn a_long_line_in_small_pieces_is_scanned_once() {
    let mut decoder = FrameDecoder::new(ND, DEFAULT_MAX_FRAME_LEN);
    let piece = [b'x'; 1024];
    for _ in 0..1024 {
        decoder.push(&piece);
        assert_eq!(decoder.next_frame().unwrap(), None);
    }
    decoder.push(b"\n");
    assert_eq!(decoder.next_frame().unwrap().unwrap().len(), 1024 * 1024);
}

#[test]
fn garbage_lines_are_frames_and_fail_as_messages() {
    let frames = decode_chunks(
        ND,
        1000,
        &[b"Loading model...\n{\"type\":\"nope\"}\n{\"type\":\"call\"}\n\xff\xfe\n"],
    )
    .unwrap();
    assert_eq!(frames.len(), 4);
    let errors: Vec<String> = frames
        .iter()
        .map(|f| StdioMessage::from_json(f).unwrap_err().to_string())
        .collect();
    assert!(errors[0].contains("expected value"), "{}", errors[0]);
    assert!(errors[0].contains("\"Loading model...\""), "{}", errors[0]);
    assert!(
        errors[1].contains("unknown variant `nope`"),
        "{}",
        errors[1]
    );
    assert!(errors[2].contains("missing field `id`"), "{}", errors[2]);
    assert!(errors[3].contains("b\"\\xff\\xfe\""), "{}", errors[3]);
    for error in &errors {
        assert!(error.contains("docs/protocol.md"), "{error}");
    }
}

#[test]
fn encoding_refuses_what_cannot_be_framed() {
    assert_eq!(
        encode(ND, b"{\"a\":\n1}"),
        Err(FrameError::NewlineInMessage { position: 5 })
    );
    assert_eq!(encode(ND, b"{}").unwrap(), b"{}\n");
    assert_eq!(encode(LP, b"{}").unwrap(), b"\0\0\0\x02{}");
}

#[test]
fn framing_names_for_the_environment() {
    for kind in [ND, LP] {
        assert_eq!(FrameKind::from_env_value(kind.env_value()), Some(kind));
        assert_eq!(kind.to_string(), kind.env_value());
    }
    assert_eq!(FrameKind::from_env_value("json"), None);
    assert_eq!(FrameKind::default(), ND);
    assert_eq!(ENV_STDIO_FRAMING, "PLUGBOARD_STDIO_FRAMING");
}

proptest! {
    #[test]
    fn the_decoder_never_panics(
        kind in prop_oneof![Just(ND), Just(LP)],
        max in 0usize..64,
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(0usize..512, 0..8),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= bytes.len()).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            chunks.push(&bytes[last..cut]);
            last = cut;
        }
        if let Ok(frames) = decode_chunks(kind, max, &chunks) {
            for frame in frames {
                prop_assert!(frame.len() <= max);
                let _ = StdioMessage::from_json(&frame);
            }
        }
    }

    #[test]
    fn whatever_is_encoded_is_decoded_however_it_is_split(
        kind in prop_oneof![Just(ND), Just(LP)],
        messages in proptest::collection::vec("[^\n\r]{1,40}", 1..6),
        cut_seed in any::<u64>(),
    ) {
        // In newline framing a blank line is skipped by design; in length-prefixed framing
        // every message is a frame.
        let messages: Vec<String> = messages
            .into_iter()
            .filter(|m| kind == LP || !m.bytes().all(|b| matches!(b, b' ' | b'\t')))
            .collect();
        let bytes: Vec<u8> = messages
            .iter()
            .flat_map(|m| encode(kind, m.as_bytes()).unwrap())
            .collect();
        let cut = usize::try_from(cut_seed % (bytes.len() as u64 + 1)).unwrap();
        let (a, b) = bytes.split_at(cut);
        let frames = decode_chunks(kind, 1024, &[a, b]).unwrap();
        let expected: Vec<Vec<u8>> = messages.iter().map(|m| m.as_bytes().to_vec()).collect();
        prop_assert_eq!(frames, expected);
    }
}

#[test]
fn the_types_cross_threads() {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<FrameDecoder>();
    send_sync::<FrameError>();
    send_sync::<StdioMessage>();
    send_sync::<MessageError>();
    send_sync::<HostRequest>();
}
