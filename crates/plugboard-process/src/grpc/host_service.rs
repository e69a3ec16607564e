//! The host API as a gRPC service (`plugboard.v1.HostApi`), served to one plugin over a
//! connection offered through go-plugin's broker.

use plugboard_core::manifest::LogLevel;
use plugboard_core::{CallError, Health, HealthReport, HostApi};
use plugboard_protocol::grpc::plugboard as pb;
use tonic::{Request, Response, Status};

/// Serves one plugin's [`HostApi`].
#[derive(Debug, Clone)]
pub(crate) struct HostService {
    pub(crate) host: HostApi,
}

/// The gRPC status for a core call error: the message keeps its wording.
pub(crate) fn status_of(e: &CallError) -> Status {
    match e {
        CallError::Denied(m) => Status::permission_denied(m.clone()),
        CallError::UnknownPlugin(_) | CallError::UnknownMethod { .. } => {
            Status::not_found(e.to_string())
        }
        CallError::Codec { .. } => Status::invalid_argument(e.to_string()),
        CallError::Timeout { .. } => Status::deadline_exceeded(e.to_string()),
        CallError::NotActive { .. } => Status::unavailable(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

fn call_response(result: Result<Vec<u8>, CallError>) -> pb::CallResponse {
    let outcome = match result {
        Ok(bytes) => pb::call_response::Outcome::Payload(bytes),
        Err(e) => {
            let code = match &e {
                CallError::UnknownMethod { .. } | CallError::UnknownPlugin(_) => {
                    pb::ErrorCode::UnknownMethod
                }
                CallError::Denied(_) => pb::ErrorCode::Denied,
                CallError::Codec { .. } => pb::ErrorCode::InvalidPayload,
                _ => pb::ErrorCode::Failed,
            };
            pb::call_response::Outcome::Error(pb::Error {
                message: e.to_string(),
                code: code as i32,
            })
        }
    };
    pb::CallResponse {
        outcome: Some(outcome),
    }
}

impl HostService {
    fn store(&self) -> Result<plugboard_core::PluginStore, Status> {
        self.host.storage().map_err(|e| status_of(&e))
    }
}

fn storage_status(e: plugboard_core::StorageError) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl pb::host_api_server::HostApi for HostService {
    async fn log(&self, req: Request<pb::LogRequest>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        let level = match pb::LogLevel::try_from(r.level).unwrap_or(pb::LogLevel::Info) {
            pb::LogLevel::Trace => LogLevel::Trace,
            pb::LogLevel::Debug => LogLevel::Debug,
            pb::LogLevel::Info => LogLevel::Info,
            pb::LogLevel::Warn => LogLevel::Warning,
            pb::LogLevel::Error => LogLevel::Error,
        };
        let fields: Vec<(&str, &str)> = r
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.host.log_with(level, &r.message, &fields);
        Ok(Response::new(pb::Empty {}))
    }

    async fn config(&self, _: Request<pb::Empty>) -> Result<Response<pb::ConfigResponse>, Status> {
        let json = serde_json::to_vec(&*self.host.config())
            .map_err(|e| Status::internal(format!("cannot encode the configuration: {e}")))?;
        Ok(Response::new(pb::ConfigResponse { config_json: json }))
    }

    async fn storage_get(
        &self,
        req: Request<pb::StorageKey>,
    ) -> Result<Response<pb::StorageValue>, Status> {
        let value = self
            .store()?
            .get(req.into_inner().key.as_bytes())
            .map_err(storage_status)?;
        Ok(Response::new(pb::StorageValue {
            found: value.is_some(),
            value: value.unwrap_or_default(),
        }))
    }

    async fn storage_put(
        &self,
        req: Request<pb::StoragePutRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        self.store()?
            .put(r.key.as_bytes(), &r.value)
            .map_err(storage_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn storage_delete(
        &self,
        req: Request<pb::StorageKey>,
    ) -> Result<Response<pb::StorageDeleteResponse>, Status> {
        let deleted = self
            .store()?
            .delete(req.into_inner().key.as_bytes())
            .map_err(storage_status)?;
        Ok(Response::new(pb::StorageDeleteResponse { deleted }))
    }

    async fn storage_list(
        &self,
        req: Request<pb::StorageListRequest>,
    ) -> Result<Response<pb::StorageListResponse>, Status> {
        let keys = self
            .store()?
            .list(req.into_inner().prefix.as_bytes())
            .map_err(storage_status)?
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect();
        Ok(Response::new(pb::StorageListResponse { keys }))
    }

    async fn publish(
        &self,
        req: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        self.host
            .publish(&r.topic, r.payload)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn report_health(
        &self,
        req: Request<pb::ReportHealthRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        if let Some(health) = health_of(r.status) {
            self.host
                .report_health(HealthReport::new(health, r.message));
        }
        Ok(Response::new(pb::Empty {}))
    }

    async fn call_plugin(
        &self,
        req: Request<pb::CallPluginRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let r = req.into_inner();
        let result = self.host.call(&r.plugin, &r.method, &r.payload).await;
        Ok(Response::new(call_response(result)))
    }

    async fn call_service(
        &self,
        req: Request<pb::CallServiceRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let r = req.into_inner();
        let result = match self.host.service(&r.service) {
            Ok(handle) => handle.call(&r.method, &r.payload).await,
            Err(e) => Err(e),
        };
        Ok(Response::new(call_response(result)))
    }
}

/// The core's health for the wire's, `None` for "nothing to report".
pub(crate) fn health_of(status: i32) -> Option<Health> {
    match pb::HealthStatus::try_from(status).ok()? {
        pb::HealthStatus::HealthUnspecified => None,
        pb::HealthStatus::Healthy => Some(Health::Healthy),
        pb::HealthStatus::Degraded => Some(Health::Degraded),
        pb::HealthStatus::Unhealthy => Some(Health::Unhealthy),
    }
}
