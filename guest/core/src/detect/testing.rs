//! The in-rule test runner (`rules/README.md` §6).
//!
//! Each test's events are completed (uuid `test-<n>`, `published` 2026-01-01T00:00:00Z plus `n`
//! seconds, `repeat` expanded one second apart) and fed as one NDJSON batch through a fresh engine
//! with every loaded rule; the alerts and signals of the test's own rule are counted, and the last
//! one's severity and title compared. Every test runs twice: as written, and with each event's
//! top-level keys lowercased. A test may load a directory first (`directory:`, a snapshot as
//! `crate::directory::snapshot` reads it), so rules over enriched fields can be tested.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::alert::format_ms;
use super::rule::TestCase;
use super::ruleset::RuleSet;
use crate::{
    BatchOptions, Config, DetectionConfig, Engine, InputFormat, OutputOptions, RuleError, RuleSource, TestResult,
};

/// `published` of event 0 when a test event has none.
const BASE_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00.000Z

/// Runs the tests of `sources` (and of the built-in pack when `builtin`).
pub(crate) fn run(sources: &[RuleSource], builtin: bool) -> Result<Vec<TestResult>, Vec<RuleError>> {
    let mut all = if builtin { super::builtin::sources() } else { Vec::new() };
    all.extend(sources.iter().cloned());
    let set = Arc::new(RuleSet::compile(&all, &[], true)?);
    let directories = directories(&all);
    let mut results = Vec::new();
    for (index, rule) in set.rules.iter().enumerate() {
        for test in &rule.tests {
            let directory = directories.get(&(rule.id.clone(), test.name.clone()));
            for lowercased in [false, true] {
                let (passed, message) = run_one(&set, index, test, directory, lowercased);
                results.push(TestResult {
                    file: rule.file.clone(),
                    rule: rule.name.clone(),
                    test: test.name.clone(),
                    lowercased,
                    passed,
                    message,
                });
            }
        }
    }
    Ok(results)
}

/// `x-okta.tests[].directory` of every rule, by (rule id, test name). The rule parser ignores the
/// key; it is read here from the sources (already known to compile).
fn directories(sources: &[RuleSource]) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for source in sources.iter().filter(|s| s.text.contains("directory:")) {
        for doc in super::yaml::load(&source.text).unwrap_or_default() {
            let Some(id) = doc.get("id").and_then(|n| n.scalar_text()) else { continue };
            let Some(tests) = doc.get("x-okta").and_then(|x| x.get("tests")) else { continue };
            for (n, test) in tests.items().into_iter().enumerate() {
                if let Some(directory) = test.get("directory") {
                    let name =
                        test.get("name").and_then(|n| n.scalar_text()).unwrap_or_else(|| format!("test {}", n + 1));
                    out.insert((id.clone(), name), directory.to_json());
                }
            }
        }
    }
    out
}

/// The test's events as NDJSON, completed as §6 says.
pub(crate) fn events(test: &TestCase, lowercased: bool) -> String {
    let mut out = String::new();
    let mut n: i64 = 0;
    for item in &test.events {
        let given_time =
            item.event.get("published").and_then(Value::as_str).and_then(|p| p.parse::<jiff::Timestamp>().ok());
        for copy in 0..i64::from(item.repeat) {
            let mut event = item.event.clone();
            if copy > 0 || !event.contains_key("uuid") {
                event.insert("uuid".into(), Value::String(format!("test-{n}")));
            }
            let time = match given_time {
                Some(t) => t.as_millisecond() + copy * 1000,
                None if item.event.contains_key("published") && copy == 0 => {
                    n += 1;
                    push(&mut out, event, lowercased);
                    continue;
                }
                None => BASE_MS + n * 1000,
            };
            event.insert("published".into(), Value::String(format_ms(time)));
            push(&mut out, event, lowercased);
            n += 1;
        }
    }
    out
}

fn push(out: &mut String, event: Map<String, Value>, lowercased: bool) {
    let event: Map<String, Value> =
        if lowercased { event.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect() } else { event };
    out.push_str(&Value::Object(event).to_string());
    out.push('\n');
}

