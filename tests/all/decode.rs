//! The five input shapes, detection, line numbers and mismatch errors, through the core.

use okta_normalizer_core::{Engine, InputFormat, Outcome};
use okta_normalizer_tests::{batch, config, golden_inputs, shapes};

fn uuids(input: &[u8], format: InputFormat) -> (InputFormat, Vec<Option<String>>) {
    let r = Engine::new(config()).expect("config").normalize(input, &batch(format)).expect("decodes");
    let ids = r
        .outcomes
        .iter()
        .map(|o| match &o.outcome {
            Outcome::Normalized(n) => n.uuid.clone(),
            Outcome::Failed(e) => panic!("unexpected failure {} {}", e.code, e.message),
        })
        .collect();
    (r.format, ids)
}

#[test]
fn every_shape_is_detected_and_unwrapped() {
    let inputs = golden_inputs();
    let texts: Vec<&str> = inputs.iter().take(5).map(|(_, b)| std::str::from_utf8(b).expect("utf-8")).collect();
    let expected: Vec<Option<String>> = texts
        .iter()
        .map(|t| serde_json::from_str::<serde_json::Value>(t).expect("json")["uuid"].as_str().map(str::to_owned))
        .collect();
    for (format, bytes) in shapes(&texts) {
        let (detected, ids) = uuids(&bytes, InputFormat::Auto);
        assert_eq!(detected, format, "auto detection of {format:?}");
        let want = match format {
            InputFormat::Eventbridge | InputFormat::LogEvent => expected[..1].to_vec(),
            _ => expected.clone(),
        };
        assert_eq!(ids, want, "events of {format:?}");
        assert_eq!(uuids(&bytes, format).1, want, "named {format:?}");
    }
}

#[test]
fn named_format_mismatch_is_a_batch_error() {
    let mut engine = Engine::new(config()).expect("config");
    let err = engine.normalize(b"[]", &batch(InputFormat::EventHook)).expect_err("mismatch");
    assert_eq!(err.code, "B001");
    assert!(err.message.contains("event-hook") && err.message.contains("API page"), "{}", err.message);
    let err = engine.normalize(b"{\"uuid\":\"a\"}", &batch(InputFormat::ApiPage)).expect_err("mismatch");
    assert!(err.message.contains("not a JSON array"), "{}", err.message);
}

#[test]
fn ndjson_reports_bad_lines_with_their_line_numbers_and_keeps_going() {
    let input = b"{\"uuid\":\"a\",\"eventType\":\"user.session.start\"}\n\nnot json\n{\"uuid\":\"b\",\"eventType\":\"user.session.end\"}\n";
    let r = Engine::new(config()).expect("config").normalize(input, &batch(InputFormat::Auto)).expect("decodes");
    assert_eq!(r.format, InputFormat::Ndjson);
    let lines: Vec<u32> = r.outcomes.iter().map(|o| o.line).collect();
    assert_eq!(lines, vec![1, 3, 4]);
    match &r.outcomes[1].outcome {
        Outcome::Failed(e) => {
            assert_eq!(e.code, "D001");
            assert_eq!(e.raw, "not json");
            assert!(e.message.starts_with("invalid JSON at line 1 column 2"), "{}", e.message);
            let doc: serde_json::Value = serde_json::from_str(&e.document).expect("error doc is JSON");
            assert_eq!(doc["event"]["kind"], "pipeline_error");
            assert_eq!(doc["event"]["original"], "not json");
            assert_eq!(doc["error"]["code"], "D001");
            assert_eq!(doc["organization"]["id"], "acme.okta.com");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn api_page_elements_report_their_lines() {
    let input = b"[\n  {\"uuid\":\"a\"},\n  {\"uuid\":\"b\"},\n  7\n]";
    let r = Engine::new(config()).expect("config").normalize(input, &batch(InputFormat::Auto)).expect("decodes");
    let lines: Vec<u32> = r.outcomes.iter().map(|o| o.line).collect();
    assert_eq!(lines, vec![2, 3, 4]);
    assert!(matches!(&r.outcomes[2].outcome, Outcome::Failed(e) if e.code == "D002" && e.message.contains("a number")));
}

#[test]
fn invalid_utf8_keeps_the_other_lines() {
    let input = b"{\"uuid\":\"a\"}\n{\"uuid\":\"\xff\"}\n{\"uuid\":\"c\"}\n";
    let r = Engine::new(config()).expect("config").normalize(input, &batch(InputFormat::Auto)).expect("decodes");
    assert_eq!(r.outcomes.len(), 3);
    assert!(matches!(&r.outcomes[1].outcome, Outcome::Failed(e) if e.code == "D004" && e.raw.contains('\u{FFFD}')));
    assert!(matches!(&r.outcomes[2].outcome, Outcome::Normalized(n) if n.uuid.as_deref() == Some("c")));
}

#[test]
fn empty_input_gives_no_outcomes() {
    let r = Engine::new(config()).expect("config").normalize(b"\n  \n", &batch(InputFormat::Auto)).expect("decodes");
    assert!(r.outcomes.is_empty());
}

#[test]
fn hook_delivery_on_an_ndjson_line_is_unwrapped() {
    let hook = r#"{"data":{"events":[{"uuid":"h1"},{"uuid":"h2"}]},"eventType":"com.okta.event_hook"}"#;
    let input = format!("{{\"uuid\":\"a\"}}\n{hook}\n");
    let (format, ids) = uuids(input.as_bytes(), InputFormat::Auto);
    assert_eq!(format, InputFormat::Ndjson);
    assert_eq!(ids, vec![Some("a".into()), Some("h1".into()), Some("h2".into())]);
}

#[test]
fn compact_page_fast_path_matches_event_by_event() {
    let inputs = golden_inputs();
    let compact: Vec<String> =
        inputs.iter().map(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).expect("json").to_string()).collect();
    // Leading blank lines: every element of a one-line page is on the page's line.
    let page = format!("\n\n[{}]\n", compact.join(","));
    let mut engine = Engine::new(config()).expect("config");
    let fast = engine.normalize(page.as_bytes(), &batch(InputFormat::Auto)).expect("decodes");
    assert_eq!(fast.format, InputFormat::ApiPage);
    assert_eq!(fast.outcomes.len(), compact.len());
    for (i, (o, event)) in fast.outcomes.iter().zip(&compact).enumerate() {
        let one = engine.normalize(event.as_bytes(), &batch(InputFormat::LogEvent)).expect("decodes");
        assert_eq!((o.line, o.index), (3, u32::try_from(i).expect("small")));
        assert_eq!(o.outcome, one.outcomes[0].outcome, "{}", inputs[i].0);
    }
    // A page the fast path declines (an element that is not an object) still comes out whole.
    let mixed = format!("[{},7,{}]", compact[0], compact[1]);
    let r = engine.normalize(mixed.as_bytes(), &batch(InputFormat::Auto)).expect("decodes");
    assert_eq!(r.outcomes.len(), 3);
    assert!(matches!(&r.outcomes[1].outcome, Outcome::Failed(e) if e.code == "D002"));
}
