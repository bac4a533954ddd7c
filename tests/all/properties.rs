//! Property tests: nothing panics on arbitrary input, normalization of any JSON object is total,
//! output is deterministic, and the component agrees with the native core on random input.

use okta_normalizer_core::{Engine, InputFormat, Outcome};
use okta_normalizer_tests::{batch, config, flatten_core, flatten_wit, golden_inputs, runtime, wit_batch, wit_config};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys that steer the parser into its interesting paths, mixed with random ones.
const KEYS: &[&str] = &[
    "uuid",
    "published",
    "eventType",
    "version",
    "severity",
    "legacyEventType",
    "displayMessage",
    "actor",
    "client",
    "device",
    "device_integrator",
    "authenticationContext",
    "securityContext",
    "debugContext",
    "debugData",
    "outcome",
    "target",
    "transaction",
    "request",
    "ipChain",
    "ipAddress",
    "geographicalContext",
    "geolocation",
    "lat",
    "lon",
    "userAgent",
    "rawUserAgent",
    "id",
    "type",
    "alternateId",
    "displayName",
    "detailEntry",
    "changeDetails",
    "from",
    "to",
    "behaviors",
    "risk",
    "logOnlySecurityData",
    "tunnels",
    "clientSecret",
    "asNumber",
    "isProxy",
    "ipDetails",
    "result",
    "reason",
    "detail",
    "requestApiTokenId",
    "authenticationStep",
    "issuer",
    "zone",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[ -~é€\u{1F600}\"\\\\{}=,]{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("2026-11-20T10:00:00.000Z"),
            Just("2017-09-31T00:00:00Z"),
            Just("{New IP=POSITIVE, New Device=NEGATIVE}"),
            Just("{reasons=a, b, level=HIGH}"),
            Just("[{\"type\":\"VPN\"}]"),
            Just("198.51.100.7"),
            Just("null"),
            Just("user.session.start"),
            Just("user.authentication.new_thing"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(KEYS).prop_map(str::to_owned), 1 => "[a-zA-Z_-]{1,8}"]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An object that is not an envelope (no top-level `data` or `detail`), so it is one LogEvent.
fn event_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..10)
        .prop_map(|kv| kv.into_iter().filter(|(k, _)| k != "data" && k != "detail").collect())
}

const FORMATS: [InputFormat; 6] = [
    InputFormat::Auto,
    InputFormat::LogEvent,
    InputFormat::ApiPage,
    InputFormat::Ndjson,
    InputFormat::EventHook,
    InputFormat::Eventbridge,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), f in 0usize..6) {
        let mut engine = Engine::new(config()).unwrap();
        let _ = engine.normalize(&bytes, &batch(FORMATS[f]));
    }

    #[test]
    fn arbitrary_json_never_panics(v in json(), f in 0usize..6) {
        let mut engine = Engine::new(config()).unwrap();
        let _ = engine.normalize(v.to_string().as_bytes(), &batch(FORMATS[f]));
    }

    #[test]
    fn any_object_normalizes_and_deterministically(o in event_object()) {
        let text = Value::Object(o).to_string();
        let mut engine = Engine::new(config()).unwrap();
        let first = engine.normalize(text.as_bytes(), &batch(InputFormat::LogEvent)).unwrap();
        prop_assert_eq!(first.outcomes.len(), 1);
        match &first.outcomes[0].outcome {
            Outcome::Normalized(n) => {
                let doc: Value = serde_json::from_str(&n.document).unwrap();
                prop_assert_eq!(&doc["organization"]["id"], "acme.okta.com");
                prop_assert!(!has_empty(&doc), "no null or empty artefacts: {}", n.document);
            }
            Outcome::Failed(e) => prop_assert!(false, "an object must normalize, got {} {}", e.code, e.message),
        }
        let again = engine.normalize(text.as_bytes(), &batch(InputFormat::LogEvent)).unwrap();
        prop_assert_eq!(&first, &again);
        let fresh = Engine::new(config()).unwrap().normalize(text.as_bytes(), &batch(InputFormat::LogEvent)).unwrap();
        prop_assert_eq!(&first, &fresh);
    }

    #[test]
    fn mutated_fixtures_still_normalize(which in any::<prop::sample::Index>(), path in prop::collection::vec(key(), 1..4), value in json()) {
        let inputs = golden_inputs();
        let (_, bytes) = &inputs[which.index(inputs.len())];
        let mut event: Value = serde_json::from_slice(bytes).unwrap();
        set_path(&mut event, &path, value);
        if event.get("data").is_some() || event.get("detail").is_some() {
            return Ok(());
        }
        let text = event.to_string();
        let r = Engine::new(config()).unwrap().normalize(text.as_bytes(), &batch(InputFormat::LogEvent)).unwrap();
        prop_assert!(matches!(r.outcomes[0].outcome, Outcome::Normalized(_)));
    }
}

