//! Thin entry point: run the command line and turn its result into an exit code.
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(gameday::cli::main())
}
