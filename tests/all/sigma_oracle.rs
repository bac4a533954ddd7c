//! A differential oracle for our Sigma evaluator (`guest/core/src/detect/`): every plain detection
//! rule of the built-in pack is evaluated by rsigma (`rsigma-parser` + `rsigma-eval`, pinned, used
//! only here) and by our engine over the same events, and the match decisions must agree.
//!
//! The events are every `tests/cases/normalize/*.json` fixture plus every test event written in
//! the pack's `x-okta.tests`. Our decision: the rule alone (its `x-okta` key removed, so there is
//! no threshold or dedup and every match alerts) in a fresh `Engine`, and whether it alerted on the
//! event. rsigma's: `evaluate_rule` on the raw LogEvent.
//!
//! Rules that use what rsigma does not have, or where our semantics differ on purpose
//! (`rules/README.md` §1), are left out rather than papered over: `[type=...]` element selectors,
//! `|expand` placeholders, paths into debugData's `{k=v}` strings, and ECS field names (we fall
//! back to the ECS document; rsigma sees only the raw LogEvent).

use std::collections::{BTreeMap, BTreeSet};

use okta_normalizer_core::{
    BatchOptions, Config, DetectionConfig, Engine, InputFormat, Outcome, OutputOptions, RuleSource,
};
use okta_normalizer_tests::golden_inputs;
use serde::Deserialize;
use serde_json::Value as Json;
use yaml_serde::Value as Yaml;

/// Disagreements that are intentional: `(rule name, event name, reason)`. Keep each one
/// explained; anything not listed here fails the test.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// The top-level keys of an Okta LogEvent: a rule field rooted elsewhere is an ECS field.
const LOG_EVENT_ROOTS: &[&str] = &[
    "actor",
    "authenticationContext",
    "client",
    "debugContext",
    "device",
    "displayMessage",
    "eventType",
    "legacyEventType",
    "outcome",
    "published",
    "request",
    "securityContext",
    "severity",
    "target",
    "transaction",
    "uuid",
    "version",
];

/// One detection document to compare: its name and the text both sides load.
struct Candidate {
    name: String,
    text: String,
}

fn yaml_docs(text: &str) -> Vec<Yaml> {
    yaml_serde::Deserializer::from_str(text)
        .map(|doc| Yaml::deserialize(doc).expect("the pack is valid YAML"))
        .collect()
}

fn get<'v>(v: &'v Yaml, key: &str) -> Option<&'v Yaml> {
    v.as_mapping().and_then(|m| m.get(key))
}

/// Why a detection document is left out, or `None` when both evaluators should agree on it.
fn skip_reason(doc: &Yaml) -> Option<String> {
    let detection = get(doc, "detection")?.as_mapping()?;
    let mut fields: Vec<(String, Vec<String>, Vec<&Yaml>)> = Vec::new();
    for (name, body) in detection {
        if matches!(name.as_str(), Some("condition" | "timeframe")) {
            continue;
        }
        let maps: Vec<&yaml_serde::Mapping> = match body {
            Yaml::Mapping(m) => vec![m],
            Yaml::Sequence(items) => items.iter().filter_map(Yaml::as_mapping).collect(),
            _ => Vec::new(),
        };
        for map in maps {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                let mut parts = key.split('|');
                let field = parts.next().unwrap_or_default().to_owned();
                let modifiers: Vec<String> = parts.map(str::to_owned).collect();
                let values = match value {
                    Yaml::Sequence(items) => items.iter().collect(),
                    other => vec![other],
                };
                fields.push((field, modifiers, values));
            }
        }
    }
    for (field, modifiers, values) in &fields {
        if modifiers.iter().any(|m| m == "expand") {
            return Some(format!("{field}|expand (placeholders)"));
        }
        let mut paths = vec![field.clone()];
        if modifiers.iter().any(|m| m == "fieldref") {
            paths.extend(values.iter().filter_map(|v| v.as_str()).map(str::to_owned));
        }
        for path in paths {
            if path.contains('[') {
                return Some(format!("{path} ([type=...] selector)"));
            }
            let segments: Vec<&str> = path.split('.').collect();
            if segments.len() > 3 && segments[0].eq_ignore_ascii_case("debugContext") {
                return Some(format!("{path} (debugData map path)"));
            }
            if !LOG_EVENT_ROOTS.contains(&segments[0]) {
                return Some(format!("{path} (not a LogEvent field: ECS fallback)"));
            }
        }
    }
    None
}

/// The pack's plain detection documents, and why each of the others was left out.
fn candidates() -> (Vec<Candidate>, Vec<(String, String)>) {
    let mut take = Vec::new();
    let mut skipped = Vec::new();
    for source in okta_normalizer_core::builtin_rules() {
        for mut doc in yaml_docs(&source.text) {
            let name = get(&doc, "name").and_then(Yaml::as_str).unwrap_or("?").to_owned();
            if get(&doc, "detection").is_none() {
                continue; // a correlation or a filter
            }
            if let Some(reason) = skip_reason(&doc) {
                skipped.push((name, reason));
                continue;
            }
            if let Some(map) = doc.as_mapping_mut() {
                map.remove("x-okta");
            }
            let text = yaml_serde::to_string(&doc).expect("serializable");
            take.push(Candidate { name, text });
        }
    }
    (take, skipped)
}

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
