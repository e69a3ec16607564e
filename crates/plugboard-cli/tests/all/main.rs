//! End-to-end tests of the `plugboard` command: the real binaries (`plugboard`, and the
//! `fault_host` example, which is `plugboard` with the fault-injection probe registered) run on
//! plugin trees built by `plugboard-test-support`, and the tests check exit codes, output,
//! `list --json` and the files left on disk.
//!
//! One test binary with a module per topic, as wasmtime's `tests/all/` does: one link, and the
//! tests of every topic run in parallel.

mod call;
mod cli;
mod dashboard;
mod discovery;
mod hot_reload;
mod info;
mod lifecycle;
mod logs;
mod native;
mod process;
mod registry;
mod resolution;
mod storage;
mod support;
mod validate;
