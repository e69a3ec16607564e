//! Arbitrary bytes into go-plugin's handshake line, stderr log line and reattach parsers.
//!
//! None may panic. A handshake that parses must format to a line that parses back to an equal
//! handshake (the host may log or forward it), and a reattach configuration that parses must
//! write out as JSON that parses back to an equal configuration. The same bytes go to the
//! AutoMTLS certificate pinning (the handshake's certificate field as DER, and
//! `PLUGIN_CLIENT_CERT` as PEM), whose DER reader is hand-written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugboard_protocol::handshake::{negotiate, parse_log_line, Handshake, ReattachConfig};
use plugboard_protocol::mtls::PinnedCert;

fuzz_target!(|data: &[u8]| {
    // A host reads stdout and stderr as bytes and decodes them lossily, as this does.
    let text = String::from_utf8_lossy(data);

    match Handshake::parse(&text) {
        Ok(handshake) => {
            let line = handshake.format();
            match Handshake::parse(&line) {
                Ok(again) => assert_eq!(
                    again, handshake,
                    "round trip changed the handshake: {line:?}"
                ),
                Err(e) => panic!("a formatted handshake does not parse back: {line:?}: {e}"),
            }
            let _ = negotiate(&[1, 2, 3], handshake.app_version);
        }
        Err(error) => {
            // Error messages quote the line, cut short: they must stay bounded.
            let message = error.to_string();
            assert!(
                message.len() < 4096,
                "an unbounded error message: {} bytes",
                message.len()
            );
        }
    }

    let record = parse_log_line(&text);
    assert!(
        record.message.len() <= text.len(),
        "a log message longer than its line"
    );

    if let Ok(config) = ReattachConfig::parse(&text) {
        let json = config.to_json();
        match ReattachConfig::parse(&json) {
            Ok(again) => assert_eq!(
                again, config,
                "round trip changed the reattach configuration: {json}"
            ),
            Err(e) => panic!("a written reattach configuration does not parse back: {json}: {e}"),
        }
    }

    if let Ok(pinned) = PinnedCert::new(data.to_vec()) {
        assert_eq!(pinned.der(), data, "pinning keeps the exact bytes");
    }
    let _ = PinnedCert::from_pem(&text);
});
