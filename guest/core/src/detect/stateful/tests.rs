use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::session::ua_similarity;
use super::{Fields, Fired, Hit, Spec, State, parse};

const S: i64 = 1_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
/// 2026-03-01T00:00:00Z, so times are realistic.
const T0: i64 = 1_772_323_200_000;

/// A field map with case-insensitive keys; a value with `|` is an array.
#[derive(Debug, Default, Clone)]
struct F(BTreeMap<String, Vec<String>>);

impl F {
    fn of(pairs: &[(&str, &str)]) -> F {
        F(pairs.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.split('|').map(str::to_owned).collect())).collect())
    }
}

impl Fields for F {
    fn values(&self, path: &str) -> Vec<String> {
        self.0.get(&path.to_ascii_lowercase()).cloned().unwrap_or_default()
    }
}

#[allow(clippy::needless_pass_by_value, reason = "call sites read better with json!(..) by value")]
fn spec(name: &str, v: Value) -> Spec {
    let mut s = parse(&v).unwrap_or_else(|e| panic!("{name}: {e}"));
    s.set_name(name);
    s
}

#[allow(clippy::needless_pass_by_value, reason = "call sites read better with json!(..) by value")]
fn parse_err(v: Value) -> (Vec<String>, String) {
    let e = parse(&v).expect_err("should not parse");
    (e.path, e.message)
}

struct Run {
    specs: Vec<Spec>,
    state: State,
    n: usize,
}

impl Run {
    fn new(specs: Vec<Spec>) -> Run {
        Run { specs, state: State::default(), n: 0 }
    }

    /// Feeds a hit of `rule` at `T0 + t` to spec `i`.
    fn hit(&mut self, i: usize, rule: &str, t: i64, fields: &[(&str, &str)]) -> Vec<Fired> {
        self.n += 1;
        let uuids = vec![format!("u{}", self.n)];
        let f = F::of(fields);
        self.state.observe(&self.specs, i, &Hit { rule, time_ms: T0 + t, uuids: &uuids, fields: &f })
    }

    fn advance(&mut self, t: i64) -> Vec<Fired> {
        self.state.advance(&self.specs, T0 + t)
    }
}

fn push_bombing() -> Spec {
    spec(
        "push_bombing",
        json!({"type": "event_count", "rules": ["deny"], "group-by": ["actor.alternateId"], "timespan": "10m",
               "condition": {"gte": 5}, "x-reset": ["success"]}),
    )
}

const A: &[(&str, &str)] = &[("actor.alternateId", "a@example.com")];
const B: &[(&str, &str)] = &[("actor.alternateId", "b@example.com")];

// ---------------------------------------------------------------- parse

#[test]
fn parse_errors_name_the_key_and_say_what_to_do() {
    let (path, msg) = parse_err(json!({"type": "event_cnt", "rules": ["a"], "timespan": "10m"}));
    assert_eq!(path, ["type"]);
    assert_eq!(
        msg,
        "unknown correlation type 'event_cnt'; expected one of event_count, value_count, temporal, \
         temporal_ordered, x-new_value, x-absence, x-geo_velocity, x-session_drift, x-distribution"
    );
    let (path, msg) =
        parse_err(json!({"type": "event_count", "rules": ["a"], "timespan": "10x", "condition": {"gte": 1}}));
    assert_eq!(path, ["timespan"]);
    assert_eq!(msg, "timespan '10x' is not a duration; write e.g. 30s, 10m, 12h or 14d");
    let (path, msg) =
        parse_err(json!({"type": "value_count", "rules": ["a"], "timespan": "10m", "condition": {"gte": 3}}));
    assert_eq!(path, ["condition"]);
    assert!(msg.starts_with("value_count needs condition.field"), "{msg}");
    let (path, msg) =
        parse_err(json!({"type": "event_count", "rules": ["a"], "timespan": "10m", "condition": {"gtee": 3}}));
    assert_eq!(path, ["condition", "gtee"]);
    assert!(msg.contains("unknown condition operator 'gtee'"), "{msg}");
    let (path, msg) =
        parse_err(json!({"type": "event_count", "rules": ["a"], "timespan": "10m", "condition": {"gte": "x"}}));
    assert_eq!(path, ["condition", "gte"]);
    assert!(msg.contains("not a number"), "{msg}");
    let (path, _) = parse_err(json!({"type": "event_count", "rules": ["a"], "timespan": "10m"}));
    assert_eq!(path, ["condition"]);
    let (path, msg) = parse_err(json!({"type": "event_count", "rules": ["a"], "condition": {"gte": 1}}));
    assert_eq!(path, ["timespan"]);
    assert!(msg.contains("timespan is missing"), "{msg}");
    let (path, msg) =
        parse_err(json!({"type": "event_count", "rules": ["a"], "timespan": "0m", "condition": {"gte": 1}}));
    assert_eq!(path, ["timespan"]);
    assert!(msg.contains("zero"), "{msg}");
    let (path, _) = parse_err(json!({"type": "event_count", "rules": [], "timespan": "1m", "condition": {"gte": 1}}));
    assert_eq!(path, ["rules"]);
    let (path, msg) = parse_err(
        json!({"type": "event_count", "rules": ["a"], "timespan": "1m", "condition": {"gte": 1}, "fields": ["x"]}),
    );
    assert_eq!(path, ["fields"]);
    assert!(msg.contains("unknown key 'fields' for event_count"), "{msg}");
    let (path, msg) = parse_err(json!({"type": "temporal", "rules": ["a", "b"], "timespan": "1m",
        "group-by": ["x"], "aliases": {"user": {"a": "actor.alternateId"}}}));
    assert_eq!(path, ["aliases", "user"]);
    assert!(msg.contains("not in group-by"), "{msg}");
    let (path, msg) = parse_err(json!({"type": "temporal", "rules": ["a", "b"], "timespan": "1m",
        "group-by": ["user"], "aliases": {"user": {"c": "actor.alternateId"}}}));
    assert_eq!(path, ["aliases", "user", "c"]);
    assert!(msg.contains("not in rules"), "{msg}");
    let (path, _) = parse_err(json!({"type": "x-absence", "rules": ["a"], "timespan": "1h"}));
    assert_eq!(path, ["rules"]);
    let (path, _) = parse_err(json!({"type": "x-absence", "rules": ["a", "a"], "timespan": "1h"}));
    assert_eq!(path, ["rules"]);
    let (path, _) = parse_err(json!({"type": "temporal", "rules": ["a"], "timespan": "1h"}));
    assert_eq!(path, ["rules"]);
    let (path, _) = parse_err(json!({"type": "x-new_value", "rules": ["a"], "fields": ["x"]}));
    assert_eq!(path, ["history"]);
    let (path, _) = parse_err(json!({"type": "x-new_value", "rules": ["a"], "history": "14d", "fields": ["x"],
        "new-group": "maybe"}));
    assert_eq!(path, ["new-group"]);
    let (path, msg) = parse_err(json!({"type": "x-session_drift", "rules": ["a"], "timespan": "1h"}));
    assert!(path.is_empty());
    assert!(msg.contains("max-ua-similarity"), "{msg}");
    let (path, _) = parse_err(json!({"type": "x-session_drift", "rules": ["a"], "timespan": "1h",
        "device-field": "d"}));
    assert_eq!(path, ["max-devices"]);
    let (path, _) = parse_err(json!({"type": "x-session_drift", "rules": ["a"], "timespan": "1h",
        "max-ua-similarity": 1.5}));
    assert_eq!(path, ["max-ua-similarity"]);
    let (path, msg) = parse_err(json!({"type": "x-distribution", "rules": ["a"], "timespan": "1h", "per": ["u"],
        "condition": {"share-in-band": {"gte": 0.6}}}));
    assert_eq!(path, ["condition", "share-in-band"]);
    assert!(msg.contains("needs band"), "{msg}");
    let (path, _) = parse_err(json!({"type": "x-distribution", "rules": ["a"], "timespan": "1h", "per": ["u"],
        "condition": {"distinct": {"gte": 3}}}));
    assert_eq!(path, ["condition", "distinct"]);
    let (path, _) = parse_err(json!({"type": "x-distribution", "rules": ["a"], "timespan": "1h",
        "condition": {"groups": {"gte": 3}}}));
    assert_eq!(path, ["per"]);
    let (path, _) = parse_err(json!({"type": "x-distribution", "rules": ["a"], "timespan": "1h", "per": ["u"],
        "condition": {"users": {"gte": 3}}}));
    assert_eq!(path, ["condition", "users"]);
    let (path, _) = parse_err(json!({"type": "x-geo_velocity", "rules": ["a"], "timespan": "1d",
        "max-speed-kmh": 0}));
    assert_eq!(path, ["max-speed-kmh"]);
    let (path, _) = parse_err(json!({"type": "x-geo_velocity", "rules": ["a"], "timespan": "1d",
        "x-reset": ["b"]}));
    assert_eq!(path, ["x-reset"]);
    let (path, _) = parse_err(json!("event_count"));
    assert!(path.is_empty());
    let (path, _) = parse_err(json!({"rules": ["a"]}));
    assert!(path.is_empty());
}

