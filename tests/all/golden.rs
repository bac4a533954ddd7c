//! Golden files: `tests/cases/normalize/<eventType>--<variant>.json` → `tests/cases/expected/<same>.json`.
//!
//! The expected file holds the ECS document and the diagnostics, pretty-printed. When a mapping
//! changes on purpose, regenerate with `OKTA_NORMALIZER_BLESS=1 cargo test -p okta-normalizer-tests golden`
//! and review the diff in git.

use okta_normalizer_core::{Engine, InputFormat, Outcome};
use okta_normalizer_tests::{batch, cases, config, golden_inputs};
use serde_json::{Value, json};

fn expected_for(name: &str, input: &[u8]) -> String {
    let mut engine = Engine::new(config()).expect("valid config");
    let result = engine.normalize(input, &batch(InputFormat::Auto)).expect("auto never fails");
    assert_eq!(result.outcomes.len(), 1, "{name}: a golden input holds exactly one event");
    let rendered = match &result.outcomes[0].outcome {
        Outcome::Normalized(n) => json!({
            "document": serde_json::from_str::<Value>(&n.document).expect("documents are JSON"),
            "diagnostics": n.diagnostics.iter().map(|d| json!({"code": d.code, "path": d.path, "message": d.message})).collect::<Vec<_>>(),
        }),
        Outcome::Failed(e) => panic!("{name}: golden inputs must normalize, got {} {}", e.code, e.message),
    };
    serde_json::to_string_pretty(&rendered).expect("serializable") + "\n"
}

#[test]
fn every_fixture_matches_its_golden_file() {
    let bless = std::env::var_os("OKTA_NORMALIZER_BLESS").is_some();
    let inputs = golden_inputs();
    assert!(inputs.len() >= 40, "expected at least 40 golden inputs, found {}", inputs.len());
    let mut failures = Vec::new();
    for (name, input) in &inputs {
        let actual = expected_for(name, input);
        let path = cases("expected").join(format!("{name}.json"));
        if bless {
            std::fs::write(&path, &actual).expect("writable expected file");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != actual {
            let diff = similar::TextDiff::from_lines(&expected, &actual);
            failures.push(format!(
                "{name}: output differs from {} (bless with OKTA_NORMALIZER_BLESS=1 if intended)\n{}",
                path.display(),
                diff.unified_diff().context_radius(2).header("expected", "actual")
            ));
        }
    }
    assert!(failures.is_empty(), "{} golden mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_expected_file_has_an_input() {
    let names: Vec<String> = golden_inputs().into_iter().map(|(n, _)| n).collect();
    for entry in std::fs::read_dir(cases("expected")).expect("expected dir") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().expect("name").to_string_lossy().into_owned();
        assert!(names.contains(&stem), "{} has no input in tests/cases/normalize; delete it", path.display());
    }
}

#[test]
fn golden_inputs_cover_at_least_40_event_types() {
    let mut types: Vec<String> =
        golden_inputs().iter().map(|(n, _)| n.split("--").next().expect("name").to_owned()).collect();
    types.sort();
    types.dedup();
    assert!(types.len() >= 40, "only {} distinct event types have golden files", types.len());
}
