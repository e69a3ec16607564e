//! The process runtime's integration tests, one binary (`cargo test -p plugboard-process --test
//! all`), with real peers: the Rust probe plugin served by `plugboard-pdk`
//! (`examples/process_probe.rs`), stdio scripts in Python with no dependencies, and a Python
//! plugin on grpcio (`sdk/python`).

mod faults;
mod grpc;
mod python;
mod reload;
mod stdio;
mod supervision;
mod support;