#[test]
fn parses_the_readme_example_with_aliases() {
    let s = spec(
        "x",
        json!({"type": "event_count", "rules": ["okta_mfa_push_denied", "okta_login_success"],
               "group-by": ["user", "client.ipAddress"], "timespan": "10m", "condition": {"gte": 3, "lte": 10},
               "aliases": {"user": {"okta_mfa_push_denied": "actor.alternateId", "okta_login_success": "target.id"}},
               "generate": true, "x-reset": ["r"]}),
    );
    assert_eq!(s.timespan_ms, 10 * M);
    assert_eq!(s.generate, Some(true));
    assert_eq!(s.inputs().collect::<Vec<_>>(), ["okta_mfa_push_denied", "okta_login_success", "r"]);
    assert_eq!(s.group_by[0].field_for("okta_login_success"), "target.id");
    assert_eq!(s.group_by[0].field_for("r"), "user");
    assert_eq!(s.group_by[1].field_for("okta_login_success"), "client.ipAddress");
    let mut renamed = s.clone();
    renamed.rename_rule("okta_login_success", "login");
    assert_eq!(renamed.rules, ["okta_mfa_push_denied", "login"]);
    assert_eq!(renamed.group_by[0].field_for("login"), "target.id");
    assert_eq!(super::parse_duration("14d"), Some(14 * D));
    assert_eq!(super::parse_duration("30s"), Some(30 * S));
    assert_eq!(super::parse_duration("12h"), Some(12 * H));
    assert_eq!(super::parse_duration("m"), None);
    assert_eq!(super::parse_duration("10"), None);
    assert_eq!(super::parse_duration("99999999999999999999d"), None);
    // `timeframe` (Sigma 2.1's spelling) is accepted too; a single rule may be a plain string.
    let s = spec("y", json!({"type": "event_count", "rules": "a", "timeframe": "1h", "condition": {"gt": "2"}}));
    assert_eq!((s.timespan_ms, s.rules.len()), (H, 1));
}

// ---------------------------------------------------------------- event_count

#[test]
fn event_count_fires_at_the_exact_threshold_then_starts_afresh() {
    let mut r = Run::new(vec![push_bombing()]);
    for i in 0..4 {
        assert!(r.hit(0, "deny", i * M, A).is_empty(), "hit {i}");
    }
    let fired = r.hit(0, "deny", 4 * M, A);
    assert_eq!(fired.len(), 1);
    let f = &fired[0];
    assert_eq!((f.spec, f.time_ms, f.count), (0, T0 + 4 * M, 5));
    assert_eq!(f.group, [("actor.alternateId".to_owned(), "a@example.com".to_owned())]);
    assert_eq!(f.uuids, ["u1", "u2", "u3", "u4", "u5"]);
    // Afresh: the next four do not fire, the fifth after the fire does.
    for i in 5..9 {
        assert!(r.hit(0, "deny", i * M, A).is_empty(), "hit {i}");
    }
    let fired = r.hit(0, "deny", 9 * M, A);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].uuids, ["u6", "u7", "u8", "u9", "u10"]);
}

#[test]
fn event_count_window_is_inclusive_at_both_ends() {
    let mut r = Run::new(vec![push_bombing()]);
    for t in [0, M, 2 * M, 3 * M] {
        assert!(r.hit(0, "deny", t, A).is_empty());
    }
    assert_eq!(r.hit(0, "deny", 10 * M, A).len(), 1, "exactly 10m after the first is still inside");

    let mut r = Run::new(vec![push_bombing()]);
    for t in [0, M, 2 * M, 3 * M] {
        assert!(r.hit(0, "deny", t, A).is_empty());
    }
    assert!(r.hit(0, "deny", 10 * M + 1, A).is_empty(), "1 ms later the first has slid out");
    assert_eq!(r.hit(0, "deny", 10 * M + 2, A).len(), 1, "…and four others plus this are five");
}

#[test]
fn event_count_slides_and_never_fires_on_a_slow_drip() {
    let mut r = Run::new(vec![push_bombing()]);
    for i in 0..50 {
        assert!(r.hit(0, "deny", i * 3 * M, A).is_empty(), "hit {i}");
    }
}

#[test]
fn event_count_counts_late_hits_by_event_time() {
    // Arrival: 0, 1, 2, 4 then late 3 → the window ending at 4 holds five.
    let mut r = Run::new(vec![push_bombing()]);
    for t in [0, M, 2 * M, 4 * M] {
        assert!(r.hit(0, "deny", t, A).is_empty());
    }
    let fired = r.hit(0, "deny", 3 * M, A);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].time_ms, T0 + 4 * M);
    assert_eq!(fired[0].uuids, ["u1", "u2", "u3", "u5", "u4"], "oldest first by event time");

    // A late hit completes a window that ends at a later hit: 11..14 then late 10.
    let mut r = Run::new(vec![push_bombing()]);
    for t in [0, 11 * M, 12 * M, 13 * M, 14 * M] {
        assert!(r.hit(0, "deny", t, A).is_empty());
    }
    let fired = r.hit(0, "deny", 10 * M, A);
    assert_eq!(fired.len(), 1);
    assert_eq!((fired[0].time_ms, fired[0].count), (T0 + 14 * M, 5));

    // Late but too far from the others: no fire.
    let mut r = Run::new(vec![push_bombing()]);
    for t in [20 * M, 21 * M, 22 * M, 23 * M] {
        assert!(r.hit(0, "deny", t, A).is_empty());
    }
    assert!(r.hit(0, "deny", 5 * M, A).is_empty());
}

#[test]
fn groups_are_isolated_and_missing_group_fields_are_ignored() {
    let mut r = Run::new(vec![push_bombing()]);
    for i in 0..4 {
        assert!(r.hit(0, "deny", i * S, A).is_empty());
        assert!(r.hit(0, "deny", i * S, B).is_empty());
        assert!(r.hit(0, "deny", i * S, &[]).is_empty(), "no actor: ignored");
        assert!(r.hit(0, "deny", i * S, &[("actor.alternateId", "")]).is_empty(), "empty actor: ignored");
    }
    assert_eq!(r.state.size(), (2, 8));
    let fired = r.hit(0, "deny", 5 * S, B);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].group[0].1, "b@example.com");
    // A hit of a rule the spec does not read, or of a spec index out of range, does nothing.
    assert!(r.hit(0, "other", 6 * S, A).is_empty());
    assert!(r.hit(7, "deny", 6 * S, A).is_empty());
    assert_eq!(r.state.size(), (2, 4));
}

#[test]
fn empty_group_by_is_the_whole_tenant() {
    let s = spec("t", json!({"type": "event_count", "rules": ["deny"], "timespan": "1m", "condition": {"eq": 3}}));
    let mut r = Run::new(vec![s]);
    assert!(r.hit(0, "deny", 0, A).is_empty());
    assert!(r.hit(0, "deny", S, B).is_empty());
    let fired = r.hit(0, "deny", 2 * S, &[]);
    assert_eq!(fired.len(), 1);
    assert!(fired[0].group.is_empty());
}

#[test]
fn combined_conditions_and_gt_lt() {
    let s =
        spec("c", json!({"type": "event_count", "rules": ["x"], "timespan": "1h", "condition": {"gt": 2, "lt": 4}}));
    let mut r = Run::new(vec![s]);
    assert!(r.hit(0, "x", 0, A).is_empty());
    assert!(r.hit(0, "x", S, A).is_empty());
    assert_eq!(r.hit(0, "x", 2 * S, A).len(), 1, "3 is > 2 and < 4");
}

#[test]
fn x_reset_clears_the_count_until_success() {
    let mut r = Run::new(vec![push_bombing()]);
    for i in 0..4 {
        assert!(r.hit(0, "deny", i * S, A).is_empty());
    }
    assert!(r.hit(0, "success", 5 * S, A).is_empty());
    // A late deny from before the success does not count any more.
    assert!(r.hit(0, "deny", 4 * S, A).is_empty());
    for i in 6..10 {
        assert!(r.hit(0, "deny", i * S, A).is_empty(), "hit {i}");
    }
    // A success of another user does not reset this one.
    assert!(r.hit(0, "success", 10 * S, B).is_empty());
    assert_eq!(r.hit(0, "deny", 11 * S, A).len(), 1);
}

