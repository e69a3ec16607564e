//! The shared language of Plugboard: `plugin.yaml` manifests and the host's `config.yaml`.
//!
//! This crate is pure data. It turns text into typed, validated values and reports every problem
//! with the file, line, column and field it concerns, so that an operator can fix a manifest
//! without reading Plugboard's source. It performs no I/O beyond the text it is given: reading
//! files is the caller's job, which keeps the parsers easy to fuzz.
//!
//! ```
//! use plugboard_manifest::Manifest;
//!
//! let manifest = Manifest::from_yaml_str(
//!     "id: text-tools\nversion: 1.2.0\napi: \"^1\"\nruntime: builtin\nentry: text_tools\n",
//!     "plugin.yaml",
//! )
//! .unwrap();
//! assert_eq!(manifest.id.as_str(), "text-tools");
//! ```
#![deny(missing_docs)]

mod manifest;

pub use manifest::*;
mod config;
pub use config::*;
