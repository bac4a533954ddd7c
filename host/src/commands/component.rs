//! `okta-normalizer component`: writes the embedded component to a file.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::cli::{ComponentArgs, RuntimeArgs};
use crate::guest::EMBEDDED_COMPONENT;

pub(super) fn run(args: &ComponentArgs, runtime: &RuntimeArgs) -> Result<ExitCode> {
    let bytes = match &runtime.component {
        Some(path) => std::fs::read(path).with_context(|| format!("while reading {}", path.display()))?,
        None => EMBEDDED_COMPONENT.to_vec(),
    };
    std::fs::write(&args.output, &bytes).with_context(|| format!("while writing {}", args.output.display()))?;
    eprintln!(
        "okta-normalizer: wrote the okta:normalizer@0.6.0 component ({} bytes) to {}",
        bytes.len(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
