//! The gRPC contracts, generated from `proto/` at the repository root: go-plugin's internal
//! services, the standard health service, and Plugboard's own plugin and host-API services.
//!
//! Only messages and service stubs live here (clients generic over any transport, servers as
//! tower services); the process runtime and the plugin kit bring the sockets. Package and field
//! numbers of go-plugin's services are go-plugin's own, so a go-plugin peer understands them.
#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#![allow(clippy::all, clippy::pedantic)]

/// go-plugin's services (protobuf package `plugin`): `GRPCBroker`, `GRPCController`,
/// `GRPCStdio`.
pub mod go_plugin {
    tonic::include_proto!("plugin");
}

/// The standard gRPC health service (`grpc.health.v1`). go-plugin plugins report `SERVING` for
/// [`HEALTH_SERVICE_NAME`].
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}

/// Plugboard's own services (`plugboard.v1`): the `Plugin` service a plugin serves, and the
/// `HostApi` service the host offers it through the broker.
pub mod plugboard {
    tonic::include_proto!("plugboard.v1");
}

/// The service name go-plugin's health server reports `SERVING` for.
pub const HEALTH_SERVICE_NAME: &str = "plugin";
