//! The `plugboard` command: the operators' tool and Plugboard's reference host application.

fn main() -> std::process::ExitCode {
    plugboard_cli::main_with(plugboard_examples::register)
}