#[test]
fn equal_times_after_a_fire_do_not_fire_again() {
    let mut r = Run::new(vec![push_bombing()]);
    let fires: usize = (0..10).map(|_| r.hit(0, "deny", 0, A).len()).sum();
    assert_eq!(fires, 1);
}

// ---------------------------------------------------------------- value_count

/// Distinct client IPs per user within an hour, at least `gte`.
fn ips_per_user(gte: u32) -> Spec {
    spec(
        "vc",
        json!({"type": "value_count", "rules": ["fail"], "group-by": ["actor.alternateId"], "timespan": "1h",
               "condition": {"field": "client.ipAddress", "gte": gte}}),
    )
}

/// A hit's fields: one user, from `ip`.
fn from_ip(ip: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![("actor.alternateId", "a@example.com"), ("client.ipAddress", ip)]
}

#[test]
fn value_count_counts_distinct_values() {
    let mut r = Run::new(vec![ips_per_user(3)]);
    let at = from_ip;
    assert!(r.hit(0, "fail", 0, &at("10.0.0.1")).is_empty());
    assert!(r.hit(0, "fail", M, &at("10.0.0.1")).is_empty());
    assert!(r.hit(0, "fail", 2 * M, &at("10.0.0.2")).is_empty());
    assert!(r.hit(0, "fail", 3 * M, A).is_empty(), "no IP: not counted");
    assert!(r.hit(0, "fail", 4 * M, &at("10.0.0.2")).is_empty());
    let fired = r.hit(0, "fail", 5 * M, &at("10.0.0.3"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].count, 3);
    assert!(fired[0].details.contains(&("distinct".to_owned(), "3".to_owned())));
    // Array values each count: one hit with three values fires on its own after the reset.
    let fired = r.hit(0, "fail", 6 * M, &at("10.0.0.7|10.0.0.8|10.0.0.9"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].uuids, ["u7"]);
}

#[test]
fn distinct_counts_stay_exact_when_two_values_share_a_hash() {
    use super::window::{Entry, Group};
    let condition = super::Condition { gte: Some(2.0), ..super::Condition::default() };
    let count = |g: &Group| super::count::values(&g.e, g.hashes_are_keys(), "f", &condition).map(|(n, _)| n);
    let entry = |t: i64, k: &str| Entry { t, k: k.to_owned(), ..Entry::default() };
    // Real hashes: two values, two distinct.
    let mut g = Group::default();
    g.insert(entry(1, "alice@example.com"), 100);
    g.insert(entry(2, "alice@example.com"), 100);
    assert_eq!(count(&g), None);
    g.insert(entry(3, "bob@example.com"), 100);
    assert_eq!(count(&g), Some(2));
    // Two different values given one hash: the group notices and counts the values themselves.
    let mut g = Group::default();
    g.insert_hashed(entry(1, "alice@example.com"), 7, 100);
    g.insert_hashed(entry(2, "alice@example.com"), 7, 100);
    assert!(g.hashes_are_keys());
    g.insert_hashed(entry(3, "bob@example.com"), 7, 100);
    assert!(!g.hashes_are_keys());
    assert_eq!(count(&g), Some(2));
}

#[test]
fn value_count_after_an_import_counts_the_imported_values_by_their_hash() {
    let mut r = Run::new(vec![ips_per_user(2)]);
    let at = from_ip;
    assert!(r.hit(0, "fail", 0, &at("10.0.0.1")).is_empty());
    r.state = State::import(&r.state.export()).expect("imports");
    // The imported entry and the new one hold the same value: still one distinct.
    assert!(r.hit(0, "fail", M, &at("10.0.0.1")).is_empty());
    let fired = r.hit(0, "fail", 2 * M, &at("10.0.0.2"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].count, 2);
}

// ---------------------------------------------------------------- temporal

fn temporal(ordered: bool) -> Spec {
    spec(
        "seq",
        json!({"type": if ordered { "temporal_ordered" } else { "temporal" },
               "rules": ["brute_force", "login_success"], "group-by": ["user"], "timespan": "3h",
               "aliases": {"user": {"brute_force": "actor.alternateId", "login_success": "target.alternateId"}}}),
    )
}

#[test]
fn temporal_any_order_with_aliases() {
    let mut r = Run::new(vec![temporal(false)]);
    assert!(r.hit(0, "login_success", 0, &[("target.alternateId", "a@example.com")]).is_empty());
    assert!(r.hit(0, "brute_force", H, &[("actor.alternateId", "b@example.com")]).is_empty(), "another user: no fire");
    let fired = r.hit(0, "brute_force", 2 * H, A);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].group, [("user".to_owned(), "a@example.com".to_owned())]);
    assert_eq!(fired[0].count, 2);
    // Outside the timespan: no fire.
    let mut r = Run::new(vec![temporal(false)]);
    assert!(r.hit(0, "login_success", 0, &[("target.alternateId", "a@example.com")]).is_empty());
    assert!(r.hit(0, "brute_force", 3 * H + 1, A).is_empty());
}

#[test]
fn temporal_ordered_follows_event_time_not_arrival() {
    let success = [("target.alternateId", "a@example.com")];
    // Wrong order in event time: no fire.
    let mut r = Run::new(vec![temporal(true)]);
    assert!(r.hit(0, "login_success", 0, &success).is_empty());
    assert!(r.hit(0, "brute_force", M, A).is_empty());
    // Right order in event time, arriving reversed: fires.
    let mut r = Run::new(vec![temporal(true)]);
    assert!(r.hit(0, "login_success", 2 * M, &success).is_empty());
    let fired = r.hit(0, "brute_force", M, A);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].time_ms, T0 + 2 * M);
    // Equal times count as in order.
    let mut r = Run::new(vec![temporal(true)]);
    assert!(r.hit(0, "login_success", M, &success).is_empty());
    assert_eq!(r.hit(0, "brute_force", M, A).len(), 1);
    // Order among three, with a stray earlier step.
    let s = spec("s3", json!({"type": "temporal_ordered", "rules": ["a", "b", "c"], "timespan": "1h"}));
    let mut r = Run::new(vec![s]);
    assert!(r.hit(0, "b", 0, &[]).is_empty());
    assert!(r.hit(0, "a", M, &[]).is_empty());
    assert!(r.hit(0, "c", 2 * M, &[]).is_empty(), "b came before a");
    assert_eq!(r.hit(0, "b", 3 * M, &[]).len(), 0, "c is before this b");
    assert_eq!(r.hit(0, "c", 4 * M, &[]).len(), 1, "a(1) b(3) c(4)");
}

#[test]
fn temporal_ordered_forgets_later_steps_nothing_can_precede() {
    let success = [("target.alternateId", "a@example.com")];
    let mut r = Run::new(vec![temporal(true)]);
    for i in 0..5 {
        assert!(r.hit(0, "login_success", i * M, &success).is_empty());
    }
    assert_eq!(r.state.size(), (1, 5));
    // Still within the reorder reach (not behind the watermark): kept, as a late brute force
    // could still come before them.
    r.advance(2 * M);
    assert_eq!(r.state.size(), (1, 3));
    r.advance(10 * M);
    assert_eq!(r.state.size(), (0, 0), "logins with no brute force before them are gone");
    // A success after a brute force stays for the window, and the sequence still fires.
    assert!(r.hit(0, "brute_force", 11 * M, A).is_empty());
    let fired = r.hit(0, "login_success", 12 * M, &success);
    assert_eq!(fired.len(), 1);
}

// ---------------------------------------------------------------- x-new_value

fn new_ip(fire_new_groups: bool) -> Spec {
    spec(
        "new_ip",
        json!({"type": "x-new_value", "rules": ["login"], "group-by": ["actor.alternateId"],
               "fields": ["client.ipAddress"], "history": "14d",
               "new-group": if fire_new_groups { "fire" } else { "learn" }}),
    )
}

