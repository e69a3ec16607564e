//! The stdio transport's messages.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{encode, FrameError, FrameKind};
use crate::base64::{self, Padding};
use crate::handshake::LogLevel;
use crate::quote::{quote_bytes, serde_reason};

/// The version of the stdio message set described here. The host sends it in `hello`; the
/// plugin answers with the version it speaks in `ready`, and the host refuses a plugin that
/// answers another.
pub const STDIO_PROTOCOL_VERSION: u32 = 1;

/// One message of the stdio transport: a JSON object whose `"type"` field says which.
///
/// From the host to the plugin: `hello`, `call`, `event`, `stop`, `host_result`. From the
/// plugin to the host: `ready`, `result`, `log`, `health`, `host_call`. Unknown fields are
/// ignored, so that either side may add optional fields without a new protocol version.
///
/// ```
/// use plugboard_protocol::frame::{Direction, StdioMessage};
///
/// let msg = StdioMessage::from_json(br#"{"type":"result","id":7,"payload_json":{"n":1}}"#)?;
/// assert_eq!(msg.direction(), Direction::PluginToHost);
/// let StdioMessage::Result(result) = msg else { unreachable!() };
/// assert_eq!(result.into_outcome().unwrap().to_bytes()?, br#"{"n":1}"#);
/// # Ok::<(), plugboard_protocol::frame::MessageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StdioMessage {
    /// Host to plugin, first: who the plugin is and its configuration.
    Hello(Hello),
    /// Host to plugin: call a method; answered by a `result` with the same id.
    Call(Call),
    /// Host to plugin: an event on a topic the plugin subscribed to. Not answered.
    Event(Event),
    /// Host to plugin: finish what is in flight and exit.
    Stop(Stop),
    /// Host to plugin: the answer to a `host_call`.
    HostResult(HostResult),
    /// Plugin to host, first: the answer to `hello`.
    Ready(Ready),
    /// Plugin to host: the answer to a `call`.
    Result(CallResult),
    /// Plugin to host: a log record (plugins may also simply write to stderr).
    Log(LogMessage),
    /// Plugin to host: the plugin's own view of its health.
    Health(HealthMessage),
    /// Plugin to host: a request to the host API; answered by a `host_result`.
    HostCall(HostCall),
}

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written by the host on the plugin's stdin.
    HostToPlugin,
    /// Written by the plugin on its stdout.
    PluginToHost,
}

impl StdioMessage {
    /// Parses one frame.
    ///
    /// # Errors
    ///
    /// [`MessageError::Invalid`], quoting the frame, when it is not JSON or not one of the
    /// messages (an unknown `type`, a missing or mistyped field).
    pub fn from_json(frame: &[u8]) -> Result<StdioMessage, MessageError> {
        serde_json::from_slice(frame).map_err(|error| MessageError::Invalid {
            reason: serde_reason(&error),
            frame: quote_bytes(frame),
        })
    }

    /// The message as compact JSON (one line, no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        // Every field is a string, an integer, a boolean, an enum of names or a JSON value
        // with string keys, which serde_json always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The message framed for the wire.
    ///
    /// # Errors
    ///
    /// [`FrameError::MessageTooLarge`] for a length-prefixed message over 4 GiB.
    pub fn to_frame(&self, kind: FrameKind) -> Result<Vec<u8>, FrameError> {
        encode(kind, &self.to_json())
    }

    /// Which way this message travels: a host rejects a host-to-plugin message on a plugin's
    /// stdout (and a plugin the reverse) rather than acting on it.
    pub fn direction(&self) -> Direction {
        match self {
            StdioMessage::Hello(_)
            | StdioMessage::Call(_)
            | StdioMessage::Event(_)
            | StdioMessage::Stop(_)
            | StdioMessage::HostResult(_) => Direction::HostToPlugin,
            StdioMessage::Ready(_)
            | StdioMessage::Result(_)
            | StdioMessage::Log(_)
            | StdioMessage::Health(_)
            | StdioMessage::HostCall(_) => Direction::PluginToHost,
        }
    }

    /// The `"type"` of this message, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            StdioMessage::Hello(_) => "hello",
            StdioMessage::Call(_) => "call",
            StdioMessage::Event(_) => "event",
            StdioMessage::Stop(_) => "stop",
            StdioMessage::HostResult(_) => "host_result",
            StdioMessage::Ready(_) => "ready",
            StdioMessage::Result(_) => "result",
            StdioMessage::Log(_) => "log",
            StdioMessage::Health(_) => "health",
            StdioMessage::HostCall(_) => "host_call",
        }
    }
}

