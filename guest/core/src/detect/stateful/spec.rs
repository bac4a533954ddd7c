//! The parsed form of a rule's `correlation:` mapping, and its parser.
//!
//! Every error names the key it is about (as a path inside the mapping) and says what to write.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The types `correlation.type` accepts, in the order error messages list them.
pub(crate) const TYPES: &str = "event_count, value_count, temporal, temporal_ordered, x-new_value, x-absence, \
     x-geo_velocity, x-session_drift, x-distribution";

/// Groups kept per correlation before the least recently seen are evicted.
pub(crate) const DEFAULT_MAX_GROUPS: usize = 20_000;
/// Entries (timestamps, values, points) kept per group before the oldest are dropped.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 1_000;
/// `x-distribution` keeps every event of the outer group in the window, so it gets more.
pub(crate) const DEFAULT_MAX_DISTRIBUTION_ENTRIES: usize = 10_000;

/// The field `x-session_drift` reads IPs from unless `ip-field` says otherwise.
pub(crate) const DEFAULT_IP_FIELD: &str = "client.ipAddress";
/// The field `x-session_drift` reads user agents from unless `ua-field` says otherwise.
pub(crate) const DEFAULT_UA_FIELD: &str = "client.userAgent.rawUserAgent";

/// One parsed correlation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    /// The correlation rule's `name`; state is kept under it. Empty until [`Spec::set_name`].
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// The rules (or correlations) it reads, by name or id as written.
    pub(crate) rules: Vec<String>,
    /// `x-reset`: rules whose match clears the group (count-style types only).
    pub(crate) reset: Vec<String>,
    /// `group-by`, in order, each with its per-rule `aliases`.
    pub(crate) group_by: Vec<GroupBy>,
    /// `timespan` (for `x-new_value`, `history`), in milliseconds; always > 0.
    pub(crate) timespan_ms: i64,
    /// `generate` written inside the correlation mapping, when it was.
    pub(crate) generate: Option<bool>,
    /// Caps that keep memory flat; not settable from YAML (tests lower them).
    pub(crate) max_groups: usize,
    pub(crate) max_entries: usize,
}

/// One `group-by` entry. `name` is the field path, or an alias name when `aliases` has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupBy {
    pub(crate) name: String,
    /// rule name → field path (empty when `name` is a plain field).
    pub(crate) aliases: BTreeMap<String, String>,
}

impl GroupBy {
    /// The field path to read for a hit of `rule`.
    pub(crate) fn field_for(&self, rule: &str) -> &str {
        self.aliases.get(rule).map_or(self.name.as_str(), String::as_str)
    }
}

/// The type of a correlation and its own parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// Matches in the window.
    EventCount { condition: Condition },
    /// Distinct values of `field` in the window.
    ValueCount { field: String, condition: Condition },
    /// Every rule in the window (`ordered`: in the listed order by event time). The condition is on
    /// the number of distinct rules seen (ordered: the longest in-order prefix); default all.
    Temporal { ordered: bool, condition: Condition },
    /// A tuple of `fields` not seen in the group within `timespan_ms` (the history).
    NewValue { fields: Vec<String>, new_group_fires: bool },
    /// `rules[0]` not followed by `rules[1]` within the timespan.
    Absence,
    /// Two located matches farther apart than `min_distance_km` at more than `max_speed_kmh`.
    GeoVelocity { max_speed_kmh: f64, min_distance_km: f64, skip_proxies: bool },
    /// A new IP with a dissimilar user agent, and/or too many devices, in one session.
    SessionDrift {
        ip_field: String,
        ua_field: String,
        /// The IP/UA check runs when this is set.
        max_ua_similarity: Option<f64>,
        /// The device check runs when both are set.
        device_field: Option<String>,
        max_devices: Option<u64>,
    },
    /// Two-level counts: per outer group, per `per` key; then shape tests.
    Distribution { per: Vec<String>, condition: Box<DistCondition> },
}

