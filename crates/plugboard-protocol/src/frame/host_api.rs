//! The host API as seen from a stdio plugin: the `host_call` methods, their arguments and
//! their answers.
//!
//! Keys and topics are strings (a script's natural key); values follow the payload convention
//! (`value_json` for JSON, `value_b64` for other bytes), since the host stores bytes.

use serde_json::{json, Map, Value};

use super::{HostCall, Payload};
use crate::base64::{self, Padding};
use crate::quote::clip;

/// A host API request a stdio plugin can make, decoded from a [`HostCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostRequest {
    /// `storage.get {"key"}`: read a value from the plugin's key-value store.
    StorageGet {
        /// The key.
        key: String,
    },
    /// `storage.put {"key", "value_json" | "value_b64"}`: write a value.
    StoragePut {
        /// The key.
        key: String,
        /// The bytes to store (compact JSON for `value_json`).
        value: Vec<u8>,
    },
    /// `storage.delete {"key"}`: remove a value.
    StorageDelete {
        /// The key.
        key: String,
    },
    /// `storage.list {"prefix"}`: the keys starting with a prefix (`""` for all).
    StorageList {
        /// The prefix.
        prefix: String,
    },
    /// `config.get {}`: the plugin's current effective configuration (it may have been
    /// reloaded since `hello`).
    ConfigGet,
    /// `events.publish {"topic", "payload_json" | "payload_b64"}`: publish an event.
    EventsPublish {
        /// The topic.
        topic: String,
        /// The event's bytes.
        payload: Vec<u8>,
    },
}

/// Why a `host_call` could not be decoded. The host answers it with a `host_result` error
/// carrying this message ([`ErrorCode::UnknownMethod`](super::ErrorCode::UnknownMethod) or
/// [`ErrorCode::InvalidPayload`](super::ErrorCode::InvalidPayload)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostRequestError {
    /// The method is not part of the host API.
    #[error(
        "the host API has no method {method:?}; the methods are storage.get, storage.put, \
         storage.delete, storage.list, config.get and events.publish"
    )]
    UnknownMethod {
        /// The method asked for.
        method: String,
    },
    /// The arguments do not fit the method.
    #[error("bad arguments for host API method {method}: {reason}")]
    InvalidArgs {
        /// The method.
        method: &'static str,
        /// What is wrong, naming the expected shape.
        reason: String,
    },
}

impl HostRequest {
    /// Decodes a `host_call`.
    ///
    /// # Errors
    ///
    /// [`HostRequestError`] for an unknown method or arguments that do not fit it.
    pub fn from_call(call: &HostCall) -> Result<HostRequest, HostRequestError> {
        HostRequest::parse(&call.method, &call.args)
    }

