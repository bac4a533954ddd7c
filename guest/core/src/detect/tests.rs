//! Engine-level tests: rules in, events in, alerts out, through [`crate::Engine`].

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{AlertKind, BatchOptions, Config, DetectionConfig, Engine, InputFormat, OutputOptions, RuleSource};

fn engine_with(rules: &[&str], placeholders: Vec<(String, Vec<String>)>) -> Engine {
    let config = Config {
        tenant_id: "acme.okta.com".into(),
        tenant_domain: None,
        output: OutputOptions::default(),
        detection: DetectionConfig {
            builtin_rules: false,
            rules: rules
                .iter()
                .enumerate()
                .map(|(i, t)| RuleSource { name: format!("r{i}.yml"), text: (*t).into() })
                .collect(),
            placeholders,
            reorder_tolerance_ms: 60_000,
        },
    };
    match Engine::new(config) {
        Ok(e) => e,
        Err(e) => panic!("{}: {:#?}", e.message, e.rule_errors),
    }
}

fn engine(rules: &[&str]) -> Engine {
    engine_with(rules, Vec::new())
}

fn ev(uuid: &str, minute: u32, extra: Value) -> Value {
    let mut e = json!({
        "uuid": uuid,
        "published": format!("2026-03-01T10:{minute:02}:00.000Z"),
        "eventType": "user.mfa.okta_verify.deny_push",
        "actor": {"alternateId": "a@example.com", "type": "User"},
        "client": {"ipAddress": "203.0.113.9"},
        "outcome": {"result": "FAILURE"},
    });
    if let (Value::Object(e), Value::Object(x)) = (&mut e, extra) {
        e.extend(x);
    }
    e
}

fn run(engine: &mut Engine, events: &[Value], page: bool) -> Vec<crate::Alert> {
    let (input, format) = if page {
        (Value::Array(events.to_vec()).to_string(), InputFormat::Auto)
    } else {
        (events.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"), InputFormat::Ndjson)
    };
    engine.normalize(input.as_bytes(), &BatchOptions { format, ingested: None }).unwrap().alerts
}

const DENY: &str = r#"
title: Okta MFA push denied
id: 0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b11
name: okta_mfa_push_denied
description: A user denied an Okta Verify push.
references: [https://help.okta.com/]
tags: [attack.credential-access, attack.t1621]
detection:
  selection:
    eventType: user.mfa.okta_verify.deny_push
  filter_internal:
    actor.alternateId|endswith: '@okta.com'
  condition: selection and not filter_internal
level: medium
"#;

#[test]
fn single_event_alert_document() {
    for page in [false, true] {
        let mut e = engine(&[DENY]);
        let alerts =
            run(&mut e, &[ev("u1", 0, json!({})), ev("u2", 1, json!({"eventType": "user.session.start"}))], page);
        assert_eq!(alerts.len(), 1, "page={page}");
        let a = &alerts[0];
        assert_eq!(
            (a.rule_name.as_str(), a.kind, a.severity.as_str(), a.risk_score),
            ("okta_mfa_push_denied", AlertKind::Alert, "medium", 47)
        );
        assert_eq!(a.event_uuids, ["u1"]);
        let doc: Value = serde_json::from_str(&a.document).unwrap();
        assert_eq!(doc["@timestamp"], "2026-03-01T10:00:00.000Z");
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["severity"], 47);
        assert_eq!(doc["event"]["id"], a.id);
        assert_eq!(doc["message"], "Okta MFA push denied");
        assert_eq!(doc["rule"]["name"], "Okta MFA push denied");
        assert_eq!(doc["rule"]["reference"], "https://help.okta.com/");
        assert_eq!(doc["threat"]["tactic"]["id"], json!(["TA0006"]));
        assert_eq!(doc["threat"]["technique"]["name"], json!(["Multi-Factor Authentication Request Generation"]));
        assert_eq!(doc["okta"]["alert"]["event_uuids"], json!(["u1"]));
        assert_eq!(doc["related"]["user"], json!(["a@example.com"]));
        assert_eq!(doc["related"]["ip"], json!(["203.0.113.9"]));
        assert_eq!(doc["organization"]["id"], "acme.okta.com");
    }
}

#[test]
fn alert_ids_are_deterministic_and_duplicates_do_not_realert() {
    let mut a = engine(&[DENY]);
    let mut b = engine(&[DENY]);
    let first = run(&mut a, &[ev("u1", 0, json!({}))], false);
    assert_eq!(first, run(&mut b, &[ev("u1", 0, json!({}))], true));
    assert!(run(&mut a, &[ev("u1", 0, json!({}))], false).is_empty(), "a duplicate delivery");
    b.mark_seen(&["u9".into()]);
    assert!(run(&mut b, &[ev("u9", 1, json!({}))], false).is_empty(), "marked as seen by the host");
}

#[test]
fn filters_and_case_insensitive_events() {
    let filter = r#"
title: Break-glass accounts
id: 9a1b0000-0000-4000-8000-000000000001
name: filter_break_glass
filter:
  rules: [okta_mfa_push_denied]
  selection:
    actor.alternateId|expand: '%break_glass%'
  condition: not selection
"#;
    let mut e = engine_with(&[DENY, filter], vec![("break_glass".into(), vec!["bg@example.com".into()])]);
    let events = [
        ev("u1", 0, json!({"actor": {"alternateId": "bg@example.com"}})),
        ev("u2", 1, json!({"actor": {"alternateId": "x@okta.com"}})),
        json!({"UUID": "u3", "published": "2026-03-01T10:02:00.000Z", "EVENTTYPE": "User.MFA.Okta_Verify.Deny_Push", "ACTOR": {"ALTERNATEID": "c@example.com"}}),
    ];
    let alerts = run(&mut e, &events, false);
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].document.contains("c@example.com") || alerts[0].event_uuids.is_empty());
}

