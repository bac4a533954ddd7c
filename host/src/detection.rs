//! The host's side of detection: which rules an engine is built with, and how rule problems are
//! shown. The rules themselves are evaluated in the guest; the host only reads rule files from
//! disk (the guest has no file system) and hands their text over.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::guest::{ConfigError, DetectionConfig, Placeholder, RuleError, RuleSource};

/// `[detection]` in the config file; `--rules DIR` adds to `rules`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionSettings {
    /// Load the built-in Okta pack (`okta-normalizer rules list` shows it).
    pub builtin: bool,
    /// Directories (or single files) of your own Sigma rules, read recursively (`*.yml`, `*.yaml`).
    pub rules: Vec<PathBuf>,
    /// Values for `|expand` placeholders, for example `break_glass_accounts = ["bg@acme.com"]`.
    pub placeholders: BTreeMap<String, Vec<String>>,
    /// How late, in event time, an event may arrive and still count in windows.
    pub reorder_tolerance_secs: u64,
}

impl Default for DetectionSettings {
    fn default() -> Self {
        Self { builtin: true, rules: Vec::new(), placeholders: BTreeMap::new(), reorder_tolerance_secs: 300 }
    }
}

impl DetectionSettings {
    /// The config's settings with `--rules`/`--no-builtin-rules` applied.
    pub fn with_args(mut self, args: &crate::cli::RulesArgs) -> DetectionSettings {
        self.rules.extend(args.rules.iter().cloned());
        if args.no_builtin_rules {
            self.builtin = false;
        }
        self
    }

    /// The WIT record, with every rule file read.
    pub fn to_wit(&self) -> Result<DetectionConfig> {
        let mut rules = Vec::new();
        for path in &self.rules {
            rules.extend(read_rules(path)?);
        }
        Ok(DetectionConfig {
            builtin_rules: self.builtin,
            rules,
            placeholders: self
                .placeholders
                .iter()
                .map(|(name, values)| Placeholder { name: name.clone(), values: values.clone() })
                .collect(),
            reorder_tolerance_ms: self.reorder_tolerance_secs.saturating_mul(1000),
        })
    }
}

/// Every `*.yml`/`*.yaml` under `path` (or `path` itself if it is a file), sorted by path, so the
/// load order and thus the output never depend on the directory listing order.
pub fn read_rules(path: &Path) -> Result<Vec<RuleSource>> {
    let meta = std::fs::metadata(path).with_context(|| format!("while reading the rules at {}", path.display()))?;
    let mut files = Vec::new();
    if meta.is_file() {
        files.push(path.to_path_buf());
    } else {
        collect(path, &mut files)?;
        if files.is_empty() {
            bail!("{} holds no rule files (*.yml or *.yaml)", path.display());
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("while reading the rule file {}", file.display()))?;
            Ok(RuleSource { name: file.display().to_string(), text })
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("while listing {}", dir.display()))? {
        let path = entry.with_context(|| format!("while listing {}", dir.display()))?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

/// `file:line:column (rule name): R0xx message`, the way compilers print; the same form the
/// guest uses for the first problem in its `config-error` message.
pub fn format_rule_error(e: &RuleError) -> String {
    let mut s = e.file.clone();
    if e.line > 0 {
        let _ = write!(s, ":{}:{}", e.line, e.column);
    }
    if let Some(rule) = &e.rule {
        let _ = write!(s, " (rule {rule})");
    }
    let _ = write!(s, ": {} {}", e.code, e.message);
    s
}

/// The guest refused a config: with rule problems, every one of them, one per line.
pub fn refused(who: &str, e: &ConfigError) -> anyhow::Error {
    if e.rule_errors.is_empty() {
        return anyhow::anyhow!("{who}: the normalizer refused its settings: {} ({})", e.message, e.field);
    }
    let lines: Vec<String> = e.rule_errors.iter().map(format_rule_error).collect();
    anyhow::anyhow!(
        "{who}: the rules do not load ({} problem{}):\n  {}\nCheck a file with `okta-normalizer rules lint FILE`.",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        lines.join("\n  ")
    )
}
