//! The `okta-normalizer` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = okta_normalizer_host::cli::Cli::parse();
    match okta_normalizer_host::commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("okta-normalizer: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
