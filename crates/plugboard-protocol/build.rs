//! Compiles `proto/` (at the repository root) into Rust with protox, a pure-Rust protobuf
//! compiler, so that building the workspace needs no `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "plugin/grpc_broker.proto",
        "plugin/grpc_controller.proto",
        "plugin/grpc_stdio.proto",
        "grpc/health/v1/health.proto",
        "plugboard/v1/plugin.proto",
        "plugboard/v1/host_api.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
