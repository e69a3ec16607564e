//! Reattaching to a plugin process that is already running.
//!
//! go-plugin's `ReattachConfig` is a Go struct, not a wire format, but Terraform gave it a JSON
//! form (its `TF_REATTACH_PROVIDERS` variable) that debuggers and test harnesses print, so
//! Plugboard reads and writes that form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Network, Protocol};
use crate::quote::{quote, serde_reason};

/// Where a running plugin listens, in Terraform's JSON form:
/// `{"Protocol":"grpc","ProtocolVersion":5,"Pid":N,"Test":true,"Addr":{"Network":"unix","String":"/path"}}`.
///
/// ```
/// use plugboard_protocol::handshake::{Network, ReattachConfig};
///
/// let cfg = ReattachConfig::parse(
///     r#"{"Protocol":"grpc","ProtocolVersion":5,"Pid":4242,"Test":true,
///         "Addr":{"Network":"unix","String":"/tmp/plugin99"}}"#,
/// )?;
/// assert_eq!((cfg.pid, cfg.addr.network), (4242, Network::Unix));
/// assert_eq!(ReattachConfig::parse(&cfg.to_json())?, cfg);
/// # Ok::<(), plugboard_protocol::handshake::ReattachError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReattachConfig {
    /// The protocol the plugin serves. Absent means net/rpc, as in go-plugin.
    #[serde(default = "net_rpc")]
    pub protocol: Protocol,
    /// The negotiated application protocol version (0 when unknown; go-plugin uses it only in
    /// test mode).
    #[serde(default)]
    pub protocol_version: u32,
    /// The plugin's process id, watched to notice its exit.
    pub pid: u32,
    /// Test mode: the plugin runs inside another program's tests and exits on its own, so the
    /// host must not kill it.
    #[serde(default)]
    pub test: bool,
    /// The address to dial.
    pub addr: ReattachAddr,
}

/// The address part of a [`ReattachConfig`], Go's `net.Addr` as `{"Network", "String"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReattachAddr {
    /// `unix` or `tcp`.
    pub network: Network,
    /// The socket path or `host:port`.
    pub string: String,
}

fn net_rpc() -> Protocol {
    Protocol::NetRpc
}

/// Why a reattach configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReattachError {
    /// The text is not a reattach configuration.
    #[error(
        "not a reattach configuration: {reason}; expected JSON like \
         {{\"Protocol\":\"grpc\",\"ProtocolVersion\":5,\"Pid\":1234,\"Test\":true,\"Addr\":\
         {{\"Network\":\"unix\",\"String\":\"/tmp/plugin123\"}}}}; the text was: {text}"
    )]
    Json {
        /// What the JSON parser found wrong, with its line and column.
        reason: String,
        /// The text, quoted.
        text: String,
    },
    /// The plugin serves net/rpc.
    #[error(
        "the reattach configuration names the net/rpc protocol{}, but Plugboard speaks only \
         gRPC; reattach only to plugins serving gRPC (\"Protocol\":\"grpc\")",
        if *.protocol_missing { " (it has no \"Protocol\", which go-plugin reads as netrpc)" } else { "" }
    )]
    NetRpcNotSupported {
        /// Whether `Protocol` was absent rather than `netrpc`.
        protocol_missing: bool,
    },
    /// `Addr.String` is empty.
    #[error("the reattach configuration has an empty address (\"Addr\":{{\"String\":\"\"}}); give the socket path or host:port the plugin listens on")]
    EmptyAddress,
}

impl ReattachConfig {
    /// Parses one configuration and checks that Plugboard can use it.
    ///
    /// # Errors
    ///
    /// [`ReattachError`] when the text is not the JSON form (unknown keys are ignored, as Go
    /// ignores them), the protocol is net/rpc or absent, or the address is empty.
    pub fn parse(json: &str) -> Result<ReattachConfig, ReattachError> {
        let missing = protocol_missing(json);
        let cfg: ReattachConfig =
            serde_json::from_str(json).map_err(|error| ReattachError::Json {
                reason: serde_reason(&error),
                text: quote(json),
            })?;
        cfg.check(missing)?;
        Ok(cfg)
    }

