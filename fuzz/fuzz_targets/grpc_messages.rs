//! Arbitrary bytes as each gRPC message a host decodes from a plugin: go-plugin's broker offers
//! and stdio data, the health answer, and Plugboard's Plugin answers. None may panic, and a
//! message that decodes must encode to bytes that decode to an equal message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugboard_protocol::grpc::{go_plugin, health, plugboard};
use prost::Message;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(m) = M::decode(data) {
        let again = M::decode(m.encode_to_vec().as_slice()).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<go_plugin::ConnInfo>(data);
    round_trip::<go_plugin::StdioData>(data);
    round_trip::<health::HealthCheckResponse>(data);
    round_trip::<plugboard::BootResponse>(data);
    round_trip::<plugboard::CallResponse>(data);
    round_trip::<plugboard::HealthResponse>(data);
    round_trip::<plugboard::CallPluginRequest>(data);
    round_trip::<plugboard::LogRequest>(data);
});