impl Kind {
    /// The `type` as written in YAML.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Kind::EventCount { .. } => "event_count",
            Kind::ValueCount { .. } => "value_count",
            Kind::Temporal { ordered: false, .. } => "temporal",
            Kind::Temporal { ordered: true, .. } => "temporal_ordered",
            Kind::NewValue { .. } => "x-new_value",
            Kind::Absence => "x-absence",
            Kind::GeoVelocity { .. } => "x-geo_velocity",
            Kind::SessionDrift { .. } => "x-session_drift",
            Kind::Distribution { .. } => "x-distribution",
        }
    }
}

/// `{gt, gte, lt, lte, eq}`, all that are set must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Condition {
    pub(crate) gt: Option<f64>,
    pub(crate) gte: Option<f64>,
    pub(crate) lt: Option<f64>,
    pub(crate) lte: Option<f64>,
    pub(crate) eq: Option<f64>,
}

impl Condition {
    pub(crate) fn gte(n: f64) -> Self {
        Condition { gte: Some(n), ..Condition::default() }
    }

    pub(crate) fn test(&self, v: f64) -> bool {
        self.gt.is_none_or(|x| v > x)
            && self.gte.is_none_or(|x| v >= x)
            && self.lt.is_none_or(|x| v < x)
            && self.lte.is_none_or(|x| v <= x)
            && self.eq.is_none_or(|x| v == x)
    }

    /// Whether some value no greater than `max` could pass: `false` lets a count that cannot exceed
    /// `max` skip computing itself (a window of 3 entries never holds 10 distinct values).
    pub(crate) fn reachable_up_to(&self, max: f64) -> bool {
        self.gt.is_none_or(|x| max > x) && self.gte.is_none_or(|x| max >= x) && self.eq.is_none_or(|x| max >= x)
    }

    fn is_empty(&self) -> bool {
        self.gt.is_none() && self.gte.is_none() && self.lt.is_none() && self.lte.is_none() && self.eq.is_none()
    }
}

/// The shape tests of `x-distribution`; every one that is set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DistCondition {
    /// Distinct `per` keys in the window.
    pub(crate) groups: Option<Condition>,
    /// Events in the window.
    pub(crate) events: Option<Condition>,
    /// The per-key count range that `share_in_band` measures.
    pub(crate) band: Option<Condition>,
    /// Fraction (0–1) of the `per` keys whose count is in `band`.
    pub(crate) share_in_band: Option<Condition>,
    /// The largest per-key count.
    pub(crate) max_per_group: Option<Condition>,
    /// Minutes from the first to the last event in the window.
    pub(crate) span_minutes: Option<Condition>,
    /// Distinct values of a field over the window.
    pub(crate) distinct: Option<(String, Condition)>,
}

/// A problem in a correlation mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecError {
    /// Keys inside the correlation mapping, e.g. `["condition", "gte"]`; empty for the mapping itself.
    pub(crate) path: Vec<String>,
    pub(crate) message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "correlation: {}", self.message)
        } else {
            write!(f, "correlation.{}: {}", self.path.join("."), self.message)
        }
    }
}

impl Spec {
    /// Every rule name a hit can come from: `rules`, then `x-reset`.
    pub(crate) fn inputs(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().chain(self.reset.iter()).map(String::as_str)
    }

    /// Sets the name state is kept under (the correlation rule's `name`).
    pub(crate) fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Rewrites a reference (e.g. a rule id to its name) in `rules`, `x-reset` and `aliases`.
    pub(crate) fn rename_rule(&mut self, from: &str, to: &str) {
        for r in self.rules.iter_mut().chain(self.reset.iter_mut()) {
            if r == from {
                *r = to.to_owned();
            }
        }
        for g in &mut self.group_by {
            if let Some(field) = g.aliases.remove(from) {
                g.aliases.insert(to.to_owned(), field);
            }
        }
    }
}

fn err(path: &[&str], message: impl Into<String>) -> SpecError {
    SpecError { path: path.iter().map(|s| (*s).to_owned()).collect(), message: message.into() }
}