/// `hello`: the first message on the plugin's stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The stdio protocol version the host speaks ([`STDIO_PROTOCOL_VERSION`]).
    pub protocol_version: u32,
    /// The plugin's id, from its manifest.
    pub plugin_id: String,
    /// The plugin's effective configuration (defaults applied, validated against its schema).
    #[serde(default)]
    pub config: Value,
}

/// `call`: invoke one of the plugin's methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Chosen by the host, unique among calls in flight; the `result` repeats it.
    pub id: u64,
    /// The extension point the method belongs to (empty when the plugin provides only one
    /// and the host does not say).
    #[serde(default)]
    pub extension_point: String,
    /// The method's name.
    pub method: String,
    /// The argument.
    #[serde(flatten)]
    pub payload: Payload,
}

/// `event`: something happened on a topic the plugin subscribed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The topic.
    pub topic: String,
    /// What happened.
    #[serde(flatten)]
    pub payload: Payload,
}

/// `stop`: finish the calls in flight, answer them, and exit. The host kills a plugin that has
/// not exited after its stop timeout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {}

/// `host_result`: the host's answer to a `host_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostResult {
    /// The `host_call`'s id.
    pub id: u64,
    /// On success, the answer (see [`HostReply`](super::HostReply) for each method's shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// On failure, why, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On failure, what kind of failure, for a program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
}

impl HostResult {
    /// The answer to `host_call` `id` when it worked.
    pub fn ok(id: u64, result: Value) -> HostResult {
        HostResult {
            id,
            result: Some(result),
            error: None,
            error_code: None,
        }
    }

    /// The answer to `host_call` `id` when it failed.
    pub fn err(id: u64, code: ErrorCode, message: impl Into<String>) -> HostResult {
        HostResult {
            id,
            result: None,
            error: Some(message.into()),
            error_code: Some(code),
        }
    }

    /// The answer or the failure. A result with neither is a success answering `null`.
    ///
    /// # Errors
    ///
    /// The [`RemoteError`] the host sent.
    pub fn into_outcome(self) -> Result<Value, RemoteError> {
        match self.error {
            Some(message) => Err(RemoteError::new(message, self.error_code)),
            None => Ok(self.result.unwrap_or(Value::Null)),
        }
    }
}

/// `ready`: the plugin's answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The stdio protocol version the plugin speaks; the host refuses anything but its own.
    pub protocol_version: u32,
    /// The methods the plugin serves; the host answers calls to other methods itself with an
    /// `unknown_method` error. Empty means "not declared": every call is sent.
    #[serde(default)]
    pub methods: Vec<String>,
    /// How many calls the host may send before their results arrive. The default, 1, lets a
    /// plugin handle one message at a time in a plain loop.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub max_in_flight: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// `result`: the plugin's answer to a `call`, a payload or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    /// The `call`'s id.
    pub id: u64,
    /// On success, the return value (none is an empty return value).
    #[serde(flatten)]
    pub payload: Payload,
    /// On failure, why, for a person. Its presence is what makes the result a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On failure, what kind of failure, for a program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
}

impl CallResult {
    /// The answer to call `id` when it worked.
    pub fn ok(id: u64, payload: Payload) -> CallResult {
        CallResult {
            id,
            payload,
            error: None,
            error_code: None,
        }
    }

    /// The answer to call `id` when it failed.
    pub fn err(id: u64, code: ErrorCode, message: impl Into<String>) -> CallResult {
        CallResult {
            id,
            payload: Payload::none(),
            error: Some(message.into()),
            error_code: Some(code),
        }
    }

    /// The return value or the failure.
    ///
    /// # Errors
    ///
    /// The [`RemoteError`] the plugin sent.
    pub fn into_outcome(self) -> Result<Payload, RemoteError> {
        match self.error {
            Some(message) => Err(RemoteError::new(message, self.error_code)),
            None => Ok(self.payload),
        }
    }
}

/// `log`: a log record from the plugin, kept in the plugin's log like stderr lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMessage {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Structured fields, if any.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fields: Map<String, Value>,
}

/// `health`: the plugin reports how it is doing; the host shows it beside the plugin's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthMessage {
    /// The level.
    pub status: HealthStatus,
    /// Why, for an operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A plugin's health, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Working normally.
    Healthy,
    /// Working, but something is wrong (slow, retrying, partly unavailable).
    Degraded,
    /// Not able to do its work.
    Unhealthy,
}

/// `host_call`: the plugin asks the host API for something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostCall {
    /// Chosen by the plugin, unique among its host calls in flight; the `host_result` repeats
    /// it. Independent of the host's call ids.
    pub id: u64,
    /// What to do: `storage.get`, `storage.put`, `storage.delete`, `storage.list`,
    /// `config.get` or `events.publish` (see [`HostRequest`](super::HostRequest)).
    pub method: String,
    /// The method's arguments, a JSON object.
    #[serde(default)]
    pub args: Value,
}