#[test]
fn new_value_learns_new_groups_then_fires_on_new_tuples() {
    let mut r = Run::new(vec![new_ip(false)]);
    let from = |ip: &'static str| vec![("actor.alternateId", "a@example.com"), ("client.ipAddress", ip)];
    assert!(r.hit(0, "login", 0, &from("10.0.0.1")).is_empty(), "first sight of the user learns");
    assert!(r.hit(0, "login", H, &from("10.0.0.1")).is_empty());
    let fired = r.hit(0, "login", 2 * H, &from("10.0.0.2"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].details, [("client.ipAddress".to_owned(), "10.0.0.2".to_owned())]);
    assert!(r.hit(0, "login", 3 * H, &from("10.0.0.2")).is_empty(), "now known");
    assert!(r.hit(0, "login", 3 * H, A).is_empty(), "no IP: nothing");
    // Seen within history (14 d counted from the last sight, at 1 h): not new at exactly 14d + 1h.
    assert!(r.hit(0, "login", 14 * D + H, &from("10.0.0.1")).is_empty());
    // A new IP keeps the group alive; 10.0.0.1, last seen at 14d+1h, has expired 28d+1h+1ms on.
    assert_eq!(r.hit(0, "login", 27 * D, &from("10.0.0.9")).len(), 1);
    assert_eq!(r.hit(0, "login", 28 * D + H + 1, &from("10.0.0.1")).len(), 1);
    // Once every tuple has expired the group starts over and learns, pruned or not.
    assert!(r.hit(0, "login", 60 * D, &from("10.0.0.7")).is_empty());
}

#[test]
fn new_value_history_expires_through_advance_and_new_group_fire() {
    let mut r = Run::new(vec![new_ip(true)]);
    let from = |ip: &'static str| vec![("actor.alternateId", "a@example.com"), ("client.ipAddress", ip)];
    assert_eq!(r.hit(0, "login", 0, &from("10.0.0.1")).len(), 1, "new-group: fire");
    assert!(r.hit(0, "login", M, &from("10.0.0.1")).is_empty());
    assert!(r.advance(14 * D).is_empty());
    assert_eq!(r.state.size(), (1, 1));
    r.advance(14 * D + M + 1);
    assert_eq!(r.state.size(), (0, 0), "history pruned");
    // The learn variant: an expired group learns again.
    let mut r = Run::new(vec![new_ip(false)]);
    assert!(r.hit(0, "login", 0, &from("10.0.0.1")).is_empty());
    r.advance(15 * D);
    assert!(r.hit(0, "login", 15 * D, &from("10.0.0.2")).is_empty());
    // A late hit with a tuple seen later is not new.
    assert!(r.hit(0, "login", 16 * D, &from("10.0.0.3")).len() == 1);
    assert!(r.hit(0, "login", 16 * D - M, &from("10.0.0.3")).is_empty());
}

#[test]
fn new_value_tuples_of_several_fields() {
    let s = spec(
        "ua",
        json!({"type": "x-new_value", "rules": ["sso"], "group-by": ["actor.alternateId"],
               "fields": ["client.userAgent.rawUserAgent", "client.device"], "history": "14d"}),
    );
    let mut r = Run::new(vec![s]);
    let ev = |ua: &'static str, dev: &'static str| {
        vec![("actor.alternateId", "a"), ("client.userAgent.rawUserAgent", ua), ("client.device", dev)]
    };
    assert!(r.hit(0, "sso", 0, &ev("Firefox", "Computer")).is_empty());
    assert!(r.hit(0, "sso", M, &ev("Firefox", "Computer")).is_empty());
    let fired = r.hit(0, "sso", 2 * M, &ev("Firefox", "Unknown"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].details[1], ("client.device".to_owned(), "Unknown".to_owned()));
}

// ---------------------------------------------------------------- x-absence

fn mfa_absence() -> Spec {
    spec(
        "mfa_off",
        json!({"type": "x-absence", "rules": ["mfa_deactivated", "mfa_activated"],
               "group-by": ["target.alternateId"], "timespan": "12h"}),
    )
}

const TA: &[(&str, &str)] = &[("target.alternateId", "a@example.com")];
const TB: &[(&str, &str)] = &[("target.alternateId", "b@example.com")];

#[test]
fn absence_fires_after_the_deadline_without_a_cancel() {
    let mut r = Run::new(vec![mfa_absence()]);
    assert!(r.hit(0, "mfa_deactivated", 0, TA).is_empty(), "observe never fires an absence");
    assert!(r.hit(0, "mfa_activated", H, TB).is_empty(), "another user's cancel");
    assert!(r.advance(12 * H).is_empty(), "watermark at the deadline: a cancel at it may still come");
    let fired = r.advance(12 * H + 1);
    assert_eq!(fired.len(), 1);
    let f = &fired[0];
    assert_eq!((f.time_ms, f.count), (T0 + 12 * H, 1));
    assert_eq!(f.uuids, ["u1"]);
    assert_eq!(f.group, [("target.alternateId".to_owned(), "a@example.com".to_owned())]);
    assert!(f.details.contains(&("missing".to_owned(), "mfa_activated".to_owned())));
    assert!(r.advance(13 * H).is_empty(), "fires once");
    assert_eq!(r.state.size(), (0, 0));
}

#[test]
fn absence_is_cancelled_in_the_window_in_any_arrival_order() {
    // Cancel inside, and exactly at the deadline.
    for cancel_at in [H, 12 * H] {
        let mut r = Run::new(vec![mfa_absence()]);
        r.hit(0, "mfa_deactivated", 0, TA);
        r.hit(0, "mfa_activated", cancel_at, TA);
        assert!(r.advance(30 * H).is_empty(), "cancel at {cancel_at}");
    }
    // The cancel arrives first but is later in event time (late trigger).
    let mut r = Run::new(vec![mfa_absence()]);
    r.hit(0, "mfa_activated", 2 * M, TA);
    r.hit(0, "mfa_deactivated", M, TA);
    assert!(r.advance(30 * H).is_empty());
    // A cancel before the trigger does not cancel it; nor does one after the deadline.
    let mut r = Run::new(vec![mfa_absence()]);
    r.hit(0, "mfa_activated", 0, TA);
    r.hit(0, "mfa_deactivated", M, TA);
    r.hit(0, "mfa_activated", 12 * H + M + 1, TA);
    assert_eq!(r.advance(30 * H).len(), 1);
    // Two triggers, one cancel covering both.
    let mut r = Run::new(vec![mfa_absence()]);
    r.hit(0, "mfa_deactivated", 0, TA);
    r.hit(0, "mfa_deactivated", H, TA);
    r.hit(0, "mfa_activated", 2 * H, TA);
    assert!(r.advance(30 * H).is_empty());
}

#[test]
fn absence_fires_in_time_order_across_groups() {
    let mut r = Run::new(vec![mfa_absence()]);
    r.hit(0, "mfa_deactivated", H, TA);
    r.hit(0, "mfa_deactivated", 0, TB);
    let fired = r.advance(20 * H);
    assert_eq!(fired.len(), 2);
    assert_eq!(fired[0].group[0].1, "b@example.com");
    assert_eq!(fired[1].group[0].1, "a@example.com");
    // Cancels are forgotten once the watermark passes them.
    r.hit(0, "mfa_activated", 21 * H, TA);
    assert_eq!(r.state.size(), (1, 1));
    r.advance(21 * H + 1);
    assert_eq!(r.state.size(), (0, 0));
}

// ---------------------------------------------------------------- x-geo_velocity

fn geo() -> Spec {
    spec(
        "travel",
        json!({"type": "x-geo_velocity", "rules": ["login"], "group-by": ["actor.alternateId"], "timespan": "24h",
               "max-speed-kmh": 900, "min-distance-km": 200, "skip-proxies": true}),
    )
}

fn at(
    lat: &'static str,
    lon: &'static str,
    country: &'static str,
    proxy: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("actor.alternateId", "a@example.com"),
        ("client.geographicalContext.geolocation.lat", lat),
        ("client.geographicalContext.geolocation.lon", lon),
        ("client.geographicalContext.country", country),
        ("securityContext.isProxy", proxy),
    ]
}

const NYC: (&str, &str) = ("40.7128", "-74.0060");
const LONDON: (&str, &str) = ("51.5074", "-0.1278");
const PARIS: (&str, &str) = ("48.8566", "2.3522");
const BRUSSELS: (&str, &str) = ("50.8503", "4.3517");

#[test]
fn haversine_is_right() {
    let km = super::geo::haversine_km(40.7128, -74.0060, 51.5074, -0.1278);
    assert!((km - 5570.0).abs() < 10.0, "{km}");
    assert!(super::geo::haversine_km(10.0, 20.0, 10.0, 20.0).abs() < 1e-9);
}

