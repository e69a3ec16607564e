//! The handshake line itself: its fields, parsing and formatting.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::HandshakeError;
use crate::base64::{self, Padding};
use crate::quote::{clip, quote};

/// The go-plugin core protocol version, the first field of every handshake. go-plugin has
/// never changed it; a plugin that prints anything else was not built with go-plugin.
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// go-plugin treats the sixth field as a certificate only when it is longer than this many
/// characters, to skip the unused "extra" data that some older implementations printed there.
/// Plugboard does the same, so that every plugin go-plugin accepts is accepted here.
pub const SERVER_CERT_MIN_LEN: usize = 50;

/// The kind of socket a plugin listens on (the handshake's third field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// A Unix domain socket; the address is its path. What go-plugin uses everywhere but
    /// Windows.
    Unix,
    /// TCP on the loopback interface; the address is `host:port`.
    Tcp,
}

impl Network {
    /// The name go-plugin prints: `unix` or `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Unix => "unix",
            Network::Tcp => "tcp",
        }
    }

    /// The network named exactly `unix` or `tcp`, compared as go-plugin compares them
    /// (case-sensitively).
    pub fn from_name(name: &str) -> Option<Network> {
        match name {
            "unix" => Some(Network::Unix),
            "tcp" => Some(Network::Tcp),
            _ => None,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The RPC protocol a plugin serves (the handshake's fifth field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// gRPC over HTTP/2: the only protocol Plugboard speaks.
    Grpc,
    /// Go's net/rpc: go-plugin's original protocol, and its default when the field is absent.
    /// Named so that it can be recognised and refused with a clear message.
    #[serde(rename = "netrpc")]
    NetRpc,
}

impl Protocol {
    /// The name go-plugin prints: `grpc` or `netrpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::NetRpc => "netrpc",
        }
    }

    /// The protocol named exactly `grpc` or `netrpc`.
    pub fn from_name(name: &str) -> Option<Protocol> {
        match name {
            "grpc" => Some(Protocol::Grpc),
            "netrpc" => Some(Protocol::NetRpc),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A go-plugin handshake: the line a plugin prints first on stdout to tell the host where and
/// how to connect.
///
/// On the wire it is `CORE|APP|NETWORK|ADDR|PROTOCOL|SERVERCERT[|MUX]`, one line. Go plugins
/// always print the sixth field, so a plugin without AutoMTLS prints a line ending in `|`:
///
/// ```
/// use plugboard_protocol::handshake::{Handshake, Network, Protocol};
///
/// let h = Handshake::parse("1|2|unix|/tmp/plugin123|grpc|\n")?;
/// assert_eq!((h.app_version, h.network, h.protocol), (2, Network::Unix, Protocol::Grpc));
/// assert_eq!(h.address, "/tmp/plugin123");
/// assert_eq!(h.to_string(), "1|2|unix|/tmp/plugin123|grpc|");
/// # Ok::<(), plugboard_protocol::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// go-plugin's own protocol version; always [`CORE_PROTOCOL_VERSION`] once parsed.
    pub core_version: u32,
    /// The application protocol version the plugin chose from `PLUGIN_PROTOCOL_VERSIONS`.
    /// Check it with [`negotiate`].
    pub app_version: u32,
    /// The kind of socket to dial.
    pub network: Network,
    /// The socket path (`unix`) or `host:port` (`tcp`). Never contains `|` or a line break.
    pub address: String,
    /// The protocol to speak over the socket.
    pub protocol: Protocol,
    /// The plugin's self-signed server certificate (DER) when AutoMTLS is on: dial with TLS,
    /// trust exactly this certificate, and use `localhost` as the server name.
    pub server_cert: Option<Vec<u8>>,
    /// The seventh field, present only when the host set `PLUGIN_MULTIPLEX_GRPC`: whether the
    /// plugin multiplexes go-plugin's gRPC broker over its one connection.
    pub multiplex: Option<bool>,
}

impl Handshake {
    /// A gRPC handshake without AutoMTLS or multiplexing: what a plugin built with Plugboard's
    /// kit prints by default.
    pub fn grpc(app_version: u32, network: Network, address: impl Into<String>) -> Handshake {
        Handshake {
            core_version: CORE_PROTOCOL_VERSION,
            app_version,
            network,
            address: address.into(),
            protocol: Protocol::Grpc,
            server_cert: None,
            multiplex: None,
        }
    }

    /// Parses the first line a plugin printed on stdout.
    ///
    /// Surrounding whitespace (the trailing newline, a `\r` from a Windows-style line ending)
    /// is trimmed, as go-plugin trims it. The four-, five-, six- and seven-field forms are all
    /// read as go-plugin reads them; fields after the seventh are ignored, as go-plugin ignores
    /// them, so that a plugin built against a newer go-plugin still loads. A sixth field of 50
    /// characters or fewer is ignored as go-plugin ignores it (see [`SERVER_CERT_MIN_LEN`]); a
    /// longer one must be standard base64 (unpadded as Go prints it, or padded) of a DER
    /// certificate.
    ///
    /// # Errors
    ///
    /// A [`HandshakeError`] naming the first field that is wrong and quoting the line: fewer
    /// than four fields, a core version other than `1`, a non-numeric version, an unknown
    /// network, an empty or malformed address, the net/rpc protocol (which the four-field form
    /// implies), an unknown protocol, a certificate that is not base64 of DER, or a seventh
    /// field that is not a boolean.
    pub fn parse(line: &str) -> Result<Handshake, HandshakeError> {
        let trimmed = line.trim();
        let quoted = || quote(line);
        if trimmed.is_empty() {
            return Err(HandshakeError::Empty { line: quoted() });
        }
        let parts: Vec<&str> = trimmed.split('|').collect();
        if parts.len() < 4 {
            return Err(HandshakeError::NotAHandshake {
                fields: parts.len(),
                line: quoted(),
            });
        }

        let core_version =
            parse_version(parts[0]).ok_or_else(|| HandshakeError::InvalidCoreVersion {
                found: clip(parts[0]),
                line: quoted(),
            })?;
        if core_version != CORE_PROTOCOL_VERSION {
            return Err(HandshakeError::UnsupportedCoreVersion {
                found: core_version,
                line: quoted(),
            });
        }
        let app_version =
            parse_version(parts[1]).ok_or_else(|| HandshakeError::InvalidAppVersion {
                found: clip(parts[1]),
                line: quoted(),
            })?;
        let network =
            Network::from_name(parts[2]).ok_or_else(|| HandshakeError::UnknownNetwork {
                found: clip(parts[2]),
                line: quoted(),
            })?;
        let address = parts[3];
        check_address(network, address, quoted)?;

        // go-plugin reads a missing fifth field as net/rpc.
        let protocol = match parts
            .get(4)
            .map(|field| (field, Protocol::from_name(field)))
        {
            Some((_, Some(Protocol::Grpc))) => Protocol::Grpc,
            None => return Err(net_rpc(true, quoted())),
            Some((_, Some(Protocol::NetRpc))) => return Err(net_rpc(false, quoted())),
            Some((field, None)) => {
                return Err(HandshakeError::UnknownProtocol {
                    found: clip(field),
                    line: quoted(),
                })
            }
        };

        let server_cert = match parts.get(5) {
            Some(field) if field.len() > SERVER_CERT_MIN_LEN => Some(decode_cert(field).map_err(
                |reason| HandshakeError::InvalidServerCert {
                    reason,
                    line: quoted(),
                },
            )?),
            _ => None,
        };

        let multiplex = match parts.get(6) {
            None | Some(&"") => None,
            Some(field) => {
                Some(
                    parse_go_bool(field).ok_or_else(|| HandshakeError::InvalidMultiplex {
                        found: clip(field),
                        line: quoted(),
                    })?,
                )
            }
        };

        Ok(Handshake {
            core_version,
            app_version,
            network,
            address: address.to_owned(),
            protocol,
            server_cert,
            multiplex,
        })
    }

    /// The line exactly as a Go plugin writes it to stdout, trailing newline included.
    ///
    /// [`Display`](fmt::Display) gives the same line without the newline.
    pub fn format(&self) -> String {
        format!("{self}\n")
    }
}

impl fmt::Display for Handshake {
    /// `CORE|APP|NETWORK|ADDR|PROTOCOL|SERVERCERT`, with `|MUX` when [`Handshake::multiplex`]
    /// is set. The certificate is written as unpadded standard base64, as go-plugin writes it;
    /// the sixth field is empty (so the line ends in `|`) without one.
    ///
    /// A certificate of 37 bytes or fewer encodes to 50 characters or fewer and is therefore
    /// ignored by go-plugin and by [`Handshake::parse`]; real certificates are hundreds of
    /// bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|{}|",
            self.core_version, self.app_version, self.network, self.address, self.protocol
        )?;
        if let Some(cert) = &self.server_cert {
            f.write_str(&base64::encode(cert, Padding::Unpadded))?;
        }
        if let Some(multiplex) = self.multiplex {
            write!(f, "|{multiplex}")?;
        }
        Ok(())
    }
}