/// What kind of failure a `result` or `host_result` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// No such method.
    UnknownMethod,
    /// The payload or arguments could not be decoded or are invalid.
    InvalidPayload,
    /// The caller is not allowed to do this (a permission the manifest does not grant).
    Denied,
    /// The method ran and failed. Also what a missing code means.
    Failed,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

/// A failure reported by the other side in a `result` or `host_result`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    /// Why, as the other side put it.
    pub message: String,
    /// What kind of failure ([`ErrorCode::Failed`] when none was given).
    pub code: ErrorCode,
}

impl RemoteError {
    fn new(message: String, code: Option<ErrorCode>) -> RemoteError {
        RemoteError {
            message,
            code: code.unwrap_or(ErrorCode::Failed),
        }
    }
}

/// The bytes a `call`, `event` or `result` carries, in one of two spellings.
///
/// Payloads are bytes in whatever codec the extension point names. On the wire they are
/// either `payload_json`, the JSON value itself (for JSON payloads, so that a script reads
/// `msg["payload_json"]` and needs no decoding), or `payload_b64`, standard base64 of the bytes
/// (for anything else; padded, as Python's `base64.b64encode` writes it, though unpadded is
/// accepted). A message carries at most one of the two; neither is an empty payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// `payload_json`: the payload as a JSON value (`null` included).
    #[serde(
        rename = "payload_json",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub json: Option<Value>,
    /// `payload_b64`: the payload's bytes in standard base64.
    #[serde(
        rename = "payload_b64",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub b64: Option<String>,
}

/// A field that is present is `Some`, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Payload {
    /// No payload.
    pub fn none() -> Payload {
        Payload::default()
    }

    /// A JSON payload, sent as `payload_json`.
    pub fn json(value: Value) -> Payload {
        Payload {
            json: Some(value),
            b64: None,
        }
    }

    /// Arbitrary bytes, sent as `payload_b64`.
    pub fn bytes(bytes: &[u8]) -> Payload {
        Payload {
            json: None,
            b64: Some(base64::encode(bytes, Padding::Padded)),
        }
    }

    /// Bytes from an extension point whose codec is JSON: sent as `payload_json` when they
    /// are JSON (the receiver gets an equal JSON value, though not necessarily the same bytes:
    /// keys may be reordered and whitespace is dropped), as `payload_b64` otherwise.
    pub fn from_json_bytes(bytes: &[u8]) -> Payload {
        if bytes.is_empty() {
            return Payload::none();
        }
        match serde_json::from_slice(bytes) {
            Ok(value) => Payload::json(value),
            Err(_) => Payload::bytes(bytes),
        }
    }

    /// Whether neither spelling is present.
    pub fn is_empty(&self) -> bool {
        self.json.is_none() && self.b64.is_none()
    }

    /// The payload's bytes: compact JSON for `payload_json`, the decoded bytes for
    /// `payload_b64`, nothing when absent.
    ///
    /// # Errors
    ///
    /// [`MessageError::AmbiguousPayload`] when both spellings are present;
    /// [`MessageError::InvalidBase64`] when `payload_b64` is not base64.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MessageError> {
        match (&self.json, &self.b64) {
            (Some(_), Some(_)) => Err(MessageError::AmbiguousPayload),
            (Some(value), None) => Ok(serde_json::to_vec(value).unwrap_or_default()),
            (None, Some(text)) => base64::decode(text).map_err(|e| MessageError::InvalidBase64 {
                field: "payload_b64",
                reason: e.to_string(),
            }),
            (None, None) => Ok(Vec::new()),
        }
    }
}

/// Why a frame is not a usable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The frame is not JSON, or not one of the messages.
    #[error(
        "a stdio frame is not a valid Plugboard message: {reason}; each frame must be one JSON \
         object whose \"type\" is hello, call, event, stop or host_result (host to plugin) or \
         ready, result, log, health or host_call (plugin to host), with that message's fields \
         (see docs/protocol.md); the frame was: {frame}"
    )]
    Invalid {
        /// What the JSON parser found wrong, with its line and column (cut short: it may
        /// quote the offending value).
        reason: String,
        /// The frame, quoted.
        frame: String,
    },
    /// Both `payload_json` and `payload_b64` are present.
    #[error(
        "the message has both payload_json and payload_b64; send exactly one (payload_json for \
         JSON, payload_b64 for other bytes), or neither for an empty payload"
    )]
    AmbiguousPayload,
    /// A base64 field is not base64.
    #[error("{field} is not standard base64: {reason}")]
    InvalidBase64 {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}