#[test]
fn geo_velocity_fires_on_impossible_travel() {
    let mut r = Run::new(vec![geo()]);
    assert!(r.hit(0, "login", 0, &at(NYC.0, NYC.1, "United States", "false")).is_empty());
    let fired = r.hit(0, "login", H, &at(LONDON.0, LONDON.1, "United Kingdom", "false"));
    assert_eq!(fired.len(), 1);
    let d: BTreeMap<_, _> = fired[0].details.iter().cloned().collect();
    assert_eq!(d["distance_km"], "5570");
    assert_eq!(d["speed_kmh"], "5570");
    assert_eq!(d["from_country"], "United States");
    assert_eq!(d["to_country"], "United Kingdom");
    assert_eq!(fired[0].uuids, ["u1", "u2"]);
    // Ten hours later is a plausible flight.
    assert!(r.hit(0, "login", 11 * H, &at(NYC.0, NYC.1, "United States", "false")).is_empty());
    let mut r = Run::new(vec![geo()]);
    r.hit(0, "login", 0, &at(NYC.0, NYC.1, "United States", "false"));
    assert!(r.hit(0, "login", 8 * H, &at(LONDON.0, LONDON.1, "United Kingdom", "false")).is_empty());
}

#[test]
fn geo_velocity_skips_proxies_unless_told_not_to() {
    let mut r = Run::new(vec![geo()]);
    r.hit(0, "login", 0, &at(NYC.0, NYC.1, "US", "false"));
    assert!(r.hit(0, "login", M, &at(LONDON.0, LONDON.1, "GB", "true")).is_empty());
    assert!(r.hit(0, "login", M, &at(LONDON.0, LONDON.1, "GB", "TRUE")).is_empty());
    let mut s = geo();
    s.kind = super::Kind::GeoVelocity { max_speed_kmh: 900.0, min_distance_km: 200.0, skip_proxies: false };
    let mut r = Run::new(vec![s]);
    r.hit(0, "login", 0, &at(NYC.0, NYC.1, "US", "false"));
    assert_eq!(r.hit(0, "login", M, &at(LONDON.0, LONDON.1, "GB", "true")).len(), 1);
}

#[test]
fn geo_velocity_damps_short_distances() {
    // Paris → Brussels (~264 km) in one minute is fast, but under a 300 km floor it is noise.
    let mut s = geo();
    s.kind = super::Kind::GeoVelocity { max_speed_kmh: 900.0, min_distance_km: 300.0, skip_proxies: true };
    let mut r = Run::new(vec![s]);
    r.hit(0, "login", 0, &at(PARIS.0, PARIS.1, "FR", "false"));
    assert!(r.hit(0, "login", M, &at(BRUSSELS.0, BRUSSELS.1, "BE", "false")).is_empty());
    // With the 200 km floor it fires.
    let mut r = Run::new(vec![geo()]);
    r.hit(0, "login", 0, &at(PARIS.0, PARIS.1, "FR", "false"));
    assert_eq!(r.hit(0, "login", M, &at(BRUSSELS.0, BRUSSELS.1, "BE", "false")).len(), 1);
    // Same second: the gap counts as one second, no division by zero.
    let mut r = Run::new(vec![geo()]);
    r.hit(0, "login", 0, &at(PARIS.0, PARIS.1, "FR", "false"));
    let fired = r.hit(0, "login", 0, &at(NYC.0, NYC.1, "US", "false"));
    assert_eq!(fired.len(), 1);
}

#[test]
fn geo_velocity_ignores_bad_coordinates_and_compares_late_hits_with_neighbours() {
    let mut r = Run::new(vec![geo()]);
    assert!(r.hit(0, "login", 0, &at("abc", NYC.1, "US", "false")).is_empty());
    assert!(r.hit(0, "login", 0, &at("91", NYC.1, "US", "false")).is_empty());
    assert!(r.hit(0, "login", 0, &at("NaN", NYC.1, "US", "false")).is_empty());
    assert_eq!(r.state.size(), (0, 0));
    // Events at 0 (NYC) and 10 h (NYC); a late London at 9 h is impossible from NYC at 0? No
    // (9 h for 5570 km is ~620 km/h), but it is from the next one at 10 h.
    r.hit(0, "login", 0, &at(NYC.0, NYC.1, "US", "false"));
    r.hit(0, "login", 10 * H, &at(NYC.0, NYC.1, "US", "false"));
    let fired = r.hit(0, "login", 9 * H, &at(LONDON.0, LONDON.1, "GB", "false"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].time_ms, T0 + 10 * H);
    let d: BTreeMap<_, _> = fired[0].details.iter().cloned().collect();
    assert_eq!((d["from_country"].as_str(), d["to_country"].as_str()), ("GB", "US"));
}

// ---------------------------------------------------------------- x-session_drift

fn drift() -> Spec {
    spec(
        "hijack",
        json!({"type": "x-session_drift", "rules": ["any"], "group-by": ["authenticationContext.externalSessionId"],
               "timespan": "12h", "ip-field": "client.ipAddress", "ua-field": "client.userAgent.rawUserAgent",
               "max-ua-similarity": 0.9, "device-field": "debugContext.debugData.dtHash", "max-devices": 4}),
    )
}

const CHROME120: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const CHROME121: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36";
const CURL: &str = "curl/8.4.0";

fn sess(ip: &'static str, ua: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("authenticationContext.externalSessionId", "sess-1"),
        ("client.ipAddress", ip),
        ("client.userAgent.rawUserAgent", ua),
    ]
}

#[test]
fn ua_similarity_is_sane() {
    assert_eq!(ua_similarity(CHROME120, CHROME120), 1.0);
    assert!(ua_similarity(CHROME120, CHROME121) > 0.95, "{}", ua_similarity(CHROME120, CHROME121));
    assert!(ua_similarity(CHROME120, CURL) < 0.2, "{}", ua_similarity(CHROME120, CURL));
    assert!(ua_similarity("python-requests/2.31.0", CHROME120) < 0.3);
    assert_eq!(ua_similarity("a", "b"), 0.0);
    assert_eq!(ua_similarity("", ""), 1.0);
    assert_eq!(ua_similarity("ABC", "abc"), 1.0);
    assert_eq!(ua_similarity(CURL, CHROME120), ua_similarity(CHROME120, CURL), "symmetric");
}

#[test]
fn session_drift_new_ip_with_a_dissimilar_ua() {
    let mut r = Run::new(vec![drift()]);
    assert!(r.hit(0, "any", 0, &sess("10.0.0.1", CHROME120)).is_empty());
    assert!(r.hit(0, "any", M, &sess("10.0.0.1", CURL)).is_empty(), "same IP, other UA: not drift");
    let mut r = Run::new(vec![drift()]);
    assert!(r.hit(0, "any", 0, &sess("10.0.0.1", CHROME120)).is_empty());
    assert!(r.hit(0, "any", M, &sess("10.0.0.2", CHROME121)).is_empty(), "new IP, browser update: roaming");
    let fired = r.hit(0, "any", 2 * M, &sess("203.0.113.9", CURL));
    assert_eq!(fired.len(), 1);
    let d: BTreeMap<_, _> = fired[0].details.iter().cloned().collect();
    assert_eq!(d["new_ip"], "203.0.113.9");
    assert_eq!(d["known_ips"], "2");
    assert!(d["ua_similarity"].parse::<f64>().is_ok_and(|s| s < 0.2));
    assert_eq!(fired[0].group[0].1, "sess-1");
    // The attacker's IP and UA are now known: the same pair again does not fire.
    assert!(r.hit(0, "any", 3 * M, &sess("203.0.113.9", CURL)).is_empty());
    // Another session is its own group.
    let other = [
        ("authenticationContext.externalSessionId", "sess-2"),
        ("client.ipAddress", "1.1.1.1"),
        ("client.userAgent.rawUserAgent", CURL),
    ];
    assert!(r.hit(0, "any", 4 * M, &other).is_empty());
}

#[test]
fn session_drift_too_many_devices() {
    let mut r = Run::new(vec![drift()]);
    let dev =
        |d: &'static str| vec![("authenticationContext.externalSessionId", "s"), ("debugContext.debugData.dtHash", d)];
    assert!(r.hit(0, "any", 0, &dev("d1")).is_empty());
    assert!(r.hit(0, "any", S, &dev("d2")).is_empty());
    assert!(r.hit(0, "any", 2 * S, &dev("d2")).is_empty());
    assert!(r.hit(0, "any", 3 * S, &dev("d3")).is_empty());
    let fired = r.hit(0, "any", 4 * S, &dev("d4"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].details, [("devices".to_owned(), "4".to_owned())]);
    // Afresh.
    for (i, d) in ["d5", "d6", "d7"].into_iter().enumerate() {
        assert!(r.hit(0, "any", (5 + i as i64) * S, &dev(d)).is_empty());
    }
    assert_eq!(r.hit(0, "any", 9 * S, &dev("d8")).len(), 1);
    // Values older than the timespan are forgotten.
    r.advance(13 * H);
    assert_eq!(r.state.size(), (0, 0));
}

