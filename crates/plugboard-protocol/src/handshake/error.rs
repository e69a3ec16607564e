//! Why a handshake line, a version negotiation or a reattach configuration was refused.

/// Why a plugin's handshake line was refused, or why the negotiated version is unusable.
///
/// Every variant that comes from a line carries that line in `line`, already quoted: escaped,
/// and cut to about 200 characters. The messages are meant for the operator who installed the
/// plugin: each says which field is wrong, what was expected, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The plugin's first stdout line was empty.
    #[error(
        "the plugin's first stdout line was empty; a go-plugin plugin must print its handshake \
         (`CORE|APP|NETWORK|ADDR|PROTOCOL|SERVERCERT`, e.g. `1|1|unix|/tmp/plugin123|grpc|`) as \
         its first stdout line; the line was: {line}"
    )]
    Empty {
        /// The line, quoted.
        line: String,
    },

    /// The line has fewer than four `|`-separated fields.
    #[error(
        "the plugin printed something that is not a go-plugin handshake: expected \
         `CORE|APP|NETWORK|ADDR|PROTOCOL|SERVERCERT` (at least 4 `|`-separated fields) but found \
         {fields} field(s); plugins must print the handshake as their first stdout line, before \
         any other output (send banners and debug prints to stderr); the line was: {line}"
    )]
    NotAHandshake {
        /// How many `|`-separated fields the line has.
        fields: usize,
        /// The line, quoted.
        line: String,
    },

    /// The first field is not a number.
    #[error(
        "the handshake's first field (the go-plugin core protocol version) is {found:?}, which is \
         not a number; expected `1`; the program is probably not a go-plugin plugin, or it printed \
         something else before its handshake; the line was: {line}"
    )]
    InvalidCoreVersion {
        /// The field as printed.
        found: String,
        /// The line, quoted.
        line: String,
    },

    /// The core protocol version is a number other than 1.
    #[error(
        "the handshake's core protocol version is {found}, but Plugboard speaks go-plugin core \
         protocol 1 (as every go-plugin release does); rebuild the plugin against \
         github.com/hashicorp/go-plugin, or fix the first field of the handshake it prints; the \
         line was: {line}"
    )]
    UnsupportedCoreVersion {
        /// The version the plugin printed.
        found: u32,
        /// The line, quoted.
        line: String,
    },

    /// The second field is not a number.
    #[error(
        "the handshake's second field (the application protocol version) is {found:?}, which is \
         not a number; expected the version the plugin chose from PLUGIN_PROTOCOL_VERSIONS, e.g. \
         `1`; the line was: {line}"
    )]
    InvalidAppVersion {
        /// The field as printed.
        found: String,
        /// The line, quoted.
        line: String,
    },

    /// The third field is neither `unix` nor `tcp`.
    #[error(
        "the handshake's third field (the network) is {found:?}; expected `unix` or `tcp`; the \
         line was: {line}"
    )]
    UnknownNetwork {
        /// The field as printed.
        found: String,
        /// The line, quoted.
        line: String,
    },

    /// The fourth field is empty.
    #[error(
        "the handshake's fourth field (the address) is empty; expected the {} the plugin listens \
         on; the line was: {line}",
        address_kind(*.network)
    )]
    EmptyAddress {
        /// The network the line named.
        network: super::Network,
        /// The line, quoted.
        line: String,
    },

    /// The fourth field is not an address on the named network.
    #[error(
        "the handshake's fourth field (the address) is {found:?}, which is not a {}: {reason}; \
         the line was: {line}",
        address_kind(*.network)
    )]
    InvalidAddress {
        /// The network the line named.
        network: super::Network,
        /// The field as printed.
        found: String,
        /// What is wrong with it.
        reason: &'static str,
        /// The line, quoted.
        line: String,
    },

    /// The plugin speaks go-plugin's net/rpc protocol, which Plugboard does not.
    #[error(
        "the plugin speaks go-plugin's net/rpc protocol{}, but Plugboard speaks only gRPC; \
         rebuild the plugin with plugin.ProtocolGRPC in AllowedProtocols and \
         `GRPCServer: plugin.DefaultGRPCServer` in its ServeConfig, serving gRPC plugin \
         implementations; the line was: {line}",
        if *.protocol_missing { " (its handshake has no fifth field, which go-plugin reads as \
         netrpc)" } else { "" }
    )]
    NetRpcNotSupported {
        /// Whether the protocol field was absent (the four-field form) rather than `netrpc`.
        protocol_missing: bool,
        /// The line, quoted.
        line: String,
    },

    /// The fifth field names an unknown protocol.
    #[error(
        "the handshake's fifth field (the protocol) is {found:?}; expected `grpc`; the line \
         was: {line}"
    )]
    UnknownProtocol {
        /// The field as printed.
        found: String,
        /// The line, quoted.
        line: String,
    },

    /// The sixth field is long enough to be a certificate but is not one.
    #[error(
        "the handshake's sixth field (the plugin's AutoMTLS server certificate) is not a \
         certificate: {reason}; expected standard base64 of a DER certificate, or nothing when \
         AutoMTLS is off; the plugin's output may have been cut short or mixed with other \
         output; the line was: {line}"
    )]
    InvalidServerCert {
        /// What is wrong with it.
        reason: String,
        /// The line, quoted.
        line: String,
    },

    /// The seventh field is not a boolean.
    #[error(
        "the handshake's seventh field (gRPC broker multiplexing) is {found:?}; expected `true` \
         or `false`; the line was: {line}"
    )]
    InvalidMultiplex {
        /// The field as printed.
        found: String,
        /// The line, quoted.
        line: String,
    },

    /// The plugin chose an application protocol version the host did not offer.
    #[error(
        "the plugin serves application protocol version {plugin}, but the host offered only {} \
         (PLUGIN_PROTOCOL_VERSIONS); a go-plugin plugin falls back to its lowest version when it \
         speaks none of the offered ones, so the plugin and the application share no version: \
         update whichever of the two is older",
        list_versions(.offered)
    )]
    VersionNotOffered {
        /// The version in the plugin's handshake.
        plugin: u32,
        /// The versions the host offered.
        offered: Vec<u32>,
    },
}

fn address_kind(network: super::Network) -> &'static str {
    match network {
        super::Network::Unix => "Unix socket path",
        super::Network::Tcp => "TCP `host:port`",
    }
}

fn list_versions(versions: &[u32]) -> String {
    if versions.is_empty() {
        return "no version at all".to_owned();
    }
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
