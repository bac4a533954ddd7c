//! The built-in rule pack loads without errors and every test inside it passes, as written and
//! with lowercased keys. A failure lists every failing test with its file and reason.

use okta_normalizer_core::{RuleError, test_rules};

fn describe(e: &RuleError) -> String {
    format!("{}:{}:{}: {} {}", e.file, e.line, e.column, e.code, e.message)
}

#[test]
fn every_builtin_rule_test_passes() {
    let results = match test_rules(&[], true) {
        Ok(results) => results,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(describe).collect();
            panic!("the built-in pack has {} rule errors:\n  {}", errors.len(), list.join("\n  "));
        }
    };
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            let variant = if r.lowercased { " [lowercased keys]" } else { "" };
            format!("{} {} / {}{variant}: {}", r.file, r.rule, r.test, r.message)
        })
        .collect();
    println!("{} rule tests run, {} failed", results.len(), failed.len());
    assert!(failed.is_empty(), "{} of {} rule tests failed:\n  {}", failed.len(), results.len(), failed.join("\n  "));
}