/// A rule indexed by its `eventType`, so that not every event meets a rule.
const INDEXED_RULE: &str = "title: Session start from a proxy
id: 5b3e0c57-3d0e-4b55-9f1e-2a8f6c1d9e01
name: proxy_session_start
status: experimental
logsource: {product: okta, service: okta}
detection:
  selection:
    eventType: user.session.start
    securityContext.isProxy: true
  condition: selection
level: low
";

thread_local! {
    /// Engines kept across cases (building the pack per case would be most of the test's time;
    /// detection state does not touch outcomes): with the built-in rules (every event meets a
    /// rule), with one rule indexed by eventType, and without rules.
    static ENGINES: std::cell::RefCell<[Engine; 3]> = std::cell::RefCell::new({
        let mut plain = config();
        plain.detection.builtin_rules = false;
        let mut indexed = plain.clone();
        indexed.detection.rules =
            vec![okta_normalizer_core::RuleSource { name: "indexed.yml".into(), text: INDEXED_RULE.into() }];
        [Engine::new(config()).unwrap(), Engine::new(indexed).unwrap(), Engine::new(plain).unwrap()]
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// With rules, each event's text is read once into the tree detection walks, and the typed
    /// event is read from that tree; without, from the text. Outcomes must not depend on which:
    /// for single events, NDJSON (the general path) and one-line API pages (the compact path),
    /// random objects and mutated fixtures alike.
    #[test]
    fn outcomes_are_the_same_with_and_without_rules(
        objects in prop::collection::vec(event_object(), 1..4),
        which in any::<prop::sample::Index>(),
        path in prop::collection::vec(key(), 1..4),
        value in json(),
    ) {
        let inputs = golden_inputs();
        let mut fixture: Value = serde_json::from_slice(&inputs[which.index(inputs.len())].1).unwrap();
        set_path(&mut fixture, &path, value);
        let mut events: Vec<String> = objects.into_iter().map(|o| Value::Object(o).to_string()).collect();
        if fixture.get("data").is_none() && fixture.get("detail").is_none() {
            events.push(fixture.to_string());
        }
        let mut texts: Vec<(String, InputFormat)> = events.iter().map(|e| (e.clone(), InputFormat::LogEvent)).collect();
        texts.push((format!("[{}]", events.join(",")), InputFormat::Auto));
        texts.push((events.join("\n"), InputFormat::Ndjson));
        ENGINES.with_borrow_mut(|[with_rules, indexed, plain]| {
            for (text, format) in &texts {
                let a = with_rules.normalize(text.as_bytes(), &batch(*format)).unwrap();
                let b = indexed.normalize(text.as_bytes(), &batch(*format)).unwrap();
                let c = plain.normalize(text.as_bytes(), &batch(*format)).unwrap();
                prop_assert_eq!(&a.outcomes, &c.outcomes, "{}", text);
                prop_assert_eq!(&b.outcomes, &c.outcomes, "{}", text);
            }
            Ok(())
        })?;
    }
}

proptest! {
    // Through wasmtime each case costs more, so fewer of them.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn component_agrees_with_native_on_random_input(v in json(), o in event_object(), f in 0usize..6) {
        let cfg = config();
        let mut component = runtime().instantiate(&wit_config(&cfg)).unwrap().unwrap();
        for text in [v.to_string(), Value::Object(o.clone()).to_string()] {
            let native = Engine::new(cfg.clone()).unwrap().normalize(text.as_bytes(), &batch(FORMATS[f]));
            let wasm = component.normalize(text.as_bytes(), &wit_batch(FORMATS[f])).expect("no trap");
            match (native, wasm) {
                (Ok(n), Ok(w)) => prop_assert_eq!(flatten_core(&n), flatten_wit(&w)),
                (Err(n), Err(w)) => prop_assert_eq!(n.message, w.message),
                (n, w) => prop_assert!(false, "native {:?} vs component {:?}", n, w),
            }
        }
    }
}

/// Sets `path` in `v`, creating objects on the way (replacing non-objects).
fn set_path(v: &mut Value, path: &[String], value: Value) {
    let Some((last, init)) = path.split_last() else { return };
    let mut cur = v;
    for k in init {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur.as_object_mut().unwrap().entry(k.clone()).or_insert(Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    cur.as_object_mut().unwrap().insert(last.clone(), value);
}

/// Whether a document holds a JSON null, an empty string, or an empty object or array.
fn has_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() || a.iter().any(has_empty),
        Value::Object(m) => m.is_empty() || m.values().any(has_empty),
        _ => false,
    }
}