#[test]
fn controls_title_severity_threshold_dedup_signal() {
    let rule = r#"
title: Denied pushes
id: 0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b12
name: denied_pushes
detection:
  selection:
    eventType: user.mfa.okta_verify.deny_push
  condition: selection
level: low
x-okta:
  signal: true
  title: "Denied for {actor.alternateId} from {client.ipAddress} ({missing.field})"
  severity:
    - when: {client.ipAddress|cidr: 203.0.113.0/24}
      level: high
  threshold: 3
  dedup: {by: [actor.alternateId], window: 10m}
"#;
    let mut e = engine(&[rule]);
    let events: Vec<Value> = (0..8).map(|i| ev(&format!("u{i}"), i, json!({}))).collect();
    let alerts = run(&mut e, &events, false);
    // The 3rd match alerts; the next ones fall inside the 10-minute dedup window.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!((a.kind, a.severity.as_str(), a.risk_score), (AlertKind::Signal, "high", 73));
    let doc: Value = serde_json::from_str(&a.document).unwrap();
    assert_eq!(doc["message"], "Denied for a@example.com from 203.0.113.9 (-)");
    assert_eq!(doc["event"]["kind"], "signal");
    assert_eq!(doc["okta"]["alert"]["count"], 3);
    assert_eq!(doc["@timestamp"], "2026-03-01T10:02:00.000Z");
    // Past the window, three more matches alert again.
    let later: Vec<Value> = (20..23).map(|i| ev(&format!("v{i}"), i, json!({}))).collect();
    assert_eq!(run(&mut e, &later, false).len(), 1);
    // Another key has its own tally.
    let other: Vec<Value> =
        (23..26).map(|i| ev(&format!("w{i}"), i, json!({"actor": {"alternateId": "b@example.com"}}))).collect();
    assert_eq!(run(&mut e, &other, false).len(), 1);
}

const BOMBING: &str = r#"
title: Push bombing
id: 5b0e7a2c-8d71-4c4e-a0a7-0c6b2f3d9a10
name: okta_mfa_push_bombing
correlation:
  type: event_count
  rules: [0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b11]
  group-by: [actor.alternateId]
  timespan: 10m
  condition: {gte: 3}
level: high
x-okta:
  title: "Push bombing against {actor.alternateId}"
"#;

#[test]
fn correlations_take_over_alerting_and_chain() {
    let chained = r#"
title: Bombing twice
id: 5b0e7a2c-8d71-4c4e-a0a7-0c6b2f3d9a11
name: bombing_twice
correlation:
  type: event_count
  rules: [okta_mfa_push_bombing]
  group-by: [actor.alternateId]
  timespan: 1h
  condition: {gte: 2}
generate: true
level: critical
"#;
    let mut e = engine(&[DENY, BOMBING, chained]);
    let events: Vec<Value> = (0..6).map(|i| ev(&format!("u{i}"), i, json!({}))).collect();
    let alerts = run(&mut e, &events, false);
    let names: Vec<&str> = alerts.iter().map(|a| a.rule_name.as_str()).collect();
    // The referenced rule stays quiet; the bombing fires at the 3rd and 6th push; the chained
    // correlation fires on the second bombing.
    assert_eq!(names, ["okta_mfa_push_bombing", "okta_mfa_push_bombing", "bombing_twice"]);
    let doc: Value = serde_json::from_str(&alerts[0].document).unwrap();
    assert_eq!(doc["message"], "Push bombing against a@example.com");
    assert_eq!(doc["okta"]["alert"]["count"], 3);
    assert_eq!(doc["okta"]["alert"]["group"]["actor.alternateId"], "a@example.com");
    assert_eq!(alerts[0].event_uuids, ["u0", "u1", "u2"]);
    assert_eq!(alerts[2].severity, "critical");
    assert_eq!(
        e.rules().iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        ["detection", "correlation:event_count", "correlation:event_count"]
    );
}

