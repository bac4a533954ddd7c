//! One module per subcommand. Each takes its parsed arguments and returns the exit code.

mod component;
mod normalize;
pub mod poll;
mod rules;
pub mod serve;
mod sim;
pub mod sync;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command, RuntimeArgs};
use crate::guest::{Runtime, RuntimeOptions};

/// Runs the command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Normalize(args) => normalize::run(&args, &Runtime::new(&runtime_options(&cli.runtime))?),
        Command::Component(args) => component::run(&args, &cli.runtime),
        Command::Poll(args) => poll::run(&args, &Runtime::new(&runtime_options(&cli.runtime))?),
        Command::Serve(args) => serve::run(&args, &Runtime::new(&runtime_options(&cli.runtime))?),
        Command::Sync(args) => sync::run(&args, &Runtime::new(&runtime_options(&cli.runtime))?),
        Command::Sim(args) => sim::run_sim(&args),
        Command::Demo(args) => sim::run_demo(&args, &Runtime::new(&runtime_options(&cli.runtime))?),
        Command::Web(args) => web::run(&args),
        Command::Rules(command) => rules::run(&command, &Runtime::new(&runtime_options(&cli.runtime))?),
        Command::Config(crate::cli::ConfigCommand::Example) => {
            print!("{}", crate::config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resolves where the component comes from and where compiled code is cached.
pub fn runtime_options(args: &RuntimeArgs) -> RuntimeOptions {
    RuntimeOptions {
        component: args.component.clone(),
        cache_dir: if args.no_cache { None } else { args.cache_dir.clone().or_else(default_cache_dir) },
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("okta-normalizer"))
}

/// A stop signal that turns true on Ctrl-C, after logging `message` (what the command finishes
/// first). Call it inside the runtime.
fn stop_on_ctrl_c(message: &'static str) -> tokio::sync::watch::Receiver<bool> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("{message}");
            let _ = stop_tx.send(true);
        }
    });
    stop_rx
}
