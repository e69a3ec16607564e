//! The process runtime's integration tests, one binary (`cargo test -p plugboard-process --test
//! all`), with real peers: the Rust probe plugin served by `plugboard-pdk`
//! (`examples/process_probe.rs`), stdio scripts in Python with no dependencies, and a Python
//! plugin on grpcio (`sdk/python`).

mod faults;
mod go;
mod go_proto;
mod grpc;
mod mtls;
mod program;
mod python;
mod reload;
mod sandbox;
mod stdio;
mod supervision;
mod support;