#[test]
fn late_events_do_not_feed_correlations_and_state_round_trips() {
    let mut e = engine(&[DENY, BOMBING]);
    run(&mut e, &[ev("u0", 0, json!({})), ev("u1", 1, json!({})), ev("n", 30, json!({"eventType": "x"}))], false);
    // 10:02 is older than the watermark (10:30 − 1 min), so it does not count.
    assert!(run(&mut e, &[ev("u2", 2, json!({}))], false).is_empty());
    let state = e.export_state();
    assert_eq!(state, e.export_state(), "deterministic");
    let mut restored = engine(&[DENY, BOMBING]);
    restored.import_state(&state).unwrap();
    assert_eq!(restored.export_state(), state);
    let fresh: Vec<Value> = (31..34).map(|i| ev(&format!("f{i}"), i, json!({}))).collect();
    assert_eq!(run(&mut restored, &fresh, false).len(), 1);
    assert_eq!(run(&mut e, &fresh, false).len(), 1);
    assert_eq!(restored.export_state(), e.export_state());
    let err = restored.import_state(b"not json").unwrap_err();
    assert!(err.message.starts_with("the detection state could not be read"), "{}", err.message);
    assert!(restored.import_state(b"").is_ok());
    // State of rules that are gone is dropped.
    let mut other = engine(&[DENY]);
    other.import_state(&state).unwrap();
    assert!(!String::from_utf8(other.export_state()).unwrap().contains("okta_mfa_push_bombing"));
}

