//! A differential oracle for our Sigma evaluator (`guest/core/src/detect/`): every plain detection
//! rule of the built-in pack is evaluated by rsigma (`rsigma-parser` + `rsigma-eval`, pinned, used
//! only here) and by our engine over the same events, and the match decisions must agree.
//!
//! The events are every `tests/cases/normalize/*.json` fixture plus every test event written in
//! the pack's `x-okta.tests`. Our decision: the rule alone (its `x-okta` key removed, so there is
//! no threshold or dedup and every match alerts) in a fresh `Engine`, and whether it alerted on the
//! event. rsigma's: `evaluate_rule` on the raw LogEvent.
//!
//! The rules compared are `rsigma_subset::candidates()` (shared with the detection benchmark);
//! the others are left out rather than papered over, with their reasons printed.

use std::collections::{BTreeMap, BTreeSet};

use okta_normalizer_core::{
    BatchOptions, Config, DetectionConfig, Engine, InputFormat, Outcome, OutputOptions, RuleSource,
};
use okta_normalizer_tests::golden_inputs;
use serde_json::Value as Json;
use yaml_serde::Value as Yaml;

#[path = "../rsigma_subset.rs"]
mod rsigma_subset;
use rsigma_subset::{Candidate, candidates, get, yaml_docs};

/// Disagreements that are intentional: `(rule name, event name, reason)`. Keep each one
/// explained; anything not listed here fails the test.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// Every test event of the pack (correlations' too), named `<rule>/<test>#<k>`.
fn rule_test_events() -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for source in okta_normalizer_core::builtin_rules() {
        for doc in yaml_docs(&source.text) {
            let name = get(&doc, "name").and_then(Yaml::as_str).unwrap_or("?").to_owned();
            let Some(tests) = get(&doc, "x-okta").and_then(|x| get(x, "tests")).and_then(Yaml::as_sequence) else {
                continue;
            };
            for test in tests {
                let test_name = get(test, "name").and_then(Yaml::as_str).unwrap_or("?");
                let events: Vec<&Yaml> = match (get(test, "events"), get(test, "event")) {
                    (Some(Yaml::Sequence(items)), _) => items.iter().collect(),
                    (_, Some(one)) => vec![one],
                    _ => Vec::new(),
                };
                for (k, event) in events.into_iter().enumerate() {
                    let mut event: Json = serde_json::to_value(event).expect("a test event converts to JSON");
                    if let Some(map) = event.as_object_mut() {
                        map.remove("repeat");
                    }
                    out.push((format!("{name}/{test_name}#{k}"), event));
                }
            }
        }
    }
    out
}

/// The corpus: fixtures, then rule test events, without duplicates; each gets a fresh uuid and a
/// `published` when it has none, so both sides see exactly the same object.
fn corpus() -> Vec<(String, Json)> {
    let mut all: Vec<(String, Json)> = golden_inputs()
        .into_iter()
        .map(|(name, bytes)| (name, serde_json::from_slice(&bytes).expect("a fixture is JSON")))
        .collect();
    all.extend(rule_test_events());
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (name, mut event) in all {
        let Some(map) = event.as_object_mut() else { continue };
        map.remove("uuid");
        if !seen.insert(event.to_string()) {
            continue;
        }
        let n = out.len();
        let map = event.as_object_mut().expect("an object");
        map.insert("uuid".into(), Json::String(format!("oracle-{n}")));
        map.entry("published").or_insert_with(|| {
            Json::String(format!("2026-01-01T{:02}:{:02}:{:02}.000Z", n / 3600 % 24, n / 60 % 60, n % 60))
        });
        out.push((name, event));
    }
    out
}

