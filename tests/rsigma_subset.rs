//! The built-in pack's plain single-event detection rules that rsigma (`rsigma-parser` +
//! `rsigma-eval`, pinned, used only by tests and benchmarks) can read as we do. Shared by the
//! differential oracle (`all/sigma_oracle.rs`) and the detection benchmark's peer comparison
//! (`benches/detect.rs`), so both use the same rules.
//!
//! Rules that use what rsigma does not have, or where our semantics differ on purpose
//! (`rules/README.md` §1), are left out: `[type=...]` element selectors, `|expand` placeholders,
//! paths into debugData's `{k=v}` strings, and ECS field names (we fall back to the ECS document;
//! rsigma sees only the raw LogEvent).

use serde::Deserialize;
use yaml_serde::Value as Yaml;

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
pub(crate) struct Candidate {
    pub(crate) name: String,
    /// The rule without its `x-okta` key (no threshold or dedup: every match alerts).
    pub(crate) text: String,
}

pub(crate) fn yaml_docs(text: &str) -> Vec<Yaml> {
    yaml_serde::Deserializer::from_str(text)
        .map(|doc| Yaml::deserialize(doc).expect("the pack is valid YAML"))
        .collect()
}

pub(crate) fn get<'v>(v: &'v Yaml, key: &str) -> Option<&'v Yaml> {
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
pub(crate) fn candidates() -> (Vec<Candidate>, Vec<(String, String)>) {
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