    /// Parses Terraform's `TF_REATTACH_PROVIDERS` form: an object mapping a name (a provider
    /// address there, a plugin id here) to a configuration.
    ///
    /// # Errors
    ///
    /// As [`ReattachConfig::parse`], for the first configuration that is refused.
    pub fn parse_map(json: &str) -> Result<BTreeMap<String, ReattachConfig>, ReattachError> {
        let raw: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|error| ReattachError::Json {
                reason: serde_reason(&error),
                text: quote(json),
            })?;
        raw.into_iter()
            .map(|(name, value)| {
                let missing = value.get("Protocol").is_none();
                let text = value.to_string();
                let cfg: ReattachConfig =
                    serde_json::from_value(value).map_err(|error| ReattachError::Json {
                        reason: serde_reason(&error),
                        text: quote(&text),
                    })?;
                cfg.check(missing)?;
                Ok((name, cfg))
            })
            .collect()
    }

    /// The configuration as one line of JSON, in Terraform's form.
    pub fn to_json(&self) -> String {
        // A struct of strings, integers and booleans always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn check(&self, protocol_missing: bool) -> Result<(), ReattachError> {
        if self.protocol == Protocol::NetRpc {
            return Err(ReattachError::NetRpcNotSupported { protocol_missing });
        }
        if self.addr.string.is_empty() {
            return Err(ReattachError::EmptyAddress);
        }
        Ok(())
    }
}

fn protocol_missing(json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(json)
        .map(|v| v.get("Protocol").is_none())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERRAFORM: &str = r#"{"Protocol":"grpc","ProtocolVersion":5,"Pid":31337,"Test":true,"Addr":{"Network":"unix","String":"/tmp/plugin3425"}}"#;

    #[test]
    fn terraform_form_round_trips_byte_for_byte() {
        let cfg = ReattachConfig::parse(TERRAFORM).unwrap();
        assert_eq!(
            cfg,
            ReattachConfig {
                protocol: Protocol::Grpc,
                protocol_version: 5,
                pid: 31337,
                test: true,
                addr: ReattachAddr {
                    network: Network::Unix,
                    string: "/tmp/plugin3425".into()
                },
            }
        );
        assert_eq!(cfg.to_json(), TERRAFORM);
    }

    #[test]
    fn optional_keys_default_as_in_go() {
        let cfg = ReattachConfig::parse(
            r#"{"Protocol":"grpc","Pid":1,"Addr":{"Network":"tcp","String":"127.0.0.1:1234"},"Extra":1}"#,
        )
        .unwrap();
        assert_eq!((cfg.protocol_version, cfg.test), (0, false));
    }

    #[test]
    fn net_rpc_and_empty_addresses_are_refused() {
        let missing = ReattachConfig::parse(r#"{"Pid":1,"Addr":{"Network":"unix","String":"/s"}}"#)
            .unwrap_err();
        assert!(matches!(
            missing,
            ReattachError::NetRpcNotSupported {
                protocol_missing: true
            }
        ));
        assert!(missing.to_string().contains("no \"Protocol\""));
        let explicit = ReattachConfig::parse(
            r#"{"Protocol":"netrpc","Pid":1,"Addr":{"Network":"unix","String":"/s"}}"#,
        )
        .unwrap_err();
        assert!(explicit.to_string().contains("speaks only gRPC"));
        let empty = ReattachConfig::parse(
            r#"{"Protocol":"grpc","Pid":1,"Addr":{"Network":"unix","String":""}}"#,
        )
        .unwrap_err();
        assert!(matches!(empty, ReattachError::EmptyAddress));
    }

    #[test]
    fn malformed_json_is_quoted() {
        let err = ReattachConfig::parse(r#"{"Protocol":"grpc","Pid":"x"}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a reattach configuration"), "{text}");
        assert!(text.contains(r#"\"Pid\":\"x\""#), "{text}");
        let err = ReattachConfig::parse(
            r#"{"Protocol":"grpc","Pid":1,"Addr":{"Network":"udp","String":"x"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("udp"), "{err}");
    }

    #[test]
    fn terraform_map_form() {
        let map = ReattachConfig::parse_map(&format!(
            r#"{{"registry.terraform.io/hashicorp/null":{TERRAFORM}}}"#
        ))
        .unwrap();
        assert_eq!(map["registry.terraform.io/hashicorp/null"].pid, 31337);
        let err =
            ReattachConfig::parse_map(r#"{"a":{"Pid":1,"Addr":{"Network":"unix","String":"/s"}}}"#)
                .unwrap_err();
        assert!(matches!(
            err,
            ReattachError::NetRpcNotSupported {
                protocol_missing: true
            }
        ));
    }
}