/// Parses a duration such as `30s`, `10m`, `12h` or `14d` into milliseconds.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn duration(map: &Map<String, Value>, key: &str) -> Result<Option<i64>, SpecError> {
    let Some(v) = map.get(key) else { return Ok(None) };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match parse_duration(&text) {
        Some(0) => Err(err(&[key], format!("{key} '{text}' is zero; write a length such as 30s, 10m, 12h or 14d"))),
        Some(ms) => Ok(Some(ms)),
        None => Err(err(&[key], format!("{key} '{text}' is not a duration; write e.g. 30s, 10m, 12h or 14d"))),
    }
}

fn string_list(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, SpecError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                _ => Err(SpecError {
                    path: vec![key.to_owned(), i.to_string()],
                    message: format!("{key} must be a list of names; item {} is not a non-empty string", i + 1),
                }),
            })
            .collect(),
        Some(_) => Err(err(&[key], format!("{key} must be a list, e.g. {key}: [a, b]"))),
    }
}

fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, SpecError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(err(&[key], format!("{key} must be a field name, e.g. {key}: client.ipAddress"))),
    }
}

fn number_at(v: &Value, path: &[&str]) -> Result<f64, SpecError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err(err(path, format!("'{}' is not a number; write e.g. {}: 5", display(v), path.last().unwrap_or(&"")))),
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(map: &Map<String, Value>, key: &str) -> Result<Option<f64>, SpecError> {
    map.get(key).filter(|v| !v.is_null()).map(|v| number_at(v, &[key])).transpose()
}

fn boolean(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, SpecError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(err(&[key], format!("{key} must be true or false, not '{}'", display(v)))),
    }
}

const OPS: &str = "gt, gte, lt, lte or eq";

/// Parses `{gt, gte, lt, lte, eq}` at `path`; `extra` keys are skipped (the caller reads them).
fn condition(v: &Value, path: &[&str], extra: &[&str]) -> Result<Condition, SpecError> {
    let Value::Object(map) = v else {
        return Err(err(path, format!("must be a mapping of {OPS} to a number, e.g. {{gte: 5}}")));
    };
    let mut c = Condition::default();
    for (k, v) in map {
        let mut p = path.to_vec();
        p.push(k);
        let n = || number_at(v, &p);
        match k.as_str() {
            "gt" => c.gt = Some(n()?),
            "gte" => c.gte = Some(n()?),
            "lt" => c.lt = Some(n()?),
            "lte" => c.lte = Some(n()?),
            "eq" => c.eq = Some(n()?),
            k if extra.contains(&k) => {}
            k => {
                let more = extra.iter().map(|e| format!(", {e}")).collect::<String>();
                return Err(err(&p, format!("unknown condition operator '{k}'; expected {OPS}{more}")));
            }
        }
    }
    if c.is_empty() {
        return Err(err(path, format!("needs at least one of {OPS}, e.g. {{gte: 5}}")));
    }
    Ok(c)
}

const COMMON_KEYS: &[&str] = &["type", "rules", "group-by", "timespan", "timeframe", "aliases", "generate"];

fn own_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "event_count" | "value_count" | "temporal" | "temporal_ordered" => &["condition", "x-reset"],
        "x-new_value" => &["fields", "history", "new-group"],
        "x-geo_velocity" => &["max-speed-kmh", "min-distance-km", "skip-proxies"],
        "x-session_drift" => &["ip-field", "ua-field", "max-ua-similarity", "device-field", "max-devices"],
        "x-distribution" => &["per", "condition"],
        _ => &[],
    }
}

