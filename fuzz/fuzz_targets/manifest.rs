//! Arbitrary bytes into the `plugin.yaml` parser and the bare-artifact defaults.
//!
//! Neither may panic, and a manifest that parses must write out as YAML that parses back to an
//! equal manifest.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use plugboard_manifest::{is_bare_artifact_name, Manifest};

fuzz_target!(|data: &[u8]| {
    // Valid UTF-8 goes in unchanged; anything else is made valid, as a reader of files would.
    let text: Cow<'_, str> = String::from_utf8_lossy(data);
    if let Ok(manifest) = Manifest::from_yaml_str(&text, "fuzz.yaml") {
        let written = manifest.to_yaml_string();
        match Manifest::from_yaml_str(&written, "written.yaml") {
            Ok(again) => assert_eq!(again, manifest, "round trip changed the manifest:\n{written}"),
            Err(e) => panic!("a written manifest does not parse back:\n{written}\n{e}"),
        }
    }
    let first_line = text.lines().next().unwrap_or_default();
    if let Ok(manifest) = Manifest::for_bare_artifact(first_line) {
        assert!(is_bare_artifact_name(first_line));
        manifest.validate(first_line).expect("bare-artifact defaults are valid");
    }
});
