//! Message tests: the JSON each message is, as a script would write it.

use serde_json::json;

use super::*;
use crate::handshake::LogLevel;

fn parse(text: &str) -> StdioMessage {
    StdioMessage::from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn round_trip(msg: &StdioMessage) {
    assert_eq!(&StdioMessage::from_json(&msg.to_json()).unwrap(), msg);
    for kind in [FrameKind::NewlineDelimited, FrameKind::LengthPrefixed] {
        let mut decoder = FrameDecoder::new(kind, DEFAULT_MAX_FRAME_LEN);
        decoder.push(&msg.to_frame(kind).unwrap());
        let frame = decoder.next_frame().unwrap().unwrap();
        assert_eq!(&StdioMessage::from_json(&frame).unwrap(), msg);
    }
}

#[test]
fn every_message_as_a_script_writes_it() {
    let cases = [
        (
            r#"{"type":"hello","protocol_version":1,"plugin_id":"upper","config":{"shout":true}}"#,
            "hello",
            Direction::HostToPlugin,
        ),
        (
            r#"{"type":"call","id":1,"extension_point":"text.transform","method":"upper","payload_json":{"text":"hi"}}"#,
            "call",
            Direction::HostToPlugin,
        ),
        (
            r#"{"type":"event","topic":"files.changed","payload_b64":"aGk="}"#,
            "event",
            Direction::HostToPlugin,
        ),
        (r#"{"type":"stop"}"#, "stop", Direction::HostToPlugin),
        (
            r#"{"type":"host_result","id":3,"result":{"found":false}}"#,
            "host_result",
            Direction::HostToPlugin,
        ),
        (
            r#"{"type":"ready","protocol_version":1,"methods":["upper"]}"#,
            "ready",
            Direction::PluginToHost,
        ),
        (
            r#"{"type":"result","id":1,"payload_json":{"text":"HI"}}"#,
            "result",
            Direction::PluginToHost,
        ),
        (
            r#"{"type":"log","level":"warn","message":"slow disk","fields":{"ms":840}}"#,
            "log",
            Direction::PluginToHost,
        ),
        (
            r#"{"type":"health","status":"degraded","message":"cache cold"}"#,
            "health",
            Direction::PluginToHost,
        ),
        (
            r#"{"type":"host_call","id":3,"method":"storage.get","args":{"key":"count"}}"#,
            "host_call",
            Direction::PluginToHost,
        ),
    ];
    for (text, name, direction) in cases {
        let msg = parse(text);
        assert_eq!(msg.type_name(), name);
        assert_eq!(msg.direction(), direction, "{text}");
        round_trip(&msg);
        // What we write is what a script would write (same JSON value).
        let ours: serde_json::Value = serde_json::from_slice(&msg.to_json()).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs, "{text}");
    }
}

#[test]
fn optional_fields_take_their_defaults() {
    let StdioMessage::Hello(hello) =
        parse(r#"{"type":"hello","protocol_version":1,"plugin_id":"p"}"#)
    else {
        panic!()
    };
    assert_eq!(hello.config, json!(null));
    let StdioMessage::Ready(ready) = parse(r#"{"type":"ready","protocol_version":1}"#) else {
        panic!()
    };
    assert_eq!((ready.methods.len(), ready.max_in_flight), (0, 1));
    let StdioMessage::Call(call) = parse(r#"{"type":"call","id":9,"method":"m"}"#) else {
        panic!()
    };
    assert_eq!(call.extension_point, "");
    assert!(call.payload.is_empty());
    assert_eq!(call.payload.to_bytes().unwrap(), b"");
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let msg = parse(r#"{"type":"stop","reason":"reload","deadline_ms":500}"#);
    assert_eq!(msg, StdioMessage::Stop(Stop {}));
    let msg = parse(r#"{"type":"result","id":1,"future":[1,2],"payload_json":1}"#);
    assert_eq!(
        msg,
        StdioMessage::Result(CallResult::ok(1, Payload::json(json!(1))))
    );
}

#[test]
fn payload_spellings() {
    let p = Payload::bytes(&[0, 1, 2, 0xff]);
    assert_eq!(p.b64.as_deref(), Some("AAEC/w=="));
    assert_eq!(p.to_bytes().unwrap(), [0, 1, 2, 0xff]);
    // Unpadded base64 is accepted too.
    let unpadded = Payload {
        json: None,
        b64: Some("AAEC/w".into()),
    };
    assert_eq!(unpadded.to_bytes().unwrap(), [0, 1, 2, 0xff]);
    // A JSON `null` payload is a payload, not an absent one.
    let StdioMessage::Result(result) = parse(r#"{"type":"result","id":1,"payload_json":null}"#)
    else {
        panic!()
    };
    assert_eq!(result.payload, Payload::json(json!(null)));
    assert_eq!(result.payload.to_bytes().unwrap(), b"null");
    round_trip(&StdioMessage::Result(result));
    // JSON bytes travel as JSON; other bytes as base64.
    assert_eq!(
        Payload::from_json_bytes(br#"{"b": 1, "a": [true]}"#),
        Payload::json(json!({"a": [true], "b": 1}))
    );
    assert_eq!(
        Payload::from_json_bytes(b"\x93\x01"),
        Payload::bytes(b"\x93\x01")
    );
    assert_eq!(Payload::from_json_bytes(b""), Payload::none());
}

#[test]
fn payload_faults_are_explained() {
    let StdioMessage::Call(call) =
        parse(r#"{"type":"call","id":1,"method":"m","payload_json":1,"payload_b64":"AA=="}"#)
    else {
        panic!()
    };
    let error = call.payload.to_bytes().unwrap_err();
    assert!(matches!(error, MessageError::AmbiguousPayload));
    assert!(error.to_string().contains("exactly one"));
    let bad = Payload {
        json: None,
        b64: Some("not base64!".into()),
    };
    let error = bad.to_bytes().unwrap_err().to_string();
    assert!(
        error.starts_with("payload_b64 is not standard base64"),
        "{error}"
    );
}

#[test]
fn results_are_a_payload_or_an_error() {
    let ok = CallResult::ok(4, Payload::json(json!({"n": 2})));
    assert_eq!(
        ok.clone().into_outcome().unwrap(),
        Payload::json(json!({"n": 2}))
    );
    let StdioMessage::Result(failed) =
        parse(r#"{"type":"result","id":4,"error":"no such file","error_code":"failed"}"#)
    else {
        panic!()
    };
    assert_eq!(
        failed,
        CallResult::err(4, ErrorCode::Failed, "no such file")
    );
    let error = failed.into_outcome().unwrap_err();
    assert_eq!(error.to_string(), "no such file");
    // A missing code is a plain failure; an unknown one is kept as Other.
    let StdioMessage::Result(no_code) = parse(r#"{"type":"result","id":4,"error":"x"}"#) else {
        panic!()
    };
    assert_eq!(no_code.into_outcome().unwrap_err().code, ErrorCode::Failed);
    let StdioMessage::Result(new_code) =
        parse(r#"{"type":"result","id":4,"error":"x","error_code":"rate_limited"}"#)
    else {
        panic!()
    };
    assert_eq!(new_code.error_code, Some(ErrorCode::Other));

    let host_ok = HostResult::ok(1, json!({"deleted": true}));
    assert_eq!(host_ok.into_outcome().unwrap(), json!({"deleted": true}));
    let host_err = HostResult::err(1, ErrorCode::Denied, "storage is not granted");
    round_trip(&StdioMessage::HostResult(host_err.clone()));
    let error = host_err.into_outcome().unwrap_err();
    assert_eq!(error.code, ErrorCode::Denied);
    assert_eq!(
        HostResult {
            id: 1,
            result: None,
            error: None,
            error_code: None
        }
        .into_outcome()
        .unwrap(),
        json!(null)
    );
}

#[test]
fn log_and_health_messages() {
    let msg = StdioMessage::Log(LogMessage {
        level: LogLevel::Error,
        message: "boom".into(),
        fields: serde_json::Map::new(),
    });
    assert_eq!(
        msg.to_json(),
        br#"{"type":"log","level":"error","message":"boom"}"#
    );
    let error = StdioMessage::from_json(br#"{"type":"log","level":"fatal","message":"x"}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown variant `fatal`"), "{error}");
    let health = StdioMessage::Health(HealthMessage {
        status: HealthStatus::Healthy,
        message: None,
    });
    assert_eq!(health.to_json(), br#"{"type":"health","status":"healthy"}"#);
}

#[test]
fn host_requests_decode_and_encode() {
    let requests = [
        HostRequest::StorageGet { key: "k".into() },
        HostRequest::StoragePut {
            key: "k".into(),
            value: br#"{"n":1}"#.to_vec(),
        },
        HostRequest::StoragePut {
            key: "bin".into(),
            value: vec![0xff, 0],
        },
        HostRequest::StorageDelete { key: "k".into() },
        HostRequest::StorageList {
            prefix: "user/".into(),
        },
        HostRequest::ConfigGet,
        HostRequest::EventsPublish {
            topic: "t".into(),
            payload: b"[1,2]".to_vec(),
        },
    ];
    for request in requests {
        let call = request.to_call(7);
        assert_eq!(call.id, 7);
        assert_eq!(call.method, request.method());
        assert_eq!(HostRequest::from_call(&call).unwrap(), request);
        round_trip(&StdioMessage::HostCall(call));
    }
    // As a script writes them.
    assert_eq!(
        HostRequest::parse("storage.put", &json!({"key": "n", "value_json": 3})).unwrap(),
        HostRequest::StoragePut {
            key: "n".into(),
            value: b"3".to_vec()
        }
    );
    assert_eq!(
        HostRequest::parse("storage.list", &json!(null)).unwrap(),
        HostRequest::StorageList {
            prefix: String::new()
        }
    );
}

#[test]
fn bad_host_requests_say_what_was_expected() {
    let unknown = HostRequest::parse("storage.drop", &json!({})).unwrap_err();
    assert!(
        unknown.to_string().contains("storage.get, storage.put"),
        "{unknown}"
    );
    for (method, args, needle) in [
        ("storage.get", json!({}), "\"key\" is missing"),
        ("storage.get", json!({"key": 1}), "\"key\" is a number"),
        ("storage.get", json!([1]), "the arguments are an array"),
        (
            "storage.put",
            json!({"key": "k"}),
            "neither \"value_json\" nor",
        ),
        (
            "storage.put",
            json!({"key": "k", "value_json": 1, "value_b64": "AA=="}),
            "both",
        ),
        (
            "storage.put",
            json!({"key": "k", "value_b64": "%%"}),
            "not base64",
        ),
        (
            "storage.put",
            json!({"key": "k", "value_b64": 5}),
            "is a number",
        ),
        (
            "events.publish",
            json!({"payload_json": 1}),
            "\"topic\" is missing",
        ),
    ] {
        let error = HostRequest::parse(method, &args).unwrap_err().to_string();
        assert!(error.contains(needle), "{method} {args}: {error}");
        assert!(error.contains("expected {"), "{error}");
    }
}

#[test]
fn host_replies_have_documented_shapes() {
    assert_eq!(
        HostReply::StorageGet(None).to_json(),
        json!({"found": false})
    );
    assert_eq!(
        HostReply::StorageGet(Some(br#"{"n":1}"#.to_vec())).to_json(),
        json!({"found": true, "value_b64": "eyJuIjoxfQ==", "value_json": {"n": 1}})
    );
    assert_eq!(
        HostReply::StorageGet(Some(vec![0xff])).to_json(),
        json!({"found": true, "value_b64": "/w=="})
    );
    assert_eq!(HostReply::StoragePut.to_json(), json!({}));
    assert_eq!(
        HostReply::StorageDelete(true).to_json(),
        json!({"deleted": true})
    );
    assert_eq!(
        HostReply::StorageList(vec!["b".into(), "a".into()]).to_json(),
        json!({"keys": ["a", "b"]})
    );
    assert_eq!(
        HostReply::ConfigGet(json!({"x": 1})).to_json(),
        json!({"config": {"x": 1}})
    );
    assert_eq!(HostReply::EventsPublish.to_json(), json!({}));
}

#[test]
fn the_version_is_one() {
    assert_eq!(STDIO_PROTOCOL_VERSION, 1);
}

#[test]
fn message_errors_stay_short_whatever_the_frame() {
    let huge = "x".repeat(100_000);
    for frame in [
        format!(r#"{{"type":"{huge}"}}"#),
        format!(r#"{{"type":"call","id":"{huge}","method":"m"}}"#),
        format!(r#"{{"type":"log","level":"{huge}","message":"m"}}"#),
        huge.clone(),
    ] {
        let message = StdioMessage::from_json(frame.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(message.len() < 1500, "{} bytes: {message}", message.len());
    }
    let unknown = HostRequest::parse(&huge, &json!({}))
        .unwrap_err()
        .to_string();
    assert!(unknown.len() < 500, "{unknown}");
}