/// Checks that the plugin's chosen application version is one the host offered, and returns
/// it.
///
/// A go-plugin plugin serves the highest version it shares with `PLUGIN_PROTOCOL_VERSIONS`,
/// and when it shares none, its lowest, leaving the host to report the mismatch: this is
/// where the host reports it.
///
/// # Errors
///
/// [`HandshakeError::VersionNotOffered`], listing both sides, when `plugin_app_version` is not
/// in `offered`.
pub fn negotiate(offered: &[u32], plugin_app_version: u32) -> Result<u32, HandshakeError> {
    if offered.contains(&plugin_app_version) {
        Ok(plugin_app_version)
    } else {
        Err(HandshakeError::VersionNotOffered {
            plugin: plugin_app_version,
            offered: offered.to_vec(),
        })
    }
}

fn net_rpc(protocol_missing: bool, line: String) -> HandshakeError {
    HandshakeError::NetRpcNotSupported {
        protocol_missing,
        line,
    }
}

/// A version field: ASCII digits only (Go's `strconv.Atoi` would also take a sign, which no
/// go-plugin release prints), fitting in a `u32`.
fn parse_version(field: &str) -> Option<u32> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

fn check_address(
    network: Network,
    address: &str,
    quoted: impl Fn() -> String,
) -> Result<(), HandshakeError> {
    if address.is_empty() {
        return Err(HandshakeError::EmptyAddress {
            network,
            line: quoted(),
        });
    }
    let invalid = |reason| HandshakeError::InvalidAddress {
        network,
        found: clip(address),
        reason,
        line: quoted(),
    };
    if address.chars().any(char::is_control) {
        return Err(invalid("it contains a control character"));
    }
    if network == Network::Tcp {
        let Some((_host, port)) = address.rsplit_once(':') else {
            return Err(invalid("it has no `:port`"));
        };
        if !matches!(parse_version(port), Some(1..=65535)) {
            return Err(invalid("its port is not a number from 1 to 65535"));
        }
    }
    Ok(())
}