    /// Decodes a method name and its arguments (a JSON object; `null` counts as `{}`).
    ///
    /// # Errors
    ///
    /// As [`HostRequest::from_call`].
    pub fn parse(method: &str, args: &Value) -> Result<HostRequest, HostRequestError> {
        let empty = Map::new();
        let (name, shape): (&'static str, &'static str) = match method {
            "storage.get" => ("storage.get", r#"{"key": "..."}"#),
            "storage.put" => (
                "storage.put",
                r#"{"key": "...", "value_json": ...} or {"key": "...", "value_b64": "..."}"#,
            ),
            "storage.delete" => ("storage.delete", r#"{"key": "..."}"#),
            "storage.list" => ("storage.list", r#"{"prefix": "..."}"#),
            "config.get" => ("config.get", "{}"),
            "events.publish" => (
                "events.publish",
                r#"{"topic": "...", "payload_json": ...} or {"topic": "...", "payload_b64": "..."}"#,
            ),
            _ => {
                return Err(HostRequestError::UnknownMethod {
                    method: clip(method),
                })
            }
        };
        let invalid = |what: String| HostRequestError::InvalidArgs {
            method: name,
            reason: format!("{what}; expected {shape}"),
        };
        let args = match args {
            Value::Object(map) => map,
            Value::Null => &empty,
            other => return Err(invalid(format!("the arguments are {}", kind(other)))),
        };
        let string = |field: &str| match args.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            None => Err(invalid(format!("\"{field}\" is missing"))),
            Some(other) => Err(invalid(format!("\"{field}\" is {}", kind(other)))),
        };
        let bytes = |prefix: &str| {
            let json_key = format!("{prefix}_json");
            let b64_key = format!("{prefix}_b64");
            match (args.get(&json_key), args.get(&b64_key)) {
                (Some(_), Some(_)) => Err(invalid(format!(
                    "both \"{json_key}\" and \"{b64_key}\" are set"
                ))),
                (Some(value), None) => Ok(serde_json::to_vec(value).unwrap_or_default()),
                (None, Some(Value::String(text))) => base64::decode(text)
                    .map_err(|e| invalid(format!("\"{b64_key}\" is not base64: {e}"))),
                (None, Some(other)) => Err(invalid(format!("\"{b64_key}\" is {}", kind(other)))),
                (None, None) => Err(invalid(format!(
                    "neither \"{json_key}\" nor \"{b64_key}\" is set"
                ))),
            }
        };
        Ok(match name {
            "storage.get" => HostRequest::StorageGet {
                key: string("key")?,
            },
            "storage.put" => HostRequest::StoragePut {
                key: string("key")?,
                value: bytes("value")?,
            },
            "storage.delete" => HostRequest::StorageDelete {
                key: string("key")?,
            },
            "storage.list" => HostRequest::StorageList {
                prefix: match args.get("prefix") {
                    None => String::new(),
                    Some(_) => string("prefix")?,
                },
            },
            "config.get" => HostRequest::ConfigGet,
            _ => HostRequest::EventsPublish {
                topic: string("topic")?,
                payload: bytes("payload")?,
            },
        })
    }

    /// The method name, as in `host_call`.
    pub fn method(&self) -> &'static str {
        match self {
            HostRequest::StorageGet { .. } => "storage.get",
            HostRequest::StoragePut { .. } => "storage.put",
            HostRequest::StorageDelete { .. } => "storage.delete",
            HostRequest::StorageList { .. } => "storage.list",
            HostRequest::ConfigGet => "config.get",
            HostRequest::EventsPublish { .. } => "events.publish",
        }
    }

    /// The `host_call` that makes this request (for plugin kits and tests). Values and event
    /// payloads that are JSON travel as `*_json`, others as `*_b64`.
    pub fn to_call(&self, id: u64) -> HostCall {
        let args = match self {
            HostRequest::StorageGet { key } | HostRequest::StorageDelete { key } => {
                json!({ "key": key })
            }
            HostRequest::StoragePut { key, value } => {
                let mut args = bytes_args("value", value);
                args.insert("key".into(), json!(key));
                Value::Object(args)
            }
            HostRequest::StorageList { prefix } => json!({ "prefix": prefix }),
            HostRequest::ConfigGet => json!({}),
            HostRequest::EventsPublish { topic, payload } => {
                let mut args = bytes_args("payload", payload);
                args.insert("topic".into(), json!(topic));
                Value::Object(args)
            }
        };
        HostCall {
            id,
            method: self.method().to_owned(),
            args,
        }
    }
}

/// `{"<prefix>_json": value}` when `bytes` are JSON, else `{"<prefix>_b64": "..."}`.
fn bytes_args(prefix: &str, bytes: &[u8]) -> Map<String, Value> {
    let payload = Payload::from_json_bytes(bytes);
    let mut map = Map::new();
    match (payload.json, payload.b64) {
        (Some(value), _) => map.insert(format!("{prefix}_json"), value),
        (None, Some(text)) => map.insert(format!("{prefix}_b64"), Value::String(text)),
        (None, None) => map.insert(format!("{prefix}_b64"), Value::String(String::new())),
    };
    map
}

/// The host's successful answer to a [`HostRequest`], as it goes in `host_result.result`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostReply {
    /// `storage.get`: `{"found": false}`, or `{"found": true, "value_b64": "...",
    /// "value_json": ...}` where `value_json` is present when the stored bytes are JSON.
    StorageGet(Option<Vec<u8>>),
    /// `storage.put`: `{}`.
    StoragePut,
    /// `storage.delete`: `{"deleted": bool}`, whether the key existed.
    StorageDelete(bool),
    /// `storage.list`: `{"keys": [...]}`, sorted.
    StorageList(Vec<String>),
    /// `config.get`: `{"config": {...}}`.
    ConfigGet(Value),
    /// `events.publish`: `{}`.
    EventsPublish,
}

impl HostReply {
    /// The JSON value for `host_result.result`.
    pub fn to_json(&self) -> Value {
        match self {
            HostReply::StorageGet(None) => json!({ "found": false }),
            HostReply::StorageGet(Some(value)) => {
                let mut reply = Map::new();
                reply.insert("found".into(), Value::Bool(true));
                reply.insert(
                    "value_b64".into(),
                    Value::String(base64::encode(value, Padding::Padded)),
                );
                if let Ok(json) = serde_json::from_slice::<Value>(value) {
                    reply.insert("value_json".into(), json);
                }
                Value::Object(reply)
            }
            HostReply::StoragePut | HostReply::EventsPublish => json!({}),
            HostReply::StorageDelete(deleted) => json!({ "deleted": deleted }),
            HostReply::StorageList(keys) => {
                let mut keys = keys.clone();
                keys.sort();
                json!({ "keys": keys })
            }
            HostReply::ConfigGet(config) => json!({ "config": config }),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
