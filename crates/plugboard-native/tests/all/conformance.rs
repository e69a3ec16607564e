//! The same extension-point tests against the word counter's logic compiled as a builtin
//! plugin and as the native example library: a native plugin behaves as a builtin one does.

use plugboard_core::manifest::{Codec, Manifest};
use plugboard_core::{
    BootContext, BuiltinPlugin, CallError, ExtensionPoint, Host, HostApi, PluginError,
};
use serde_json::{json, Value};

use crate::plugins::rust_plugins;
use crate::support::Fixture;

#[path = "../../../../examples/native-rust/src/logic.rs"]
#[allow(dead_code, unreachable_pub)]
mod logic;

const POINT: &str = "text.words";
const PROVIDES: &str = "permissions:\n  storage: true\nprovides:\n  - point: text.words\n";

/// The word counter as a builtin plugin: the example's logic, the builtin runtime's glue.
#[derive(Default)]
struct BuiltinWordCount {
    host: Option<HostApi>,
}

impl BuiltinPlugin for BuiltinWordCount {
    fn boot(&mut self, ctx: &mut BootContext) -> Result<(), PluginError> {
        self.host = Some(ctx.host().clone());
        Ok(())
    }

    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let text = std::str::from_utf8(payload)
            .map_err(|_| CallError::plugin("word-count", "the text is not UTF-8"))?;
        match method {
            "count" => {
                let store = self.host.as_ref().expect("booted").storage()?;
                let storage = |e: plugboard_core::StorageError| {
                    CallError::plugin("word-count", e.to_string())
                };
                let words = logic::count_words(text);
                let stored = store.get(logic::TOTAL_KEY).map_err(storage)?;
                let total = logic::add_to_total(stored.as_deref(), words);
                store
                    .put(logic::TOTAL_KEY, total.to_string().as_bytes())
                    .map_err(storage)?;
                Ok(logic::report(words, total).into_bytes())
            }
            _ => Err(CallError::UnknownMethod {
                plugin: "word-count".to_owned(),
                method: method.to_owned(),
                known: vec!["config".into(), "count".into(), "normalize-count".into()],
            }),
        }
    }
}

fn point() -> ExtensionPoint {
    ExtensionPoint::new(POINT).codec(Codec::Raw)
}

async fn builtin_host(f: &Fixture) -> Host {
    let manifest = Manifest::from_yaml_str(
        &format!("id: word-count\nversion: 1.0.0\nruntime: builtin\nentry: word_count\n{PROVIDES}"),
        "inline",
    )
    .unwrap();
    f.start_with(|b| {
        b.extension_point(point())
            .plugin(manifest, BuiltinWordCount::default)
    })
    .await
}

async fn native_host(f: &Fixture) -> Host {
    f.native("word-count", "1.0.0", &rust_plugins(false).1, PROVIDES);
    f.start_with(|b| b.extension_point(point())).await
}

/// The extension-point tests every implementation of `text.words` must pass.
async fn conformance(f: &Fixture, start: impl AsyncFn(&Fixture) -> Host) {
    let host = start(f).await;
    let words = host.point(POINT).unwrap();
    let count = async |text: &str| -> Value {
        let (id, out) = words.call_one("count", text.as_bytes()).await.unwrap();
        assert_eq!(id.as_str(), "word-count");
        serde_json::from_slice(&out).unwrap()
    };
    assert_eq!(
        count("one two three").await,
        json!({"words": 3, "total": 3})
    );
    assert_eq!(count("").await, json!({"words": 0, "total": 3}));
    assert_eq!(
        count("a\u{2003}b\tc\n").await,
        json!({"words": 3, "total": 6})
    );

    let all = words.call_all("count", b"x").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1.as_ref().unwrap(), br#"{"words":1,"total":7}"#);

    match words.call("word-count", "nope", b"").await.unwrap_err() {
        CallError::UnknownMethod { known, .. } => assert!(known.contains(&"count".to_owned())),
        other => panic!("expected UnknownMethod, got {other:?}"),
    }
    let e = words.call_one("count", &[0xff, 0xfe]).await.unwrap_err();
    assert_eq!(e.to_string(), "plugin word-count: the text is not UTF-8");
    host.stop().await;

    // The total outlives the host.
    drop(words);
    drop(host);
    let host = start(f).await;
    let (_, out) = host
        .point(POINT)
        .unwrap()
        .call_one("count", b"y z")
        .await
        .unwrap();
    assert_eq!(out, br#"{"words":2,"total":9}"#);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builtin_word_counter_conforms() {
    conformance(&Fixture::new(), builtin_host).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_native_word_counter_conforms() {
    conformance(&Fixture::new(), native_host).await;
}