// ---------------------------------------------------------------- x-distribution

fn spray() -> Spec {
    spec(
        "spray",
        json!({"type": "x-distribution", "rules": ["fail"], "group-by": ["client.ipAddress"],
               "per": ["actor.alternateId"], "timespan": "1h",
               "condition": {"groups": {"gte": 10}, "band": {"gte": 2, "lte": 8}, "share-in-band": {"gte": 0.6}}}),
    )
}

fn stuffing() -> Spec {
    spec(
        "stuffing",
        json!({"type": "x-distribution", "rules": ["fail"], "group-by": ["client.ipAddress"],
               "per": ["actor.alternateId"], "timespan": "1h",
               "condition": {"groups": {"gte": 15}, "max-per-group": {"lte": 2}}}),
    )
}

const USERS: [&str; 20] = [
    "u00", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10", "u11", "u12", "u13", "u14", "u15",
    "u16", "u17", "u18", "u19",
];

fn feed_both(r: &mut Run, t: i64, user: &'static str) -> (usize, usize) {
    let f = [("client.ipAddress", "198.51.100.7"), ("actor.alternateId", user)];
    (r.hit(0, "fail", t, &f).len(), r.hit(1, "fail", t, &f).len())
}

#[test]
fn distribution_tells_spray_from_stuffing() {
    // Spray: 10 users, three tries each, round robin.
    let mut r = Run::new(vec![spray(), stuffing()]);
    let mut fires = (0, 0);
    let mut n = 0;
    for round in 0..3 {
        for user in &USERS[..10] {
            let (a, b) = feed_both(&mut r, n * 10 * S, user);
            n += 1;
            fires = (fires.0 + a, fires.1 + b);
            let _ = round;
        }
    }
    assert_eq!(fires, (1, 0), "spray fires (at the second round), stuffing does not");

    // Stuffing: 20 users, one try each.
    let mut r = Run::new(vec![spray(), stuffing()]);
    let mut fires = (0, 0);
    let mut last = Vec::new();
    for (i, user) in USERS.iter().enumerate() {
        let (a, b) = feed_both(&mut r, i as i64 * 10 * S, user);
        fires = (fires.0 + a, fires.1 + b);
        if b > 0 {
            last.push(i);
        }
    }
    assert_eq!(fires, (0, 1));
    assert_eq!(last, [14], "fires at the 15th distinct user");
}

#[test]
fn distribution_details_span_and_distinct() {
    let s = spec(
        "multi",
        json!({"type": "x-distribution", "rules": ["fail"], "per": ["actor.alternateId"], "timespan": "1h",
               "condition": {"groups": {"gte": 3}, "events": {"gte": 4}, "span-minutes": {"gte": 3},
                             "distinct": {"field": "client.ipAddress", "gte": 2}}}),
    );
    let mut r = Run::new(vec![s]);
    let ev = |u: &'static str, ip: &'static str| vec![("actor.alternateId", u), ("client.ipAddress", ip)];
    assert!(r.hit(0, "fail", 0, &ev("a", "1.1.1.1")).is_empty());
    assert!(r.hit(0, "fail", M, &ev("b", "1.1.1.1")).is_empty());
    assert!(r.hit(0, "fail", 2 * M, &ev("c", "1.1.1.1")).is_empty());
    assert!(r.hit(0, "fail", 3 * M, &ev("c", "1.1.1.1")).is_empty(), "one IP only");
    let fired = r.hit(0, "fail", 4 * M, &ev("a", "2.2.2.2"));
    assert_eq!(fired.len(), 1);
    let d: BTreeMap<_, _> = fired[0].details.iter().cloned().collect();
    assert_eq!((d["groups"].as_str(), d["events"].as_str(), d["distinct"].as_str()), ("3", "5", "2"));
    assert_eq!((d["span_minutes"].as_str(), d["max_per_group"].as_str()), ("4", "2"));
    assert_eq!(fired[0].count, 5);
    assert!(r.hit(0, "fail", 5 * M, &[("client.ipAddress", "3.3.3.3")]).is_empty(), "no per key: ignored");
}

// ---------------------------------------------------------------- caps, state, determinism

#[test]
fn group_cap_evicts_the_least_recent_then_by_key() {
    let mut s = push_bombing();
    s.max_groups = 3;
    let mut r = Run::new(vec![s]);
    let user = |u: &'static str| vec![("actor.alternateId", u)];
    r.hit(0, "deny", 5 * S, &user("c"));
    r.hit(0, "deny", S, &user("b"));
    r.hit(0, "deny", S, &user("a"));
    r.hit(0, "deny", 9 * S, &user("d"));
    assert_eq!(r.state.size().0, 3);
    let bytes = String::from_utf8(r.state.export()).unwrap_or_default();
    assert!(!bytes.contains("\\\"a\\\""), "a (oldest, first by key) is evicted: {bytes}");
    assert!(bytes.contains("\\\"b\\\"") && bytes.contains("\\\"c\\\"") && bytes.contains("\\\"d\\\""));
}

#[test]
fn entry_cap_keeps_the_newest() {
    let mut s =
        spec("big", json!({"type": "event_count", "rules": ["x"], "timespan": "1d", "condition": {"gte": 1000}}));
    s.max_entries = 10;
    let mut r = Run::new(vec![s]);
    for i in 0..100 {
        assert!(r.hit(0, "x", i * S, &[]).is_empty());
    }
    assert_eq!(r.state.size(), (1, 10));
}

#[test]
fn memory_stays_flat_on_a_long_run() {
    let specs = vec![push_bombing(), new_ip(false), mfa_absence(), geo(), drift(), spray()];
    let mut r = Run::new(specs);
    let mut peak = 0;
    for i in 0..20_000i64 {
        let user = USERS[(i % 20) as usize];
        let ip = ["10.0.0.1", "10.0.0.2", "10.0.0.3"][(i % 3) as usize];
        let t = i * M;
        let f = [
            ("actor.alternateId", user),
            ("target.alternateId", user),
            ("client.ipAddress", ip),
            ("authenticationContext.externalSessionId", user),
            ("client.geographicalContext.geolocation.lat", "10"),
            ("client.geographicalContext.geolocation.lon", "10"),
        ];
        r.hit(0, "deny", t, &f);
        r.hit(1, "login", t, &f);
        r.hit(2, if i % 2 == 0 { "mfa_deactivated" } else { "mfa_activated" }, t, &f);
        r.hit(3, "login", t, &f);
        r.hit(4, "any", t, &f);
        r.hit(5, "fail", t, &f);
        if i % 10 == 0 {
            r.advance(t - 5 * M);
        }
        if i > 2_000 {
            peak = peak.max(r.state.size().1);
        }
    }
    let (groups, entries) = r.state.size();
    assert!(groups <= 103 && entries < 3_000 && peak < 3_000, "{groups} groups, {entries} entries, peak {peak}");
}