/// Parses the value of a rule's `correlation:` key (YAML already converted to JSON).
pub(crate) fn parse(correlation: &Value) -> Result<Spec, SpecError> {
    let Value::Object(map) = correlation else {
        return Err(err(&[], "must be a mapping with type, rules, group-by, timespan and condition"));
    };
    let kind_name = match map.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(v) => return Err(err(&["type"], format!("type must be one of {TYPES}, not '{}'", display(v)))),
        None => return Err(err(&[], format!("type is missing; write type: and one of {TYPES}"))),
    };
    if !matches!(
        kind_name,
        "event_count"
            | "value_count"
            | "temporal"
            | "temporal_ordered"
            | "x-new_value"
            | "x-absence"
            | "x-geo_velocity"
            | "x-session_drift"
            | "x-distribution"
    ) {
        return Err(err(&["type"], format!("unknown correlation type '{kind_name}'; expected one of {TYPES}")));
    }
    let own = own_keys(kind_name);
    for key in map.keys() {
        if !COMMON_KEYS.contains(&key.as_str()) && !own.contains(&key.as_str()) {
            let hint =
                if own.is_empty() { String::new() } else { format!("; {kind_name} also takes {}", own.join(", ")) };
            return Err(err(
                &[key],
                format!("unknown key '{key}' for {kind_name}; the keys are {}{hint}", COMMON_KEYS[..6].join(", ")),
            ));
        }
    }

    let rules = string_list(map, "rules")?;
    if rules.is_empty() {
        return Err(err(&["rules"], "rules is missing or empty; list the names of the rules this correlates"));
    }
    let reset = string_list(map, "x-reset")?;
    let distinct_rules: BTreeSet<&str> = rules.iter().map(String::as_str).collect();

    let group_names = string_list(map, "group-by")?;
    let mut group_by: Vec<GroupBy> =
        group_names.iter().map(|n| GroupBy { name: n.clone(), aliases: BTreeMap::new() }).collect();
    match map.get("aliases") {
        None | Some(Value::Null) => {}
        Some(Value::Object(aliases)) => {
            for (alias, per_rule) in aliases {
                let Some(g) = group_by.iter_mut().find(|g| &g.name == alias) else {
                    return Err(err(
                        &["aliases", alias],
                        format!("alias '{alias}' is not in group-by; add it to group-by or remove it"),
                    ));
                };
                let Value::Object(per_rule) = per_rule else {
                    return Err(err(
                        &["aliases", alias],
                        format!("alias '{alias}' must map each rule to a field, e.g. {{rule_a: user.name}}"),
                    ));
                };
                for (rule, field) in per_rule {
                    if !rules.contains(rule) && !reset.contains(rule) {
                        return Err(err(
                            &["aliases", alias, rule],
                            format!("alias '{alias}' names rule '{rule}', which is not in rules or x-reset"),
                        ));
                    }
                    let Value::String(field) = field else {
                        return Err(err(&["aliases", alias, rule], "must be a field name, e.g. actor.alternateId"));
                    };
                    g.aliases.insert(rule.clone(), field.clone());
                }
            }
        }
        Some(_) => {
            return Err(err(&["aliases"], "aliases must be a mapping: alias name → {rule name: field}"));
        }
    }

    let timespan_key = if map.contains_key("timespan") { "timespan" } else { "timeframe" };
    let timespan = duration(map, timespan_key)?;
    let generate = boolean(map, "generate")?;

    let count_condition = |required: bool| -> Result<Option<Condition>, SpecError> {
        match map.get("condition") {
            None | Some(Value::Null) if required => Err(err(
                &["condition"],
                format!("{kind_name} needs a condition, e.g. condition: {{gte: 5}} ({OPS}, combinable)"),
            )),
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                condition(v, &["condition"], if kind_name == "value_count" { &["field"] } else { &[] }).map(Some)
            }
        }
    };

    let kind = match kind_name {
        "event_count" => Kind::EventCount { condition: count_condition(true)?.unwrap_or_default() },
        "value_count" => {
            let field = match map.get("condition").and_then(|c| c.get("field")) {
                Some(Value::String(f)) if !f.trim().is_empty() => f.clone(),
                Some(_) => {
                    return Err(err(
                        &["condition", "field"],
                        "condition.field must be a field name, e.g. client.ipAddress",
                    ));
                }
                None => {
                    return Err(err(
                        &["condition"],
                        "value_count needs condition.field: the field whose distinct values are counted, \
                         e.g. condition: {field: client.ipAddress, gte: 3}",
                    ));
                }
            };
            Kind::ValueCount { field, condition: count_condition(true)?.unwrap_or_default() }
        }
        "temporal" | "temporal_ordered" => {
            if distinct_rules.len() < 2 {
                return Err(err(&["rules"], format!("{kind_name} needs at least two different rules")));
            }
            let all = f64::from(u32::try_from(distinct_rules.len()).unwrap_or(u32::MAX));
            let default = if kind_name == "temporal" {
                Condition::gte(all)
            } else {
                Condition::gte(f64::from(u32::try_from(rules.len()).unwrap_or(u32::MAX)))
            };
            Kind::Temporal {
                ordered: kind_name == "temporal_ordered",
                condition: count_condition(false)?.unwrap_or(default),
            }
        }
        "x-new_value" => {
            let fields = string_list(map, "fields")?;
            if fields.is_empty() {
                return Err(err(
                    &["fields"],
                    "x-new_value needs fields: the field tuple that must be new, e.g. [client.ipAddress]",
                ));
            }
            let new_group_fires = match map.get("new-group") {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) if s == "learn" => false,
                Some(Value::String(s)) if s == "fire" => true,
                Some(v) => {
                    return Err(err(&["new-group"], format!("new-group must be learn or fire, not '{}'", display(v))));
                }
            };
            Kind::NewValue { fields, new_group_fires }
        }
        "x-absence" => {
            if rules.len() != 2 || distinct_rules.len() != 2 {
                return Err(err(
                    &["rules"],
                    "x-absence needs exactly two different rules: [trigger, cancel] (the cancel must follow the trigger)",
                ));
            }
            Kind::Absence
        }
        "x-geo_velocity" => {
            let max_speed_kmh = number(map, "max-speed-kmh")?.unwrap_or(900.0);
            let min_distance_km = number(map, "min-distance-km")?.unwrap_or(0.0);
            if max_speed_kmh <= 0.0 {
                return Err(err(&["max-speed-kmh"], "max-speed-kmh must be above zero, e.g. 900"));
            }
            if min_distance_km < 0.0 {
                return Err(err(&["min-distance-km"], "min-distance-km must not be negative, e.g. 200"));
            }
            let skip_proxies = boolean(map, "skip-proxies")?.unwrap_or(true);
            Kind::GeoVelocity { max_speed_kmh, min_distance_km, skip_proxies }
        }
        "x-session_drift" => {
            let max_ua_similarity = number(map, "max-ua-similarity")?;
            if let Some(s) = max_ua_similarity
                && !(0.0..=1.0).contains(&s)
            {
                return Err(err(&["max-ua-similarity"], "max-ua-similarity must be between 0 and 1, e.g. 0.9"));
            }
            let device_field = string(map, "device-field")?;
            let max_devices = match number(map, "max-devices")? {
                None => None,
                Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 1e9 => Some(n as u64),
                Some(_) => {
                    return Err(err(&["max-devices"], "max-devices must be a whole number of at least 1, e.g. 4"));
                }
            };
            match (&device_field, max_devices) {
                (Some(_), None) => {
                    return Err(err(&["max-devices"], "device-field needs max-devices, e.g. max-devices: 4"));
                }
                (None, Some(_)) => {
                    return Err(err(
                        &["device-field"],
                        "max-devices needs device-field, e.g. device-field: debugContext.debugData.dtHash",
                    ));
                }
                _ => {}
            }
            if max_ua_similarity.is_none() && device_field.is_none() {
                return Err(err(
                    &[],
                    "x-session_drift needs max-ua-similarity (new IP with a dissimilar user agent) \
                     or device-field with max-devices, or both",
                ));
            }
            Kind::SessionDrift {
                ip_field: string(map, "ip-field")?.unwrap_or_else(|| DEFAULT_IP_FIELD.to_owned()),
                ua_field: string(map, "ua-field")?.unwrap_or_else(|| DEFAULT_UA_FIELD.to_owned()),
                max_ua_similarity,
                device_field,
                max_devices,
            }
        }
        _ => {
            let per = string_list(map, "per")?;
            if per.is_empty() {
                return Err(err(
                    &["per"],
                    "x-distribution needs per: the inner keys counted per group, e.g. [actor.alternateId]",
                ));
            }
            Kind::Distribution { per, condition: Box::new(dist_condition(map.get("condition"))?) }
        }
    };

    let timespan_ms = match (&kind, timespan) {
        (Kind::NewValue { .. }, _) => match duration(map, "history")? {
            Some(h) => h,
            None => timespan.ok_or_else(|| err(&["history"], "x-new_value needs history, e.g. history: 14d"))?,
        },
        (_, Some(t)) => t,
        (_, None) => return Err(err(&["timespan"], "timespan is missing; write e.g. timespan: 10m (s, m, h or d)")),
    };
    if !reset.is_empty() && !matches!(kind, Kind::EventCount { .. } | Kind::ValueCount { .. } | Kind::Temporal { .. }) {
        return Err(err(&["x-reset"], "x-reset applies to event_count, value_count and temporal types only"));
    }
    let max_entries =
        if matches!(kind, Kind::Distribution { .. }) { DEFAULT_MAX_DISTRIBUTION_ENTRIES } else { DEFAULT_MAX_ENTRIES };
    Ok(Spec {
        name: String::new(),
        kind,
        rules,
        reset,
        group_by,
        timespan_ms,
        generate,
        max_groups: DEFAULT_MAX_GROUPS,
        max_entries,
    })
}

