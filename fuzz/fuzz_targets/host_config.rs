//! Arbitrary bytes into the `config.yaml` parser.
//!
//! It may not panic, and a configuration that parses must write out as YAML that parses back
//! to an equal configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugboard_manifest::HostConfig;

fuzz_target!(|data: &[u8]| {
    // Valid UTF-8 goes in unchanged; anything else is made valid, as a reader of files would.
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = HostConfig::from_yaml_str(&text, "fuzz.yaml") {
        let written = config.to_yaml_string();
        match HostConfig::from_yaml_str(&written, "written.yaml") {
            Ok(again) => assert_eq!(again, config, "round trip changed the configuration:\n{written}"),
            Err(e) => panic!("a written configuration does not parse back:\n{written}\n{e}"),
        }
    }
});
