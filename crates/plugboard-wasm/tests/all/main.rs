//! The WebAssembly runtime's integration tests, one binary (see STYLE.md), a module per topic.
//! Guests are built from source by the tests: WAT with the `wat` crate, components with
//! `wit-component` from a core module and `wit/plugin.wit`, C with Debian's clang and
//! wasi-libc.

mod support;

mod bad_input;
mod cache;
mod component;
mod conformance;
mod example;
mod extism;
mod limits;
mod reload;
mod sandbox;
mod scale;