const DIST_KEYS: &str = "groups, events, band, share-in-band, max-per-group, span-minutes, distinct";

fn dist_condition(v: Option<&Value>) -> Result<DistCondition, SpecError> {
    let Some(Value::Object(map)) = v else {
        return Err(err(
            &["condition"],
            format!("x-distribution needs a condition mapping with any of {DIST_KEYS}, e.g. {{groups: {{gte: 10}}}}"),
        ));
    };
    let mut c = DistCondition::default();
    for (k, v) in map {
        let path = ["condition", k.as_str()];
        match k.as_str() {
            "groups" => c.groups = Some(condition(v, &path, &[])?),
            "events" => c.events = Some(condition(v, &path, &[])?),
            "band" => c.band = Some(condition(v, &path, &[])?),
            "share-in-band" => c.share_in_band = Some(condition(v, &path, &[])?),
            "max-per-group" => c.max_per_group = Some(condition(v, &path, &[])?),
            "span-minutes" => c.span_minutes = Some(condition(v, &path, &[])?),
            "distinct" => {
                let field = match v.get("field") {
                    Some(Value::String(f)) if !f.trim().is_empty() => f.clone(),
                    _ => {
                        return Err(err(
                            &path,
                            "distinct needs field and a bound, e.g. distinct: {field: client.ipAddress, gte: 5}",
                        ));
                    }
                };
                c.distinct = Some((field, condition(v, &path, &["field"])?));
            }
            other => {
                return Err(err(
                    &path,
                    format!("unknown x-distribution condition '{other}'; expected one of {DIST_KEYS}"),
                ));
            }
        }
    }
    if c.share_in_band.is_some() != c.band.is_some() {
        let (path, msg) = if c.band.is_some() {
            ("band", "band is only used by share-in-band; add share-in-band, e.g. share-in-band: {gte: 0.6}")
        } else {
            ("share-in-band", "share-in-band needs band: the per-key count range, e.g. band: {gte: 2, lte: 8}")
        };
        return Err(err(&["condition", path], msg));
    }
    if c == DistCondition::default() {
        return Err(err(&["condition"], format!("the condition is empty; set any of {DIST_KEYS}")));
    }
    Ok(c)
}
