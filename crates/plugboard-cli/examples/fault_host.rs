//! `fault_host`: the `plugboard` command with the example plugins and the fault-injection
//! probe of `plugboard-test-support` registered, for the CLI's end-to-end tests.
//!
//! It runs the real CLI code path (`plugboard_cli::main_with`), so a test of `fault_host run`
//! is a test of `plugboard run` on a tree whose plugins fail, hang or record on demand.
//! `cargo test` builds it into `target/<profile>/examples/` before the tests run.

fn main() -> std::process::ExitCode {
    plugboard_cli::main_with(|builder| {
        plugboard_test_support::register(plugboard_examples::register(builder))
    })
}
