//! Integration tests of the registry with real components: packages on disk, an HTTP server
//! on a loopback port, the CNCF distribution registry (Debian's `docker-registry`), the
//! `oras` Python SDK and the `minisign` tool.
//!
//! One test binary with a module per topic.

mod archive;
mod http;
mod oci;
mod sources;
mod support;
mod zstd;
