//! `okta-normalizer rules list | test [DIR] | lint FILE`.
//!
//! All three run in the component, like detection itself, so what they report is what `poll`
//! and `serve` will do. The host only reads the files.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{RulesCommand, RulesLintArgs, RulesListArgs, RulesTestArgs};
use crate::detection::{DetectionSettings, format_rule_error, read_rules, refused};
use crate::guest::{EngineConfig, OutputOptions, Runtime};

pub(super) fn run(command: &RulesCommand, runtime: &Runtime) -> Result<ExitCode> {
    match command {
        RulesCommand::List(args) => list(args, runtime),
        RulesCommand::Test(args) => test(args, runtime),
        RulesCommand::Lint(args) => lint(args, runtime),
    }
}

fn list(args: &RulesListArgs, runtime: &Runtime) -> Result<ExitCode> {
    let detection = DetectionSettings::default().with_args(&args.rules).to_wit()?;
    let config = EngineConfig {
        tenant_id: "rules".into(),
        tenant_domain: None,
        output: OutputOptions { preserve_original: false, redact_secrets: true },
        detection,
        enrichment: crate::guest::EnrichmentConfig::defaults(),
    };
    let mut engine = runtime.instantiate(&config)?.map_err(|e| refused("rules list", &e))?;
    let rules = engine.rules()?;
    if args.json {
        for r in &rules {
            let line = serde_json::json!({
                "id": r.id, "name": r.name, "title": r.title, "kind": r.kind, "level": r.level,
                "signal": r.signal, "tactics": r.tactics, "file": r.file, "tests": r.tests,
            });
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let width = rules.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let kind_width = rules.iter().map(|r| r.kind.len()).max().unwrap_or(4).max(4);
    println!("{:<width$}  {:<13}  {:<kind_width$}  {:>5}  TACTICS", "NAME", "LEVEL", "KIND", "TESTS");
    for r in &rules {
        let level = if r.signal { format!("{} (signal)", r.level) } else { r.level.clone() };
        println!("{:<width$}  {level:<13}  {:<kind_width$}  {:>5}  {}", r.name, r.kind, r.tests, r.tactics.join(", "));
    }
    let signals = rules.iter().filter(|r| r.signal).count();
    let tests: u32 = rules.iter().map(|r| r.tests).sum();
    eprintln!("okta-normalizer: {} rules ({signals} signals), {tests} tests", rules.len());
    Ok(ExitCode::SUCCESS)
}

fn test(args: &RulesTestArgs, runtime: &Runtime) -> Result<ExitCode> {
    let (sources, builtin) = match &args.dir {
        Some(dir) => (read_rules(dir)?, args.with_builtin),
        None => (Vec::new(), true),
    };
    let results = match runtime.test_rules(&sources, builtin)? {
        Ok(results) => results,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}", format_rule_error(e));
            }
            eprintln!("okta-normalizer: the rules do not load ({} problems); no test ran", errors.len());
            return Ok(ExitCode::from(1));
        }
    };
    let mut failed = 0;
    for t in &results {
        let case = if t.lowercased { " (lowercased keys)" } else { "" };
        if !t.passed {
            failed += 1;
            println!("FAIL {} [{}] {}{case}: {}", t.file, t.rule, t.test, t.message);
        } else if args.verbose {
            println!("ok   {} [{}] {}{case}", t.file, t.rule, t.test);
        }
    }
    let rules: std::collections::BTreeSet<_> = results.iter().map(|t| (&t.file, &t.rule)).collect();
    eprintln!(
        "okta-normalizer: {} tests of {} rules: {} passed, {failed} failed",
        results.len(),
        rules.len(),
        results.len() - failed
    );
    if results.is_empty() {
        eprintln!("okta-normalizer: no rule has tests; write them under x-okta.tests (see rules/README.md)");
        return Ok(ExitCode::from(1));
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn lint(args: &RulesLintArgs, runtime: &Runtime) -> Result<ExitCode> {
    let mut problems = 0;
    for source in read_rules(&args.file)? {
        for e in runtime.lint_rules(&source)? {
            problems += 1;
            println!("{}", format_rule_error(&e));
        }
    }
    if problems == 0 {
        eprintln!("okta-normalizer: {}: no problems", args.file.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "okta-normalizer: {}: {problems} problem{}",
            args.file.display(),
            if problems == 1 { "" } else { "s" }
        );
        Ok(ExitCode::from(1))
    }
}