/// Our decisions: for each event, whether the rule (alone, without alert controls) alerted on it.
fn ours(rule: &Candidate, events: &[(String, Json)]) -> Vec<bool> {
    let config = Config {
        tenant_id: "oracle.okta.com".into(),
        tenant_domain: None,
        output: OutputOptions::default(),
        detection: DetectionConfig {
            builtin_rules: false,
            rules: vec![RuleSource { name: format!("oracle:{}", rule.name), text: rule.text.clone() }],
            ..DetectionConfig::default()
        },
    };
    let mut engine =
        Engine::new(config).unwrap_or_else(|e| panic!("{}: our engine rejects it: {}", rule.name, e.message));
    let ndjson: String = events.iter().map(|(_, e)| format!("{e}\n")).collect();
    let result = engine
        .normalize(ndjson.as_bytes(), &BatchOptions { format: InputFormat::Ndjson, ingested: None })
        .expect("NDJSON reads");
    for o in &result.outcomes {
        assert!(matches!(o.outcome, Outcome::Normalized(_)), "event {} did not normalize", events[o.index as usize].0);
    }
    let alerted: BTreeSet<&str> = result.alerts.iter().flat_map(|a| a.event_uuids.iter().map(String::as_str)).collect();
    events.iter().map(|(_, e)| alerted.contains(e["uuid"].as_str().expect("a uuid"))).collect()
}

/// rsigma's decisions.
fn theirs(rule: &Candidate, events: &[(String, Json)]) -> Vec<bool> {
    let collection = rsigma_parser::parse_sigma_yaml(&rule.text)
        .unwrap_or_else(|e| panic!("{}: rsigma cannot parse it: {e}", rule.name));
    assert_eq!(collection.rules.len(), 1, "{}: rsigma sees one detection rule", rule.name);
    let compiled = rsigma_eval::compile_rule(&collection.rules[0])
        .unwrap_or_else(|e| panic!("{}: rsigma cannot compile it: {e}", rule.name));
    events
        .iter()
        .map(|(_, e)| rsigma_eval::evaluate_rule(&compiled, &rsigma_eval::JsonEvent::borrow(e)).is_some())
        .collect()
}

#[test]
fn rsigma_agrees_on_single_event_rules() {
    let (rules, skipped) = candidates();
    let events = corpus();
    let mut decisions = 0usize;
    let mut agreements = 0usize;
    let (mut ours_true, mut theirs_true) = (0usize, 0usize);
    let mut allowed_used = 0usize;
    let mut rules_matching = 0usize;
    let mut disagreements = Vec::new();
    for rule in &rules {
        let a = ours(rule, &events);
        let b = theirs(rule, &events);
        rules_matching += usize::from(a.iter().any(|&m| m));
        for (i, (ours, theirs)) in a.into_iter().zip(b).enumerate() {
            decisions += 1;
            ours_true += usize::from(ours);
            theirs_true += usize::from(theirs);
            if ours == theirs {
                agreements += 1;
                continue;
            }
            let event = &events[i].0;
            if ALLOWED.iter().any(|(r, e, _)| *r == rule.name && e == event) {
                allowed_used += 1;
                continue;
            }
            disagreements.push(format!("{} × {event}: ours {ours}, rsigma {theirs}", rule.name));
        }
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, reason) in &skipped {
        *reasons.entry(reason.rsplit_once(" (").map_or("other", |(_, r)| r.trim_end_matches(')'))).or_default() += 1;
    }
    println!("sigma oracle: skipped {} detection rules: {reasons:?}", skipped.len());
    println!(
        "sigma oracle: {} rules compared, {} events, {decisions} decisions compared, {agreements} agreements \
         ({allowed_used} allowed differences; matches: ours {ours_true}, rsigma {theirs_true}; \
         {rules_matching} rules matched some event)",
        rules.len(),
        events.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements with rsigma:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(rules.len() >= 30, "only {} rules compared", rules.len());
    assert!(decisions >= 1000, "only {decisions} decisions compared");
    assert!(ours_true > 0 && theirs_true > 0, "no event matched any rule: the comparison proves nothing");
}
