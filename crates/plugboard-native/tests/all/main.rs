//! The native runtime's integration tests, one binary (see STYLE.md), a module per topic.
//! The plugins are built from source: the Rust ones with cargo, the C ones with `cc`.

mod plugins;
mod support;

mod conformance;
mod errors;
mod host_api;
mod isolation;
mod layout;
mod load;
mod panics;
mod reload;
