//! Calling any gRPC method of a go-plugin plugin from its `.proto` file, with JSON in and out:
//! the proto is compiled at run time (protox), messages are built dynamically (prost-reflect).

use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::Status;

/// Why a dynamic call could not be made or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DynamicCallError {
    /// The `.proto` file does not compile.
    #[error("cannot compile {path}: {message}; pass the directory its imports are relative to with --import-path")]
    Proto {
        /// The file.
        path: PathBuf,
        /// What protox said.
        message: String,
    },
    /// The method is not in the file.
    #[error("{method:?} is not a method of {path}; it has: {known}")]
    UnknownMethod {
        /// What was asked for (`Service/Method`).
        method: String,
        /// The file.
        path: PathBuf,
        /// Every `Service/Method` the file declares.
        known: String,
    },
    /// The input is not JSON for the method's request message.
    #[error("the input is not a JSON {message}: {reason}")]
    Input {
        /// The request message's full name.
        message: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin answered with an error status.
    #[error("{method} failed: {code:?}: {message}")]
    Status {
        /// The method's full path.
        method: String,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
}

/// A method found in a `.proto` file, ready to be called.
#[derive(Debug, Clone)]
pub struct DynamicMethod {
    method: MethodDescriptor,
}

impl DynamicMethod {
    /// Compiles `proto` (imports resolved against `import_paths` and the file's own directory)
    /// and finds `service_method`: `Service/Method`, with the service's short or full name.
    ///
    /// # Errors
    /// When the file does not compile or has no such method.
    pub fn find(
        proto: &Path,
        import_paths: &[PathBuf],
        service_method: &str,
    ) -> Result<DynamicMethod, DynamicCallError> {
        let proto_err = |message: String| DynamicCallError::Proto {
            path: proto.to_owned(),
            message,
        };
        let dir = proto
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let mut includes: Vec<PathBuf> = import_paths.to_vec();
        includes.push(dir);
        let fds = protox::compile([proto], &includes).map_err(|e| proto_err(e.to_string()))?;
        let pool =
            DescriptorPool::from_file_descriptor_set(fds).map_err(|e| proto_err(e.to_string()))?;
        let (service, method) = service_method
            .rsplit_once('/')
            .unwrap_or((service_method, ""));
        let service = service.trim_start_matches('/');
        let found = pool
            .services()
            .filter(|s| s.full_name() == service || s.name() == service)
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .find(|m| m.name() == method);
        match found {
            Some(method) => Ok(DynamicMethod { method }),
            None => {
                let known: Vec<String> = pool
                    .services()
                    .flat_map(|s| {
                        s.methods()
                            .map(|m| format!("{}/{}", s.full_name(), m.name()))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                Err(DynamicCallError::UnknownMethod {
                    method: service_method.to_owned(),
                    path: proto.to_owned(),
                    known: if known.is_empty() {
                        "no services".to_owned()
                    } else {
                        known.join(", ")
                    },
                })
            }
        }
    }

    /// The method's gRPC path, `/package.Service/Method`.
    pub fn path(&self) -> String {
        format!(
            "/{}/{}",
            self.method.parent_service().full_name(),
            self.method.name()
        )
    }

    /// Calls the method over `channel` with a request read from `input` (JSON) and returns
    /// the response as JSON.
    ///
    /// # Errors
    /// When the input does not fit the request message, or the plugin answers with an error.
    pub async fn call_json(
        &self,
        channel: Channel,
        input: &str,
        deadline: Duration,
    ) -> Result<String, DynamicCallError> {
        let input_desc = self.method.input();
        let mut de =
            serde_json::Deserializer::from_str(if input.trim().is_empty() { "{}" } else { input });
        let request = DynamicMessage::deserialize(input_desc.clone(), &mut de).map_err(|e| {
            DynamicCallError::Input {
                message: input_desc.full_name().to_owned(),
                reason: e.to_string(),
            }
        })?;
        let path = self.path();
        let status = |s: Status| DynamicCallError::Status {
            method: path.clone(),
            code: s.code(),
            message: s.message().to_owned(),
        };
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| status(Status::unavailable(e.to_string())))?;
        let route = PathAndQuery::try_from(path.as_str())
            .map_err(|e| status(Status::invalid_argument(e.to_string())))?;
        let mut req = tonic::Request::new(request);
        req.set_timeout(deadline);
        let codec = DynamicCodec {
            output: self.method.output(),
        };
        let response = grpc.unary(req, route, codec).await.map_err(status)?;
        serde_json::to_string(response.get_ref()).map_err(|e| {
            status(Status::internal(format!(
                "the response cannot be shown as JSON: {e}"
            )))
        })
    }
}

/// Encodes any dynamic message; decodes the method's output message.
struct DynamicCodec {
    output: MessageDescriptor,
}

struct DynamicEncoder;
struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.output.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode the response: {e}")))
    }
}
