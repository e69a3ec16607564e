//! Test support for Plugboard: manifests, plugin trees, a fault-injection plugin and an
//! in-process host, for Plugboard's own tests and for plugin authors' tests of their plugins.
//!
//! ```
//! use plugboard::PluginState;
//! use plugboard_test_support::{ManifestBuilder, PluginTree, TestHost};
//! use serde_json::json;
//!
//! // A host layout in a temporary directory: `b` requires `a`, `c` stands alone.
//! let tree = PluginTree::new()
//!     .bundled(ManifestBuilder::builtin("a", "1.0.0"))
//!     .external(ManifestBuilder::builtin("b", "1.0.0").requires("a", "^1"))
//!     .external(ManifestBuilder::builtin("c", "2.0.0").storage())
//!     .probe("a", json!({}))
//!     .probe("b", json!({}))
//!     .plugin_config("c", json!({"record": true}));
//!
//! // Every plugin is a `Probe`; the test host runs them in this process.
//! let host = TestHost::start(&tree)?;
//! assert_eq!(host.state("b"), Some(PluginState::Active));
//! assert_eq!(host.call("c", "echo", b"\xff\x00bytes")?, b"\xff\x00bytes");
//! assert_eq!(host.call("c", "incr", "")?, b"1");
//! host.stop();
//!
//! // Dependencies start first and stop last.
//! tree.journal().assert_order(&[("a", "start"), ("b", "boot"), ("b", "stop"), ("a", "stop")]);
//! assert!(tree.read_log("c").contains("c@2.0.0 probe call incr"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Concepts
//! - [`ManifestBuilder`]: a `plugin.yaml` ([`ManifestBuilder::yaml`]) or a parsed
//!   [`Manifest`](plugboard::manifest::Manifest) ([`ManifestBuilder::build`]).
//! - [`PluginTree`]: a temporary directory with `bundled/` (and its `bundled.index`),
//!   `external/` and the `config.yaml` you compose, for a host in this process or a host binary.
//! - [`Probe`]: a builtin plugin whose faults (failing, hanging or panicking hooks) and records
//!   come from its configuration; [`register`] adds it to a [`HostBuilder`](plugboard::HostBuilder)
//!   under [`PROBE_ENTRY`], which is the default entry of every builtin [`ManifestBuilder`].
//! - [`Journal`]: the order in which probes ran their hooks, across plugins.
//! - [`TestHost`]: a host built from a tree with the probe (and your plugins) registered,
//!   driven synchronously from a plain `#[test]`.
//!
//! A host binary for end-to-end tests registers the probe beside its own plugins:
//! `plugboard_cli::main_with(|b| plugboard_test_support::register(my_app::register(b)))`.
#![deny(missing_docs)]

mod manifest;
mod oci_registry;
mod probe;
mod test_host;
mod tree;

pub use manifest::ManifestBuilder;
pub use oci_registry::{tool_missing, OciRegistry};
pub use probe::{register, Probe, PROBE_ENTRY};
pub use test_host::TestHost;
pub use tree::{Journal, JournalEntry, PluginTree};

// Tests move these between threads (a host binary's test spawns a reader thread per pipe).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ManifestBuilder>();
    send_sync::<PluginTree>();
    send_sync::<Probe>();
    send_sync::<TestHost>();
    send_sync::<Journal>();
};
