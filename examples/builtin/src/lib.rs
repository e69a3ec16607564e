//! The builtin example plugins that `plugboard run examples/config.yaml` starts.
//!
//! They form a small text pipeline: `base-utils` normalizes white space, `text-tools` (which
//! requires `base-utils` and optionally uses `metrics`) upper-cases, greets and counts words,
//! keeping a running total in its key-value store, and `metrics` counts lifecycle events and
//! calls. Each is an ordinary [`BuiltinPlugin`]; their manifests are in `examples/plugins/` and
//! `examples/external/`.
#![deny(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};

use plugboard::manifest::LogLevel;
use plugboard::{
    BootContext, BuiltinPlugin, CallError, Event, ExtensionPoint, HostApi, HostBuilder, Methods,
    PluginError,
};
use serde::Serialize;

/// The extension point the example plugins implement: a text-to-text transformation.
pub const TEXT_TRANSFORM: &str = "text.transform";

/// Registers every example plugin with `builder` under its manifest's `entry` name, and
/// declares the application's extension point [`TEXT_TRANSFORM`].
pub fn register(builder: HostBuilder) -> HostBuilder {
    builder
        .extension_point(ExtensionPoint::new(TEXT_TRANSFORM).methods(["normalize", "upper"]))
        .builtin("base_utils", BaseUtils::default)
        .builtin("text_tools", TextTools::default)
        .builtin("metrics", Metrics::default)
}

/// Collapses runs of white space and trims the ends.
pub fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `base-utils`: text normalization, the dependency of `text-tools`.
#[derive(Debug, Default)]
pub struct BaseUtils;

static BASE_METHODS: LazyLock<Methods<BaseUtils>> = LazyLock::new(|| {
    Methods::new().json("normalize", |_: &BaseUtils, text: String| {
        Ok::<_, String>(normalize(&text))
    })
});

impl BuiltinPlugin for BaseUtils {
    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        BASE_METHODS.dispatch(self, "base-utils", method, payload)
    }
}

/// The result of `text-tools.stats`.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// The text.
    pub text: String,
    /// Its number of words.
    pub words: usize,
    /// Words seen by this plugin since its storage was created (it survives restarts).
    pub total_words: u64,
}

/// `text-tools`: upper-cases, greets and counts words.
#[derive(Debug, Default)]
pub struct TextTools {
    host: OnceLock<HostApi>,
    greeting: OnceLock<String>,
}

impl TextTools {
    fn host(&self) -> Result<&HostApi, CallError> {
        self.host
            .get()
            .ok_or_else(|| CallError::plugin("text-tools", "not booted"))
    }

    /// Normalizes through `base-utils`: a call to another plugin through the host API.
    fn normalized(&self, text: &str) -> Result<String, CallError> {
        let payload = serde_json::to_vec(text).expect("a string serializes");
        let out = self
            .host()?
            .call_blocking("base-utils", "normalize", &payload)?;
        serde_json::from_slice(&out).map_err(|e| CallError::plugin("text-tools", e.to_string()))
    }

    fn stats(&self, text: String) -> Result<Stats, CallError> {
        let words = text.split_whitespace().count();
        let store = self.host()?.storage()?;
        let before = store
            .get(b"total_words")
            .map_err(|e| CallError::plugin("text-tools", e.to_string()))?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_le_bytes);
        let total = before + words as u64;
        store
            .put(b"total_words", &total.to_le_bytes())
            .map_err(|e| CallError::plugin("text-tools", e.to_string()))?;
        Ok(Stats {
            text,
            words,
            total_words: total,
        })
    }
}

static TEXT_METHODS: LazyLock<Methods<TextTools>> = LazyLock::new(|| {
    Methods::new()
        .json("upper", |p: &TextTools, text: String| {
            p.normalized(&text).map(|t| t.to_uppercase())
        })
        .json("count", |p: &TextTools, text: String| {
            p.normalized(&text).map(|t| t.split_whitespace().count())
        })
        .json("greet", |p: &TextTools, name: String| {
            Ok::<_, String>(format!(
                "{}, {name}",
                p.greeting.get().map_or("hello", String::as_str)
            ))
        })
        .json("stats", |p: &TextTools, text: String| p.stats(text))
});

impl BuiltinPlugin for TextTools {
    fn boot(&mut self, ctx: &mut BootContext) -> Result<(), PluginError> {
        let greeting = ctx.config()["greeting"]
            .as_str()
            .ok_or("config.greeting must be a string")?
            .to_owned();
        ctx.host().log(
            LogLevel::Info,
            &format!("booted with greeting {greeting:?}"),
        );
        let _ = self.greeting.set(greeting);
        let _ = self.host.set(ctx.host().clone());
        Ok(())
    }

    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        TEXT_METHODS.dispatch(self, "text-tools", method, payload)
    }
}

/// `metrics`: counts lifecycle events it observes.
#[derive(Debug, Default)]
pub struct Metrics {
    events: AtomicU64,
}

static METRICS_METHODS: LazyLock<Methods<Metrics>> = LazyLock::new(|| {
    Methods::new().json("report", |m: &Metrics, _: serde_json::Value| {
        Ok::<_, String>(serde_json::json!({ "state_events": m.events.load(Ordering::Relaxed) }))
    })
});

impl BuiltinPlugin for Metrics {
    fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        METRICS_METHODS.dispatch(self, "metrics", method, payload)
    }

    fn on_event(&self, _event: &Event) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}