/// Parts a host got from the changes read back; parts that are not say which one and why.
#[test]
fn state_parts_round_trip_and_errors_name_the_part() {
    use crate::StatePart;

    let mut e = engine(&[DENY, BOMBING]);
    run(&mut e, &[ev("u0", 0, json!({})), ev("u1", 1, json!({}))], false);
    let changes = e.export_state_changes();
    assert_eq!(changes.dropped_prefixes, [""], "the first changes replace every part");
    let parts = changes.written;
    assert!(parts.iter().any(|p| p.key.starts_with(r#"["g","okta_mfa_push_bombing","#)), "{parts:?}");
    let mut restored = engine(&[DENY, BOMBING]);
    restored.import_state_parts(&parts).unwrap();
    let fresh: Vec<Value> = (2..4).map(|i| ev(&format!("f{i}"), i, json!({}))).collect();
    assert_eq!(run(&mut restored, &fresh, false).len(), 1, "the restored windows count the first two");
    assert_eq!(run(&mut e, &fresh, false).len(), 1);

    let mut with = |key: &str, value: &str| {
        let mut parts = parts.clone();
        parts.push(StatePart { key: key.into(), value: value.into() });
        restored.import_state_parts(&parts).unwrap_err().message
    };
    let message = with("not a key", "{}");
    assert!(message.starts_with("the detection state part not a key has a key that is not a JSON array"), "{message}");
    let message = with(r#"["x"]"#, "{}");
    assert!(message.contains(r#"part ["x"] is not a part this version writes"#), "{message}");
    let message = with(r#"["g","okta_mfa_push_bombing","[\"k\"]"]"#, "[1,");
    assert!(message.contains(r#"part ["g","okta_mfa_push_bombing","[\"k\"]"] is not a group (EOF"#), "{message}");
    let no_head: Vec<StatePart> = parts.iter().filter(|p| p.key != r#"["h"]"#).cloned().collect();
    let message = restored.import_state_parts(&no_head).unwrap_err().message;
    assert!(message.contains(r#"no ["h"] part"#), "{message}");
    assert!(restored.import_state_parts(&[]).is_ok(), "no parts are an empty state");
}

#[test]
fn rule_errors_make_a_config_error() {
    let bad = DENY.replace("endswith", "endswiht");
    let config = Config {
        tenant_id: "acme".into(),
        tenant_domain: None,
        output: OutputOptions::default(),
        detection: DetectionConfig {
            builtin_rules: false,
            rules: vec![RuleSource { name: "bad.yml".into(), text: bad }],
            ..DetectionConfig::default()
        },
    };
    let err = Engine::new(config).unwrap_err();
    assert_eq!(err.field, "detection.rules");
    assert_eq!(
        err.message,
        "1 problem in the rules; the first: bad.yml:12:5 (rule okta_mfa_push_denied): R010 unknown modifier 'endswiht' on 'actor.alternateId'; did you mean 'endswith'?"
    );
    assert_eq!(err.rule_errors.len(), 1);
}

#[test]
fn keywords_and_ecs_fields() {
    let rule = r#"
title: ECS and keywords
id: 0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b13
name: ecs_keywords
detection:
  ecs:
    event.action: user.mfa.okta_verify.deny_push
    source.ip|cidr: 203.0.113.0/24
  words:
    - 'deny_push'
  condition: ecs and words
"#;
    let mut e = engine(&[rule]);
    assert_eq!(run(&mut e, &[ev("u1", 0, json!({}))], true).len(), 1);
}

#[test]
fn in_rule_tests_run_twice() {
    let rule = format!(
        "{DENY}x-okta:\n  tests:\n    - name: one push\n      event: {{eventType: user.mfa.okta_verify.deny_push, actor: {{alternateId: a@example.com}}}}\n      expect: {{fires: 1, severity: medium, title: Okta MFA push denied}}\n    - name: wrong\n      event: {{eventType: user.session.start}}\n      expect: {{fires: 1}}\n"
    );
    let results = crate::test_rules(&[RuleSource { name: "t.yml".into(), text: rule }], false).unwrap();
    let summary: Vec<(String, bool, bool)> = results.iter().map(|r| (r.test.clone(), r.lowercased, r.passed)).collect();
    assert_eq!(
        summary,
        [
            ("one push".into(), false, true),
            ("one push".into(), true, true),
            ("wrong".into(), false, false),
            ("wrong".into(), true, false)
        ]
    );
    assert_eq!(results[2].message, "expected fires: 1, got 0");
}

#[test]
fn lint_and_builtin() {
    let errs = crate::lint_rules(&RuleSource { name: "x.yml".into(), text: BOMBING.into() });
    assert!(errs.is_empty(), "{errs:#?}");
    let names: Vec<String> = crate::builtin_rules().into_iter().map(|s| s.name).collect();
    assert!(names.iter().all(|n| n.starts_with("builtin:")));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever a host hands back as parts, the engine reads it or says why, and never panics.
    #[test]
    fn importing_parts_never_panics(
        parts in prop::collection::vec(
            (
                prop_oneof![
                    Just(r#"["h"]"#.to_owned()),
                    "\\[\"[hnstg]\"(,\"[a-z_\\[\\]\"]{0,8}\"){0,3}\\]",
                    "\\PC{0,12}",
                ],
                prop_oneof![
                    Just(br#"{"v":1}"#.to_vec()),
                    Just(br#"{"fp":"x","kind":"window"}"#.to_vec()),
                    Just(br#"{"e":[{"t":1,"k":"a","u":["u"]}],"last":1}"#.to_vec()),
                    prop::collection::vec(any::<u8>(), 0..40),
                ],
            ),
            0..8,
        ),
    ) {
        let parts: Vec<crate::StatePart> =
            parts.into_iter().map(|(key, value)| crate::StatePart { key, value }).collect();
        let mut e = engine(&[DENY, BOMBING]);
        let _ = e.import_state_parts(&parts);
        let _ = e.export_state_changes();
    }

    #[test]
    fn loading_never_panics(text in "\\PC{0,200}") {
        let _ = crate::lint_rules(&RuleSource { name: "p.yml".into(), text });
    }

    #[test]
    fn rule_shaped_text_never_panics(key in "[a-zA-Z.|\\[\\]=*?\\\\]{0,20}", value in "[a-zA-Z0-9 *?%\\\\/.:-]{0,20}", cond in "[a-z_ ()*01]{0,30}") {
        let text = format!("title: t\nid: 0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b11\nname: n\ndetection:\n  sel:\n    '{key}': '{value}'\n  condition: '{cond}'\n");
        let _ = crate::lint_rules(&RuleSource { name: "p.yml".into(), text });
    }

    #[test]
    fn conditions_never_panic(cond in "\\PC{0,60}") {
        let names = vec!["selection".to_owned(), "filter".to_owned()];
        let _ = super::condition::parse(&cond, &names);
    }

    #[test]
    fn patterns_never_panic(pattern in "\\PC{0,20}", value in "\\PC{0,30}") {
        for kind in ["", "contains", "startswith", "endswith"] {
            let _ = super::modifiers::pattern(&pattern, kind, false).matches(&value);
        }
    }
}
