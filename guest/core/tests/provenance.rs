//! Every field of every golden document has a known origin (the provenance table covers the
//! whole mapping), every copied value really equals its Okta source, and `Engine::inspect`
//! explains the rules an event matches.

use std::path::Path;

use okta_normalizer_core::{BatchOptions, Config, DetectionConfig, Engine, Origin, OutputOptions};

fn engine(builtin_rules: bool) -> Engine {
    Engine::new(Config {
        tenant_id: "acme.okta.com".into(),
        tenant_domain: Some("acme.okta.com".into()),
        output: OutputOptions { preserve_original: true, redact_secrets: true },
        detection: DetectionConfig { builtin_rules, ..DetectionConfig::default() },
    })
    .expect("the config is valid")
}

fn goldens() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/normalize");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases/normalize exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() > 50, "expected the golden inputs in {}", dir.display());
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// The value at an Okta path as `provenance` writes it (`a.b[2].c`).
fn at<'v>(event: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    let mut node = event;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().ok()?)),
            None => (part, None),
        };
        node = node.get(key)?;
        if let Some(i) = index {
            node = node.get(i)?;
        }
    }
    Some(node)
}

#[test]
fn every_golden_field_has_a_known_origin() {
    let mut engine = engine(false);
    let options = BatchOptions { ingested: Some("2026-11-21T00:00:00.000Z".into()), ..BatchOptions::default() };
    let mut fields = 0;
    let mut copied = 0;
    for (name, input) in goldens() {
        let result = engine.normalize(input.as_bytes(), &options).expect("a golden input decodes");
        let insight = engine.inspect(input.as_bytes(), &result, 0).unwrap_or_else(|| panic!("{name}: no insight"));
        let event: serde_json::Value = serde_json::from_str(&input).unwrap();
        assert!(!insight.fields.is_empty(), "{name}: no fields traced");
        for f in &insight.fields {
            fields += 1;
            assert_ne!(f.origin, Origin::Unknown, "{name}: {} = {} has no known origin", f.field, f.value);
            if matches!(f.origin, Origin::Copied | Origin::Derived) {
                assert!(!f.source.is_empty(), "{name}: {} has no source path", f.field);
            }
            if f.origin == Origin::Copied {
                copied += 1;
                let source = at(&event, &f.source)
                    .unwrap_or_else(|| panic!("{name}: {} names {} which is not in the event", f.field, f.source));
                let value: serde_json::Value = serde_json::from_str(&f.value).unwrap();
                let scalar_text = |v: &serde_json::Value| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Some(v.to_string()),
                    _ => None,
                };
                assert!(
                    *source == value || scalar_text(source).is_some_and(|t| Some(t) == scalar_text(&value)),
                    "{name}: {} = {} but {} = {source}",
                    f.field,
                    f.value,
                    f.source
                );
            }
        }
    }
    println!("{fields} fields traced, {copied} copied");
    assert!(copied * 2 > fields, "most fields should be plain copies ({copied} of {fields})");
}

#[test]
fn inspect_names_the_rule_and_the_matching_fields() {
    let mut engine = engine(true);
    let options = BatchOptions { ingested: Some("2026-11-21T00:00:00.000Z".into()), ..BatchOptions::default() };
    let mut explained = 0;
    for (name, input) in goldens() {
        let result = engine.normalize(input.as_bytes(), &options).expect("a golden input decodes");
        let insight = engine.inspect(input.as_bytes(), &result, 0).unwrap_or_else(|| panic!("{name}: no insight"));
        // Every alert a single event raised on its own comes from a rule that inspect explains.
        for alert in result.alerts.iter().filter(|a| a.event_uuids.len() == 1) {
            let Some(m) = insight.matches.iter().find(|m| m.rule_id == alert.rule_id) else {
                continue; // a correlation over this one event: its detection is explained instead
            };
            assert!(!m.fields.is_empty(), "{name}: {} matched on no field", m.rule_name);
            assert!(m.fields.iter().any(|f| !f.values.is_empty()), "{name}: {} shows no values", m.rule_name);
            explained += 1;
        }
    }
    assert!(explained > 5, "only {explained} alerts were explained");
}