/// The values Go's `strconv.ParseBool` accepts, which go-plugin uses for the seventh field.
fn parse_go_bool(field: &str) -> Option<bool> {
    match field {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Decodes the certificate field and checks that it is one DER structure (an ASN.1 SEQUENCE
/// whose length covers exactly the decoded bytes). Full X.509 parsing is left to the TLS
/// library that uses it; this catches the likely faults (a cut line, interleaved output)
/// without a dependency.
fn decode_cert(field: &str) -> Result<Vec<u8>, String> {
    let der = base64::decode(field).map_err(|e| format!("it is not base64: {e}"))?;
    if der.len() < MIN_CERT_LEN {
        // Padded base64 of so few bytes is just over the 50-character threshold; once printed
        // unpadded it would fall under it and vanish, and no X.509 certificate is this small.
        return Err(format!(
            "it decodes to {} bytes, too few for a certificate",
            der.len()
        ));
    }
    let declared = der_sequence_len(&der).ok_or_else(|| {
        "its bytes are not a DER certificate (no ASN.1 SEQUENCE header)".to_owned()
    })?;
    if declared != der.len() {
        return Err(format!(
            "its DER header declares {declared} bytes but {} were decoded (it may have been cut)",
            der.len()
        ));
    }
    Ok(der)
}

/// The fewest bytes whose unpadded base64 is longer than [`SERVER_CERT_MIN_LEN`] characters.
const MIN_CERT_LEN: usize = 38;

/// The total length (header included) that a DER SEQUENCE at the start of `der` declares.
fn der_sequence_len(der: &[u8]) -> Option<usize> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 || rest.len() < count {
        return None;
    }
    let len = rest[..count]
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    len.checked_add(2 + count)
}
