//! The `okta-normalizer` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "okta_normalizer_host=info".into()),
        )
        .init();
    let cli = okta_normalizer_host::cli::Cli::parse();
    match okta_normalizer_host::commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("okta-normalizer: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