/// Runs one test of rule `index`. A building block (a rule only correlations read) is tested as
/// if it alerted on its own, so its tests say whether it matches.
fn run_one(
    set: &Arc<RuleSet>,
    index: usize,
    test: &TestCase,
    directory: Option<&Value>,
    lowercased: bool,
) -> (bool, String) {
    let rule = &set.rules[index];
    let config = Config {
        tenant_id: "test.okta.com".into(),
        tenant_domain: None,
        output: OutputOptions::default(),
        detection: DetectionConfig { builtin_rules: false, ..DetectionConfig::default() },
    };
    let mut engine = match Engine::with_rules(config, Arc::clone(set)) {
        Ok(engine) => engine,
        Err(e) => return (false, e.message),
    };
    engine.test_alone(index);
    if let Some(directory) = directory {
        let update = match crate::directory::snapshot(directory, BASE_MS) {
            Ok(update) => update,
            Err(message) => return (false, format!("the test's directory: {message}")),
        };
        let loaded = engine.update_directory(update);
        if !loaded.problems.is_empty() {
            let problems: Vec<String> = loaded.problems.iter().map(|p| format!("{} {}", p.code, p.message)).collect();
            return (false, format!("the test's directory: {}", problems.join("; ")));
        }
    }
    let input = events(test, lowercased);
    let result = match engine.normalize(input.as_bytes(), &BatchOptions { format: InputFormat::Ndjson, ingested: None })
    {
        Ok(result) => result,
        Err(e) => return (false, format!("the test events could not be read: {}", e.message)),
    };
    let failed: Vec<String> = result
        .outcomes
        .iter()
        .filter_map(|o| match &o.outcome {
            crate::Outcome::Failed(e) => Some(format!("event {} failed: {}", o.index, e.message)),
            crate::Outcome::Normalized(_) => None,
        })
        .collect();
    if !failed.is_empty() {
        return (false, failed.join("; "));
    }
    let own: Vec<&crate::Alert> = result.alerts.iter().filter(|a| a.rule_id == rule.id).collect();
    let mut problems = Vec::new();
    if own.len() as u64 != test.fires {
        let others: Vec<String> =
            result.alerts.iter().filter(|a| a.rule_id != rule.id).map(|a| a.rule_name.clone()).collect();
        let others =
            if others.is_empty() { String::new() } else { format!(" (other rules fired: {})", others.join(", ")) };
        problems.push(format!("expected fires: {}, got {}{others}", test.fires, own.len()));
    }
    if let Some(last) = own.last() {
        if let Some(want) = &test.severity
            && &last.severity != want
        {
            problems.push(format!("expected severity {want}, got {}", last.severity));
        }
        if let Some(want) = &test.title {
            let got = serde_json::from_str::<Value>(&last.document)
                .ok()
                .and_then(|d| d.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            if &got != want {
                problems.push(format!("expected title {want:?}, got {got:?}"));
            }
        }
    }
    (problems.is_empty(), problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rule::TestEvent;

    fn event(v: Value) -> TestEvent {
        let Value::Object(map) = v else { panic!("not an object") };
        TestEvent { event: map, repeat: 1 }
    }

    #[test]
    fn defaults_and_repeat() {
        let mut repeated =
            event(serde_json::json!({"eventType": "a", "published": "2026-03-01T10:00:00.000Z", "uuid": "u"}));
        repeated.repeat = 3;
        let test = TestCase {
            name: "t".into(),
            events: vec![event(serde_json::json!({"eventType": "a"})), repeated],
            fires: 0,
            severity: None,
            title: None,
        };
        let lines: Vec<Value> = events(&test, false).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["uuid"], "test-0");
        assert_eq!(lines[0]["published"], "2026-01-01T00:00:00.000Z");
        assert_eq!(lines[1]["uuid"], "u");
        assert_eq!(lines[2]["uuid"], "test-2");
        assert_eq!(lines[3]["published"], "2026-03-01T10:00:02.000Z");
        let lower: Vec<Value> = events(&test, true).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lower[0]["eventtype"], "a");
    }
}