#[test]
fn export_import_round_trip_and_errors() {
    let specs = vec![push_bombing(), new_ip(false), mfa_absence(), geo(), drift(), spray(), temporal(true)];
    let mut r = Run::new(specs);
    r.hit(0, "deny", 0, A);
    r.hit(1, "login", 0, &[("actor.alternateId", "a"), ("client.ipAddress", "1.1.1.1")]);
    r.hit(2, "mfa_deactivated", 0, TA);
    r.hit(2, "mfa_activated", 0, TB);
    r.hit(3, "login", 0, &at(NYC.0, NYC.1, "US", "false"));
    r.hit(4, "any", 0, &sess("10.0.0.1", CHROME120));
    r.hit(5, "fail", 0, &[("client.ipAddress", "1.1.1.1"), ("actor.alternateId", "a")]);
    r.hit(6, "brute_force", 0, A);
    r.hit(0, "success", S, B);
    let bytes = r.state.export();
    let back = State::import(&bytes).expect("imports");
    assert_eq!(back.export(), bytes);
    assert_eq!(back, r.state);
    assert_eq!(back.size(), r.state.size());

    assert_eq!(State::import(b"").expect("empty is empty"), State::default());
    let e = State::import(b"garbage").expect_err("garbage");
    assert!(e.contains("not one this version wrote"), "{e}");
    let e = State::import(br#"{"v": 99, "specs": {}}"#).expect_err("version");
    assert!(e.contains("version 99"), "{e}");
    assert!(
        State::import(br#"{"v": 1, "specs": {"x": {"fp": "", "groups": {"window": {"[]": {"e": "no"}}}}}}"#).is_err()
    );
}

#[test]
fn retain_specs_and_changed_specs_drop_state() {
    let mut r = Run::new(vec![push_bombing(), new_ip(false)]);
    r.hit(0, "deny", 0, A);
    r.hit(1, "login", 0, &[("actor.alternateId", "a"), ("client.ipAddress", "1.1.1.1")]);
    assert_eq!(r.state.size().0, 2);
    r.state.retain_specs(&[new_ip(false)]);
    assert_eq!(r.state.size(), (1, 1));
    // At import, state built for another group-by of the same name is dropped too.
    let mut regrouped = new_ip(false);
    regrouped.group_by.truncate(0);
    let mut copy = r.state.clone();
    copy.retain_specs(&[regrouped]);
    assert_eq!(copy.size(), (0, 0));
    // Same name, other group-by (new rules over imported state): the old groups are dropped.
    r.hit(0, "deny", 0, A);
    assert_eq!(r.state.size(), (2, 2));
    let mut changed = push_bombing();
    changed.group_by.truncate(0);
    r.specs[0] = changed;
    r.state.retain_specs(&r.specs);
    r.hit(0, "deny", S, A);
    assert_eq!(r.state.size(), (2, 2), "one new group with one entry, the old one gone");
    // Same name, other kind: also dropped (by advance too).
    r.specs[1] =
        spec("new_ip", json!({"type": "event_count", "rules": ["login"], "timespan": "1m", "condition": {"gte": 9}}));
    r.advance(0);
    assert_eq!(r.state.size(), (1, 1));
}

/// State sits at its spec's index in memory but belongs to the spec's name: with the rule set
/// reordered (or a spec removed), every spec still reads its own groups and no other's.
#[test]
fn state_follows_its_spec_by_name_when_the_rule_set_changes_order() {
    let mut r = Run::new(vec![push_bombing(), new_ip(false)]);
    for t in 0..4 {
        assert!(r.hit(0, "deny", t, A).is_empty());
    }
    r.hit(1, "login", 0, &[("actor.alternateId", "a"), ("client.ipAddress", "1.1.1.1")]);
    let before = r.state.export();
    r.specs.reverse();
    assert_eq!(r.state.export(), before, "reordering alone changes nothing");
    // The fifth deny, now at index 1, completes the window the first four began at index 0.
    let fired = r.hit(1, "deny", 4, A);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].spec, fired[0].count), (1, 5));
    // new_ip, now at index 0, still knows the pair it saw at index 1.
    assert!(r.hit(0, "login", 5, &[("actor.alternateId", "a"), ("client.ipAddress", "1.1.1.1")]).is_empty());
    // With push_bombing gone from the rule set, new_ip's state is still its own.
    r.specs.remove(1);
    assert!(r.hit(0, "login", 6, &[("actor.alternateId", "a"), ("client.ipAddress", "1.1.1.1")]).is_empty());
    assert_eq!(r.hit(0, "login", 7, &[("actor.alternateId", "a"), ("client.ipAddress", "2.2.2.2")]).len(), 1);
}

