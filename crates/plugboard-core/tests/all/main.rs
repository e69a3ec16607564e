//! Integration tests of the core, in-process, with builtin plugins defined here. One binary, a
//! module per topic.

mod calls;
mod discovery;
mod events;
mod extension;
mod failures;
mod host_api;
mod lifecycle;
mod reload;
mod services;
mod support;
