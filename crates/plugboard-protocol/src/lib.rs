//! The wire contracts between Plugboard's process runtime and the plugins it runs.
//!
//! A process plugin is a separate program. Plugboard speaks two languages with such programs,
//! and this crate is both languages' grammar, with no processes, pipes or sockets in it: the
//! process runtime (host side) and the plugin kit (plugin side) both build on it, and its
//! parsers can be fuzzed on their own.
//!
//! - [`handshake`]: HashiCorp go-plugin's contract, so that plugins written for go-plugin
//!   (in Go, or in any language that prints its handshake) load unchanged. The environment a
//!   host gives the plugin, the handshake line the plugin prints, version negotiation, the
//!   plugin's stderr log lines, and reattaching to a running plugin.
//! - [`grpc`]: the gRPC services, generated from `proto/`: go-plugin's broker, controller and
//!   stdio services, `grpc.health.v1`, and Plugboard's own `Plugin` and `HostApi` services.
//! - [`frame`]: Plugboard's own stdio transport, for plugins that would rather not link a
//!   gRPC stack: JSON messages over stdin and stdout, newline-delimited or length-prefixed,
//!   simple enough that a twenty-line script is a plugin.
//! - [`mtls`] (feature `mtls`): go-plugin's AutoMTLS, the per-launch certificates and the
//!   TLS configurations that trust exactly the peer's certificate (P-521 included).
//!
//! ```
//! use plugboard_protocol::frame::{FrameDecoder, FrameKind, StdioMessage, DEFAULT_MAX_FRAME_LEN};
//! use plugboard_protocol::handshake::{negotiate, Handshake, Protocol};
//!
//! // go-plugin: the first line a plugin printed, checked against the versions offered.
//! let handshake = Handshake::parse("1|2|unix|/tmp/plugin123|grpc|\n")?;
//! assert_eq!(handshake.protocol, Protocol::Grpc);
//! assert_eq!(negotiate(&[1, 2, 3], handshake.app_version)?, 2);
//!
//! // stdio: whatever the pipe delivered, cut into messages.
//! let mut decoder = FrameDecoder::new(FrameKind::NewlineDelimited, DEFAULT_MAX_FRAME_LEN);
//! decoder.push(b"{\"type\":\"ready\",\"protocol_version\":1,\"methods\":[\"upper\"]}\n");
//! let frame = decoder.next_frame()?.expect("one complete line");
//! assert!(matches!(StdioMessage::from_json(&frame)?, StdioMessage::Ready(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every error quotes what the plugin actually sent (escaped, cut to about 200 characters) and
//! says what was expected and what to do, because the person reading it installed the plugin
//! and did not write it. No parser here panics, whatever its input.
//!
//! The specification, field by field and with a complete example plugin, is
//! `docs/protocol.md` in the repository.
#![deny(missing_docs)]

mod base64;
mod quote;

pub mod frame;
pub mod grpc;
pub mod handshake;
#[cfg(feature = "mtls")]
pub mod mtls;

#[cfg(test)]
mod spec_tests;