#[test]
fn identical_streams_give_identical_bytes_and_fires() {
    let run = || {
        let specs = vec![push_bombing(), new_ip(false), geo(), drift(), spray(), stuffing(), temporal(false)];
        let mut r = Run::new(specs);
        let mut fires = Vec::new();
        for i in 0..300i64 {
            let user = USERS[(i * 7 % 20) as usize];
            let f = [
                ("actor.alternateId", user),
                ("client.ipAddress", ["1.1.1.1", "2.2.2.2"][(i % 2) as usize]),
                ("authenticationContext.externalSessionId", "s"),
                ("client.userAgent.rawUserAgent", [CHROME120, CURL][(i % 5 / 4) as usize]),
            ];
            let t = i * 20 * S - (i % 3) * 30 * S;
            for (spec, rule) in
                [(0, "deny"), (1, "login"), (2, "login"), (3, "any"), (4, "fail"), (5, "fail"), (6, "brute_force")]
            {
                fires.extend(r.hit(spec, rule, t, &f));
            }
        }
        (fires, r.state.export())
    };
    let (f1, b1) = run();
    let (f2, b2) = run();
    assert!(!f1.is_empty());
    assert_eq!(f1, f2);
    assert_eq!(b1, b2);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn all_specs() -> Vec<Spec> {
        let mut specs = vec![
            push_bombing(),
            spec(
                "vc",
                json!({"type": "value_count", "rules": ["a", "b"], "group-by": ["g"], "timespan": "5m",
                              "condition": {"field": "v", "gte": 2, "lte": 3}, "x-reset": ["c"]}),
            ),
            spec("t", json!({"type": "temporal", "rules": ["a", "b"], "group-by": ["g"], "timespan": "5m"})),
            spec(
                "to",
                json!({"type": "temporal_ordered", "rules": ["a", "b", "a"], "group-by": ["g"], "timespan": "5m",
                              "aliases": {"g": {"b": "v"}}}),
            ),
            spec(
                "nv",
                json!({"type": "x-new_value", "rules": ["a"], "group-by": ["g"], "fields": ["v"], "history": "10m"}),
            ),
            spec("ab", json!({"type": "x-absence", "rules": ["a", "b"], "group-by": ["g"], "timespan": "3m"})),
            spec(
                "geo",
                json!({"type": "x-geo_velocity", "rules": ["a"], "group-by": ["g"], "timespan": "1h",
                               "min-distance-km": 10}),
            ),
            spec(
                "sd",
                json!({"type": "x-session_drift", "rules": ["a"], "group-by": ["g"], "timespan": "1h",
                              "ip-field": "v", "ua-field": "ua", "max-ua-similarity": 0.5, "device-field": "v",
                              "max-devices": 3}),
            ),
            spec(
                "di",
                json!({"type": "x-distribution", "rules": ["a", "b"], "group-by": ["g"], "per": ["v"],
                              "timespan": "5m", "condition": {"groups": {"gte": 2}, "band": {"gte": 1, "lte": 2},
                              "share-in-band": {"gte": 0.5}, "distinct": {"field": "ua", "gte": 1}}}),
            ),
        ];
        for s in &mut specs {
            s.max_groups = 4;
            s.max_entries = 6;
        }
        specs
    }

    #[derive(Debug, Clone)]
    enum Op {
        Hit { spec: usize, rule: u8, dt: i64, g: u8, v: u8, ua: u8, lat: i16, lon: i16, proxy: bool },
        Advance { back: i64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0usize..10, 0u8..4, -120_000i64..120_000, 0u8..6, 0u8..8, 0u8..3, -95i16..95, -185i16..185, any::<bool>())
                .prop_map(|(spec, rule, dt, g, v, ua, lat, lon, proxy)| Op::Hit { spec, rule, dt, g, v, ua, lat, lon, proxy }),
            1 => (0i64..600_000).prop_map(|back| Op::Advance { back }),
        ]
    }

    /// Runs `ops` on a fresh state, calling `after` with each step's index and the state then.
    fn run_with(
        ops: &[Op],
        mut after: impl FnMut(usize, &mut State) -> Result<(), TestCaseError>,
    ) -> Result<(Vec<Fired>, State), TestCaseError> {
        let specs = all_specs();
        let mut state = State::default();
        let mut fires = Vec::new();
        let mut clock = T0;
        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Hit { spec, rule, dt, g, v, ua, lat, lon, proxy } => {
                    clock += dt.abs() / 4;
                    let f = F::of(&[
                        ("g", ["g0", "g1", "g2", "g3", "g4", ""][*g as usize]),
                        ("v", &format!("v{v}")),
                        ("ua", ["Mozilla/5.0 Chrome", "curl/8", ""][*ua as usize]),
                        ("client.geographicalContext.geolocation.lat", &lat.to_string()),
                        ("client.geographicalContext.geolocation.lon", &lon.to_string()),
                        ("securityContext.isProxy", if *proxy { "true" } else { "false" }),
                    ]);
                    let uuids = vec![format!("e{n}")];
                    let rule = ["a", "b", "c", "deny"][*rule as usize];
                    let hit = Hit { rule, time_ms: clock + dt.min(&0), uuids: &uuids, fields: &f };
                    fires.extend(state.observe(&specs, *spec, &hit));
                }
                Op::Advance { back } => fires.extend(state.advance(&specs, clock - back)),
            }
            after(n, &mut state)?;
        }
        Ok((fires, state))
    }

    /// A host's store of parts: applies one export's changes.
    fn apply(store: &mut BTreeMap<String, Vec<u8>>, changes: crate::StateChanges) {
        for prefix in &changes.dropped_prefixes {
            store.retain(|key, _| !key.starts_with(prefix.as_str()));
        }
        for key in &changes.dropped {
            store.remove(key);
        }
        store.extend(changes.written.into_iter().map(|part| (part.key, part.value)));
    }

    /// The state the parts in `store` hold.
    fn read_parts(store: &BTreeMap<String, Vec<u8>>) -> Result<State, TestCaseError> {
        let mut specs: BTreeMap<String, super::super::SpecParts<'_>> = BTreeMap::new();
        for (key, value) in store {
            let path: Vec<String> = serde_json::from_str(key).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let text = std::str::from_utf8(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            prop_assert!(super::super::SpecParts::file(&mut specs, &path, text), "unexpected part {:?}", path);
        }
        State::from_parts(specs).map_err(TestCaseError::fail)
    }

    /// Applies the changes since the last call to `store`, then checks that the parts read back
    /// as `state` and write its bytes, and that neither `state` nor a state just read from the
    /// parts has changes left.
    fn keep_in_parts(
        store: &mut BTreeMap<String, Vec<u8>>,
        state: &mut State,
        whole: bool,
    ) -> Result<(), TestCaseError> {
        let mut changes = crate::StateChanges::default();
        if whole {
            changes.dropped_prefixes.push(String::new());
        }
        state.changes(whole, &mut changes);
        apply(store, changes);
        let mut back = read_parts(store)?;
        prop_assert!(&back == state, "the parts hold another state");
        prop_assert_eq!(String::from_utf8(back.export()).unwrap(), String::from_utf8(state.export_fresh()).unwrap());
        let mut none = crate::StateChanges::default();
        back.changes(false, &mut none);
        prop_assert_eq!(none, crate::StateChanges::default());
        // Nor does the state itself have any left.
        let mut again = crate::StateChanges::default();
        state.clone().changes(false, &mut again);
        prop_assert_eq!(again, crate::StateChanges::default());
        Ok(())
    }

    fn run(ops: &[Op]) -> (Vec<Fired>, Vec<u8>) {
        let (fires, state) = run_with(ops, |_, _| Ok(())).expect("nothing to check between steps");
        (fires, state.export())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn random_streams_never_panic_and_are_deterministic(ops in prop::collection::vec(op(), 0..200)) {
            let (f1, b1) = run(&ops);
            let (f2, b2) = run(&ops);
            prop_assert_eq!(&f1, &f2);
            prop_assert_eq!(&b1, &b2);
            let back = State::import(&b1).map_err(TestCaseError::fail)?;
            prop_assert_eq!(back.export(), b1);
            for f in &f1 {
                prop_assert!(f.uuids.len() <= super::super::MAX_UUIDS);
            }
        }

        /// An export writes only the groups changed since the last one and reuses the rest: after
        /// every step, that must give the bytes of an export that writes every group anew.
        #[test]
        fn an_export_that_reuses_unchanged_groups_writes_what_a_fresh_one_writes(
            ops in prop::collection::vec(op(), 0..200),
        ) {
            let (_, state) = run_with(&ops, |n, state| {
                // Not after every step, so that several changes pile up between exports.
                if n % 3 == 0 {
                    prop_assert_eq!(String::from_utf8(state.export()).unwrap(), String::from_utf8(state.export_fresh()).unwrap());
                }
                Ok(())
            })?;
            prop_assert_eq!(state.export(), state.export_fresh());
            // And it did keep every group's JSON for the next one.
            prop_assert_eq!(state.written_groups(), state.size().0);
        }

        /// A host that applies the changes after some of the steps (and now and then is told to
        /// replace every part) holds parts that read back as the state, whose groups' JSON is what
        /// an export writes, and that give no changes until the state changes again.
        #[test]
        fn parts_kept_from_the_changes_read_back_as_the_state(
            ops in prop::collection::vec(op(), 0..200),
            every in 1usize..6,
            whole_at in prop::option::of(0usize..200),
        ) {
            let mut store = BTreeMap::new();
            let (_, mut state) = run_with(&ops, |n, state| {
                if n % every == 0 {
                    keep_in_parts(&mut store, state, whole_at == Some(n))?;
                }
                Ok(())
            })?;
            keep_in_parts(&mut store, &mut state, false)?;
        }

        /// Windows write their parts by hand: the bytes must be serde_json's.
        #[test]
        fn a_window_writes_the_json_serde_json_writes(
            floor in prop::option::of(any::<i64>()),
            last in prop::option::of(any::<i64>()),
            entries in prop::collection::vec(
                (
                    any::<i64>(),
                    prop_oneof![Just(String::new()), any::<String>(), "[\\x00-\\x7f\"\\\\]{0,12}"],
                    prop_oneof![Just(String::new()), any::<String>()],
                    prop::collection::vec(prop_oneof![any::<String>(), "[0-9a-f-]{36}"], 0..3),
                ),
                0..5,
            ),
        ) {
            use super::super::ToJson;
            let mut group = super::super::window::Group::default();
            group.floor = floor;
            group.last = last;
            group.e = entries
                .into_iter()
                .map(|(t, k, d, u)| super::super::window::Entry { t, k, d, u, h: 0 })
                .collect();
            prop_assert_eq!(String::from_utf8(group.to_json()).unwrap(), serde_json::to_string(&group).unwrap());
        }

        /// Group keys are saved in the exported state, so they must stay what serde_json wrote.
        #[test]
        fn group_keys_are_written_as_serde_json_writes_them(
            values in prop::collection::vec(prop_oneof![any::<String>(), "[\\x00-\\x7f\"\\\\]{0,12}"], 0..4),
        ) {
            prop_assert_eq!(super::super::key_of(&values), serde_json::to_string(&values).unwrap());
        }

        #[test]
        fn import_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = State::import(&bytes);
        }

        #[test]
        fn parse_never_panics(n in any::<i64>(), s in ".{0,12}", f in any::<f64>()) {
            for kind in ["event_count", "value_count", "temporal", "x-geo_velocity", "x-session_drift", "x-distribution"] {
                let _ = parse(&json!({"type": kind, "rules": [s.clone(), "b"], "timespan": s.clone(),
                    "condition": {"gte": n, "lte": f, "field": s.clone(), "groups": {"gte": n}},
                    "max-speed-kmh": f, "max-devices": n, "device-field": s.clone(), "per": [s.clone()]}));
            }
        }
    }
}

/// The state stays usable when exported and imported midway: the same fires as without.
#[test]
fn resuming_from_an_export_gives_the_same_fires() {
    let specs = || vec![push_bombing(), new_ip(false), mfa_absence(), geo(), drift(), spray()];
    type Event<'a> = (usize, &'a str, i64, Vec<(&'a str, &'a str)>);
    let events: Vec<Event<'_>> = (0..120i64)
        .flat_map(|i| {
            let user = USERS[(i % 4) as usize];
            let f = vec![
                ("actor.alternateId", user),
                ("target.alternateId", user),
                ("client.ipAddress", USERS[(i % 7) as usize]),
            ];
            vec![
                (0, "deny", i * 30 * S, f.clone()),
                (1, "login", i * 30 * S, f.clone()),
                (2, if i % 5 == 0 { "mfa_deactivated" } else { "mfa_activated" }, i * 3 * H, f.clone()),
                (5, "fail", i * 30 * S, f),
            ]
        })
        .collect();
    let mut whole = Run::new(specs());
    let mut fires_whole = Vec::new();
    for (s, rule, t, f) in &events {
        fires_whole.extend(whole.hit(*s, rule, *t, f));
    }
    fires_whole.extend(whole.advance(1_000 * H));

    let mut first = Run::new(specs());
    let mut fires = Vec::new();
    let (a, b) = events.split_at(events.len() / 2);
    for (s, rule, t, f) in a {
        fires.extend(first.hit(*s, rule, *t, f));
    }
    let mut second = Run::new(specs());
    second.state = State::import(&first.state.export()).expect("imports");
    second.n = first.n;
    for (s, rule, t, f) in b {
        fires.extend(second.hit(*s, rule, *t, f));
    }
    fires.extend(second.advance(1_000 * H));
    assert!(!fires.is_empty());
    assert_eq!(fires, fires_whole);
}
