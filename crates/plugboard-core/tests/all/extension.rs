//! Extension points: named calls, priority, all-in-order, first non-empty, typed codecs.

use plugboard_core::manifest::Codec;
use plugboard_core::{CallError, Error, ExtensionPoint, Host, PluginState};
use serde::{Deserialize, Serialize};

use crate::support::{manifest, within, Journal, Probe};

const POINT: &str = "text.transform";

fn text(payload: &[u8]) -> String {
    serde_json::from_slice(payload).expect("a JSON string")
}

fn json(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).unwrap()
}

/// An implementation of `text.transform` that tags its answers with its id.
fn transformer(j: &Journal, empty_maybe: &'static [u8]) -> Probe {
    Probe::new(j).on_call(move |host, method, payload| {
        let me = host.id().to_string();
        match method {
            "upper" => Ok(json(&format!("{me}:{}", text(payload).to_uppercase()))),
            "lower" => Ok(json(&format!("{me}:{}", text(payload).to_lowercase()))),
            "maybe" | "nothing" => Ok(empty_maybe.to_vec()),
            "fail" => Err(CallError::plugin(me, "refused")),
            other => Err(CallError::plugin(me, format!("no {other}"))),
        }
    })
}

async fn text_host(state: &std::path::Path, j: &Journal) -> Host {
    let provides = |methods: &str, priority: i32| {
        format!(
            "provides:\n  - point: {POINT}\n    methods: [{methods}]\n    priority: {priority}\n"
        )
    };
    let host = Host::builder()
        .state_dir(state)
        .extension_point(
            ExtensionPoint::new(POINT).methods(["upper", "lower", "maybe", "nothing", "fail"]),
        )
        .extension_point(ExtensionPoint::new("lazy.point"))
        .plugin(
            manifest("hi", &provides("upper, maybe, nothing, fail", 10)),
            transformer(j, b"null").factory(),
        )
        .plugin(
            manifest("mid", &provides("lower, maybe", 5)),
            transformer(j, b"").factory(),
        )
        .plugin(
            manifest("lo", &provides("", 1)),
            Probe::new(j)
                .on_call(|_, method, payload| match method {
                    "maybe" => Ok(json("lo found")),
                    "nothing" => Ok(b"  null\n".to_vec()),
                    "fail" => Ok(json("lo never fails")),
                    "upper" => Ok(json(&format!("lo:{}", text(payload).to_uppercase()))),
                    "lower" => Ok(json(&format!("lo:{}", text(payload).to_lowercase()))),
                    _ => Ok(Vec::new()),
                })
                .factory(),
        )
        .plugin(
            manifest("broken", &provides("upper", 20)),
            Probe::new(j)
                .on_start(|_| Err("broken on purpose".into()))
                .factory(),
        )
        .plugin(
            manifest(
                "lazy-impl",
                "activation: lazy\nprovides:\n  - point: lazy.point\n",
            ),
            Probe::new(j).factory(),
        )
        .plugin(manifest("stranger", ""), Probe::new(j).factory())
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implementations_are_ordered_by_priority() {
    let tmp = tempfile::tempdir().unwrap();
    let host = text_host(tmp.path(), &Journal::default()).await;
    let point = host.point(POINT).unwrap();
    assert_eq!(point.point().id, POINT);
    assert_eq!(point.point().declared_by, None);
    let impls = point.implementations();
    let order: Vec<(&str, i32)> = impls
        .iter()
        .map(|i| (i.plugin.as_str(), i.priority))
        .collect();
    assert_eq!(order, [("broken", 20), ("hi", 10), ("mid", 5), ("lo", 1)]);
    let provided = host.provided_by("mid");
    assert_eq!(provided.len(), 1);
    assert_eq!(provided[0].0, POINT);
    assert_eq!(provided[0].1.methods, ["lower", "maybe"]);
    let ids: Vec<String> = host.points().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["lazy.point", POINT]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_one_named_implementation() {
    let tmp = tempfile::tempdir().unwrap();
    let host = text_host(tmp.path(), &Journal::default()).await;
    let point = host.point(POINT).unwrap();
    assert_eq!(
        text(&point.call("lo", "upper", &json("ab")).await.unwrap()),
        "lo:AB"
    );
    assert_eq!(
        text(&point.call("mid", "lower", &json("AB")).await.unwrap()),
        "mid:ab"
    );
    // A method the implementation does not list.
    assert!(matches!(
        point.call("mid", "upper", &json("x")).await.unwrap_err(),
        CallError::UnknownMethod { plugin, method, .. } if plugin == "mid" && method == "upper"
    ));
    // A plugin that does not implement the point.
    match point
        .call("stranger", "upper", &json("x"))
        .await
        .unwrap_err()
    {
        CallError::Denied(msg) => {
            assert!(msg.contains("does not implement extension point"), "{msg}")
        }
        other => panic!("unexpected {other:?}"),
    }
    // A failed implementation.
    assert!(matches!(
        point.call("broken", "upper", &json("x")).await.unwrap_err(),
        CallError::NotActive {
            state: PluginState::Failed,
            ..
        }
    ));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_one_picks_the_highest_priority_that_takes_the_method() {
    let tmp = tempfile::tempdir().unwrap();
    let host = text_host(tmp.path(), &Journal::default()).await;
    let point = host.point(POINT).unwrap();
    // broken (20) is failed, so hi (10) answers.
    let (id, out) = point.call_one("upper", &json("x")).await.unwrap();
    assert_eq!((id.as_str(), text(&out).as_str()), ("hi", "hi:X"));
    // hi does not take `lower`: mid does.
    let (id, out) = point.call_one("lower", &json("X")).await.unwrap();
    assert_eq!((id.as_str(), text(&out).as_str()), ("mid", "mid:x"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_all_goes_through_every_active_implementation_in_priority_order() {
    let tmp = tempfile::tempdir().unwrap();
    let host = text_host(tmp.path(), &Journal::default()).await;
    let point = host.point(POINT).unwrap();
    let all = point.call_all("upper", &json("q")).await;
    let got: Vec<(&str, String)> = all
        .iter()
        .map(|(id, r)| (id.as_str(), text(r.as_ref().unwrap())))
        .collect();
    assert_eq!(got, [("hi", "hi:Q".to_owned()), ("lo", "lo:Q".to_owned())]);
    let ids: Vec<String> = point
        .call_all("lower", &json("q"))
        .await
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(ids, ["mid", "lo"]);
    // Each result stands on its own: one failure does not hide the others.
    let results = point.call_all("fail", b"").await;
    assert_eq!(results.len(), 2);
    assert!(results[0].1.is_err());
    assert!(results[1].1.is_ok());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_skips_null_and_empty_results() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = text_host(tmp.path(), &j).await;
    let point = host.point(POINT).unwrap();
    // hi answers `null`, mid answers nothing, lo answers.
    let (id, out) = point.first("maybe", b"").await.unwrap().unwrap();
    assert_eq!((id.as_str(), text(&out).as_str()), ("lo", "lo found"));
    assert!(j.position("hi.call:maybe") < j.position("mid.call:maybe"));
    assert!(j.position("mid.call:maybe") < j.position("lo.call:maybe"));
    // `null` with white space around it is still null; nobody answers.
    assert_eq!(point.first("nothing", b"").await.unwrap(), None);
    // The first answer ends the search.
    let (id, _) = point.first("upper", &json("a")).await.unwrap().unwrap();
    assert_eq!(id.as_str(), "hi");
    assert!(!j.contains("lo.call:upper"));
    // An error is propagated, not skipped: lo, which would answer, is never asked.
    assert!(matches!(
        point.first("fail", b"").await.unwrap_err(),
        CallError::Plugin { plugin, .. } if plugin == "hi"
    ));
    assert!(!j.contains("lo.call:fail"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_json_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let host = text_host(tmp.path(), &Journal::default()).await;
    let point = host.point(POINT).unwrap();
    let (id, out): (_, String) = point.call_one_typed("upper", "typed").await.unwrap();
    assert_eq!((id.as_str(), out.as_str()), ("hi", "hi:TYPED"));
    let all: Vec<(_, Result<String, CallError>)> =
        point.call_all_typed("lower", "ABC").await.unwrap();
    let all: Vec<String> = all.into_iter().map(|(_, r)| r.unwrap()).collect();
    assert_eq!(all, ["mid:abc", "lo:abc"]);
    let first: Option<(_, String)> = point.first_typed("maybe", &()).await.unwrap();
    assert_eq!(first.unwrap().1, "lo found");
    let none: Option<(_, String)> = point.first_typed("nothing", &()).await.unwrap();
    assert!(none.is_none());
    // An answer that is not the type asked for is a codec error.
    assert!(matches!(
        point.call_one_typed::<str, u64>("upper", "x").await.unwrap_err(),
        CallError::Codec { method, .. } if method == "upper"
    ));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_implementation_is_started_by_a_point_call() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = text_host(tmp.path(), &j).await;
    assert_eq!(host.state("lazy-impl"), Some(PluginState::Resolved));
    let (id, out) = within(10, host.point("lazy.point").unwrap().call_one("any", b"x"))
        .await
        .unwrap();
    assert_eq!(
        (id.as_str(), out.as_slice()),
        ("lazy-impl", b"x".as_slice())
    );
    assert_eq!(host.state("lazy-impl"), Some(PluginState::Active));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_points_and_unserved_methods() {
    let tmp = tempfile::tempdir().unwrap();
    let host = text_host(tmp.path(), &Journal::default()).await;
    assert!(
        matches!(host.point("no.such.point").unwrap_err(), Error::UnknownPoint(p) if p == "no.such.point")
    );
    let point = host.point(POINT).unwrap();
    // An implementation that lists no methods takes every method.
    let (id, _) = point.call_one("not-listed-anywhere", b"").await.unwrap();
    assert_eq!(id.as_str(), "lo");
    // Once the host stops, nobody is left to answer.
    host.stop().await;
    match point.call_one("upper", b"").await.unwrap_err() {
        CallError::Denied(msg) => {
            assert!(
                msg.contains("no active plugin implements text.transform"),
                "{msg}"
            );
            assert!(msg.contains("broken, hi, mid, lo"), "{msg}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(point.call_all("upper", b"").await.is_empty());
    assert_eq!(point.first("upper", b"").await.unwrap(), None);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Pair {
    left: i64,
    right: i64,
}

/// Two plugins on a MessagePack point declared by the first of them.
async fn msgpack_host(state: &std::path::Path, j: &Journal) -> Host {
    let mp = |factor: i64, nothing: Option<i64>| {
        Probe::new(j).on_call(move |_, method, payload| match method {
            "sum" => {
                let p: Pair = rmp_serde::from_slice(payload)
                    .map_err(|e| CallError::plugin("mp", e.to_string()))?;
                Ok(rmp_serde::to_vec(&((p.left + p.right) * factor)).unwrap())
            }
            "nothing" => Ok(rmp_serde::to_vec(&nothing).unwrap()),
            _ => Ok(Vec::new()),
        })
    };
    let host = Host::builder()
        .state_dir(state)
        .extension_point(ExtensionPoint::new("raw.point").codec(Codec::Raw))
        .plugin(
            manifest(
                "mp-a",
                "extension_points:\n  - id: math.sum\n    codec: msgpack\n    methods: [sum, nothing]\nprovides:\n  - point: math.sum\n    priority: 2\n  - point: raw.point\n",
            ),
            mp(1, None).factory(),
        )
        .plugin(
            manifest(
                "mp-b",
                "provides:\n  - point: math.sum\n    priority: 1\n",
            ),
            mp(10, Some(7)).factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_msgpack_calls_on_a_point_a_plugin_declares() {
    let tmp = tempfile::tempdir().unwrap();
    let host = msgpack_host(tmp.path(), &Journal::default()).await;
    let point = host.point("math.sum").unwrap();
    assert_eq!(point.point().codec, Codec::Msgpack);
    assert_eq!(
        point.point().declared_by.as_ref().map(|p| p.as_str()),
        Some("mp-a")
    );
    let input = Pair { left: 2, right: 3 };
    let (id, sum): (_, i64) = point.call_one_typed("sum", &input).await.unwrap();
    assert_eq!((id.as_str(), sum), ("mp-a", 5));
    let all: Vec<i64> = point
        .call_all_typed::<Pair, i64>("sum", &input)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.unwrap())
        .collect();
    assert_eq!(all, [5, 50]);
    // A MessagePack nil is an empty answer: mp-a's is skipped.
    let first: Option<(_, i64)> = point.first_typed("nothing", &()).await.unwrap();
    let (id, n) = first.unwrap();
    assert_eq!((id.as_str(), n), ("mp-b", 7));
    // The bytes on the wire are MessagePack, not JSON.
    let raw = point
        .call("mp-a", "sum", &rmp_serde::to_vec_named(&input).unwrap())
        .await
        .unwrap();
    assert_eq!(raw, [0x05], "MessagePack's positive fixint 5");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_point_takes_bytes_not_typed_values() {
    let tmp = tempfile::tempdir().unwrap();
    let host = msgpack_host(tmp.path(), &Journal::default()).await;
    let point = host.point("raw.point").unwrap();
    assert!(matches!(
        point
            .call_one_typed::<str, String>("x", "y")
            .await
            .unwrap_err(),
        CallError::Codec { .. }
    ));
    let (_, out) = point.call_one("anything", &[0xff, 0x00]).await.unwrap();
    assert!(out.is_empty());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providing_an_undeclared_point_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("lonely", "provides:\n  - point: nobody.declares\n"),
            Probe::new(&Journal::default()).factory(),
        )
        .build()
        .unwrap();
    let warnings = host.status("lonely").unwrap().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("which nobody declares"),
        "{}",
        warnings[0]
    );
    assert!(host.point("nobody.declares").is_err());
}
