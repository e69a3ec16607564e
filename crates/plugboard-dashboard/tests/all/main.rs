//! The dashboard's integration tests, one binary: the server over real HTTP, and the
//! end-to-end tests in a real browser.

mod e2e;
mod examples;
mod server;
mod support;
