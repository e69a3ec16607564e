//! An example native plugin in Rust: a word counter.
//!
//! - `count` (raw UTF-8 text) returns `{"words":N,"total":T}`, where `total` is a running
//!   total kept in the host's key-value store, and logs what it counted.
//! - `normalize-count` asks the `base-utils` plugin (an optional dependency) to normalize the
//!   text first, through the host API, then counts it.
//! - `config` returns the plugin's configuration as the host sees it.
//!
//! Build it with `cargo build -p plugboard-example-native`; `examples/native.yaml` runs it.

pub mod logic;

use plugboard_pdk::{Boot, Error, Host, NativePlugin, Output};

/// The word counter.
struct WordCount {
    host: Host,
    label: String,
}

impl WordCount {
    fn count(&self, text: &str, out: &mut Output<'_>) -> Result<(), Error> {
        let words = logic::count_words(text);
        // Read-modify-write of one key: concurrent calls may lose an addition, which is fine
        // for an example and keeps it free of locks.
        let stored = self.host.storage_get(logic::TOTAL_KEY)?;
        let total = logic::add_to_total(stored.as_deref(), words);
        self.host
            .storage_put(logic::TOTAL_KEY, total.to_string().as_bytes())?;
        self.host.info(&format!(
            "{}: counted {words} words, {total} in all",
            self.label
        ));
        out.extend_from_slice(logic::report(words, total).as_bytes());
        Ok(())
    }
}

impl NativePlugin for WordCount {
    fn boot(boot: &mut Boot) -> Result<Self, Error> {
        // The configuration is JSON; this example only looks for a `label` string, without a
        // JSON parser, to stay free of dependencies.
        let label = boot
            .config()
            .split("\"label\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("word-count")
            .to_owned();
        boot.host().info("booted");
        Ok(WordCount {
            host: boot.host(),
            label,
        })
    }

    fn stop(&self) -> Result<(), Error> {
        self.host.info("stopped");
        Ok(())
    }

    fn call(&self, method: &str, payload: &[u8], out: &mut Output<'_>) -> Result<(), Error> {
        let text = std::str::from_utf8(payload).map_err(|_| Error::new("the text is not UTF-8"))?;
        match method {
            "count" => self.count(text, out),
            "normalize-count" => {
                let normalized =
                    self.host
                        .call("base-utils", "normalize", logic::quote(text).as_bytes())?;
                let normalized = String::from_utf8_lossy(&normalized);
                self.count(normalized.trim_matches('"'), out)
            }
            "config" => {
                out.extend_from_slice(self.host.config()?.as_bytes());
                Ok(())
            }
            _ => Err(Error::unknown_method(&[
                "config",
                "count",
                "normalize-count",
            ])),
        }
    }
}

plugboard_pdk::export_native!(WordCount, id = "word-count");
