//! From a match to an [`Alert`]: the `x-okta` alert controls (threshold and dedup on event
//! time, conditional severity, title template, risk) and the ECS alert document.
//!
//! Alert ids are deterministic: FNV-1a (64-bit) over the rule id and the triggering uuids, so
//! the same events always give the same id, natively and in wasm.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::field::EventView;
use super::rule::{Part, Rule};
use crate::normalize::ECS_VERSION;
use crate::normalize::json::ObjectWriter;
use crate::{Alert, AlertKind};

/// Alerts keep at most this many uuids (the newest).
pub(crate) const MAX_ALERT_UUIDS: usize = 100;

/// Per dedup key: the recent matches (at most `threshold`) and the last alert, in event time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tally {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    times: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_alert: Option<i64>,
}

impl Tally {
    /// The newest time this tally knows.
    pub(crate) fn newest(&self) -> i64 {
        self.times.last().copied().max(self.last_alert).unwrap_or(i64::MIN)
    }
}

/// Applies threshold and dedup to a match at `time_ms` under `key`. Returns how many matches the
/// alert stands for, or `None` when no alert is due.
pub(crate) fn admit(rule: &Rule, tallies: &mut BTreeMap<String, Tally>, key: String, time_ms: i64) -> Option<u64> {
    let controls = &rule.controls;
    let Some(dedup) = &controls.dedup else {
        return Some(1);
    };
    let threshold = controls.threshold.max(1) as usize;
    let window = dedup.window_ms;
    let tally = tallies.entry(key).or_default();
    tally.times.retain(|t| time_ms.saturating_sub(*t) < window && *t <= time_ms);
    let at = tally.times.partition_point(|t| *t <= time_ms);
    tally.times.insert(at, time_ms);
    if tally.times.len() > threshold {
        tally.times.remove(0);
    }
    if tally.times.len() < threshold {
        return None;
    }
    if tally.last_alert.is_some_and(|last| time_ms >= last && time_ms.saturating_sub(last) < window) {
        return None;
    }
    tally.last_alert = Some(time_ms);
    let count = tally.times.len() as u64;
    tally.times.clear();
    Some(count)
}

/// The dedup key of a match: the `dedup.by` values of the event (or of the correlation group).
pub(crate) fn dedup_key(rule: &Rule, view: Option<&EventView<'_>>, group: &[(String, String)]) -> String {
    let Some(dedup) = &rule.controls.dedup else {
        return String::new();
    };
    let mut key = String::new();
    for path in &dedup.by {
        let value = view
            .and_then(|v| v.texts(path).into_iter().next())
            .or_else(|| group.iter().find(|(k, _)| k.eq_ignore_ascii_case(&path.text)).map(|(_, v)| v.clone()))
            .unwrap_or_default();
        key.push_str(&value.to_lowercase());
        key.push('\u{1f}');
    }
    key
}

/// What an alert is made from.
#[derive(Debug)]
pub(crate) struct Trigger<'a, 'v> {
    pub(crate) time_ms: i64,
    pub(crate) uuids: &'a [String],
    pub(crate) count: u64,
    /// Correlation group-by values.
    pub(crate) group: &'a [(String, String)],
    /// Correlation facts (distance, speed, ...).
    pub(crate) details: &'a [(String, String)],
    /// The last triggering event, when there is one (not for an absence deadline).
    pub(crate) view: Option<&'a EventView<'v>>,
}

/// Builds the alert for `rule`.
pub(crate) fn build(rule: &Rule, trigger: &Trigger<'_, '_>, tenant: &str) -> Alert {
    let level = trigger
        .view
        .and_then(|view| rule.controls.severity.iter().find(|(when, _)| when.eval(view)).map(|(_, l)| *l))
        .unwrap_or(rule.level);
    let risk = rule.controls.risk.unwrap_or_else(|| level.score());
    let title = title(rule, trigger);
    let uuids: Vec<String> = trigger.uuids[trigger.uuids.len().saturating_sub(MAX_ALERT_UUIDS)..].to_vec();
    let id = alert_id(&rule.id, &uuids, trigger.time_ms);
    let kind = if rule.controls.signal { AlertKind::Signal } else { AlertKind::Alert };
    let timestamp = format_ms(trigger.time_ms);

    let related = trigger.view.map(|view| {
        let [user, ip] = [&*RELATED_USER, &*RELATED_IP].map(|path| {
            let mut values = view.texts(path);
            values.dedup();
            values
        });
        Related { ip, user }
    });
    let threat = (!rule.tactics.is_empty() || !rule.techniques.is_empty()).then(|| Threat {
        framework: "MITRE ATT&CK",
        tactic: Attack::of(&rule.tactics),
        technique: Attack::of(&rule.techniques),
    });
    let doc = Document {
        timestamp: &timestamp,
        ecs: Ecs { version: ECS_VERSION },
        event: Event {
            dataset: "okta.alert",
            id: &id,
            kind: if kind == AlertKind::Signal { "signal" } else { "alert" },
            module: "okta",
            reference: uuids.first().map(String::as_str),
            risk_score: risk,
            severity: level.score(),
        },
        message: &title,
        okta: Okta {
            alert: OktaAlert {
                count: trigger.count,
                details: pairs(trigger.details),
                event_uuids: &uuids,
                group: pairs(trigger.group),
                rule: &rule.name,
                severity: level.as_str(),
            },
        },
        organization: Organization { id: tenant },
        related: related.filter(|r| !r.ip.is_empty() || !r.user.is_empty()),
        rule: RuleDoc {
            description: Some(rule.description.as_str()).filter(|d| !d.is_empty()),
            id: &rule.id,
            name: &rule.title,
            reference: rule.references.first().map(String::as_str),
            ruleset: "okta-normalizer",
        },
        threat,
    };
    let document = doc.to_json();
    Alert {
        id,
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        kind,
        severity: level.as_str().to_owned(),
        risk_score: risk,
        published_ms: trigger.time_ms,
        event_uuids: uuids,
        document,
    }
}

// The alert document. Fields are declared in alphabetical order at every level, the order the
// document has always had (it was a `serde_json::Value`, whose maps sort their keys). It is
// written by hand (`Document::to_json`) with the ECS writer's escaper, which skips eight bytes at
// a time where serde_json's looks at every byte (the uuids make most of an alert); the tests hold
// it to the bytes serde_json writes from the same structs.

#[cfg_attr(test, derive(Serialize))]
struct Document<'a> {
    #[cfg_attr(test, serde(rename = "@timestamp"))]
    timestamp: &'a str,
    ecs: Ecs,
    event: Event<'a>,
    message: &'a str,
    okta: Okta<'a>,
    organization: Organization<'a>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    related: Option<Related>,
    rule: RuleDoc<'a>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    threat: Option<Threat<'a>>,
}

#[cfg_attr(test, derive(Serialize))]
struct Ecs {
    version: &'static str,
}

#[cfg_attr(test, derive(Serialize))]
struct Event<'a> {
    dataset: &'static str,
    id: &'a str,
    kind: &'static str,
    module: &'static str,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    reference: Option<&'a str>,
    risk_score: u8,
    severity: u8,
}

#[cfg_attr(test, derive(Serialize))]
struct Okta<'a> {
    alert: OktaAlert<'a>,
}

#[cfg_attr(test, derive(Serialize))]
struct OktaAlert<'a> {
    count: u64,
    #[cfg_attr(test, serde(skip_serializing_if = "BTreeMap::is_empty"))]
    details: BTreeMap<&'a str, &'a str>,
    event_uuids: &'a [String],
    #[cfg_attr(test, serde(skip_serializing_if = "BTreeMap::is_empty"))]
    group: BTreeMap<&'a str, &'a str>,
    rule: &'a str,
    severity: &'static str,
}

#[cfg_attr(test, derive(Serialize))]
struct Organization<'a> {
    id: &'a str,
}

#[cfg_attr(test, derive(Serialize))]
struct Related {
    #[cfg_attr(test, serde(skip_serializing_if = "Vec::is_empty"))]
    ip: Vec<String>,
    #[cfg_attr(test, serde(skip_serializing_if = "Vec::is_empty"))]
    user: Vec<String>,
}

#[cfg_attr(test, derive(Serialize))]
struct RuleDoc<'a> {
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    description: Option<&'a str>,
    id: &'a str,
    name: &'a str,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    reference: Option<&'a str>,
    ruleset: &'static str,
}

#[cfg_attr(test, derive(Serialize))]
struct Threat<'a> {
    framework: &'static str,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    tactic: Option<Attack<'a>>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    technique: Option<Attack<'a>>,
}

/// ATT&CK tactics or techniques: their ids and names, in two parallel lists.
#[cfg_attr(test, derive(Serialize))]
struct Attack<'a> {
    id: Vec<&'a str>,
    name: Vec<&'a str>,
}

impl Document<'_> {
    fn to_json(&self) -> String {
        let uuids = self.okta.alert.event_uuids;
        let mut out = Vec::with_capacity(1024 + uuids.iter().map(|u| u.len() + 3).sum::<usize>());
        ObjectWriter::write(&mut out, |doc| {
            doc.str("@timestamp", self.timestamp).object("ecs", |o| {
                o.str("version", self.ecs.version);
            });
            doc.object("event", |o| {
                let event = &self.event;
                o.str("dataset", event.dataset).str("id", event.id).str("kind", event.kind).str("module", event.module);
                if let Some(reference) = event.reference {
                    o.str("reference", reference);
                }
                o.int("risk_score", event.risk_score).int("severity", event.severity);
            });
            doc.str("message", self.message).object("okta", |o| {
                o.object("alert", |o| {
                    let alert = &self.okta.alert;
                    o.int("count", alert.count);
                    if !alert.details.is_empty() {
                        o.pairs("details", alert.details.iter().map(|(k, v)| (*k, *v)));
                    }
                    o.strs("event_uuids", alert.event_uuids.iter().map(String::as_str));
                    if !alert.group.is_empty() {
                        o.pairs("group", alert.group.iter().map(|(k, v)| (*k, *v)));
                    }
                    o.str("rule", alert.rule).str("severity", alert.severity);
                });
            });
            doc.object("organization", |o| {
                o.str("id", self.organization.id);
            });
            if let Some(related) = &self.related {
                doc.object("related", |o| {
                    for (key, values) in [("ip", &related.ip), ("user", &related.user)] {
                        if !values.is_empty() {
                            o.strs(key, values.iter().map(String::as_str));
                        }
                    }
                });
            }
            doc.object("rule", |o| {
                let rule = &self.rule;
                if let Some(description) = rule.description {
                    o.str("description", description);
                }
                o.str("id", rule.id).str("name", rule.name);
                if let Some(reference) = rule.reference {
                    o.str("reference", reference);
                }
                o.str("ruleset", rule.ruleset);
            });
            if let Some(threat) = &self.threat {
                doc.object("threat", |o| {
                    o.str("framework", threat.framework);
                    for (key, attack) in [("tactic", &threat.tactic), ("technique", &threat.technique)] {
                        if let Some(attack) = attack {
                            o.object(key, |o| {
                                o.strs("id", attack.id.iter().copied()).strs("name", attack.name.iter().copied());
                            });
                        }
                    }
                });
            }
        });
        String::from_utf8(out).expect("the writer writes UTF-8")
    }
}

impl<'a> Attack<'a> {
    fn of(list: &[(&'a str, &'a str)]) -> Option<Attack<'a>> {
        (!list.is_empty()).then(|| Attack {
            id: list.iter().map(|(id, _)| *id).collect(),
            name: list.iter().map(|(_, n)| *n).collect(),
        })
    }
}

static RELATED_USER: std::sync::LazyLock<super::field::FieldPath> =
    std::sync::LazyLock::new(|| super::field::FieldPath::parse("related.user").expect("a valid path"));
static RELATED_IP: std::sync::LazyLock<super::field::FieldPath> =
    std::sync::LazyLock::new(|| super::field::FieldPath::parse("related.ip").expect("a valid path"));

/// `related.user` and `related.ip`, which every alert document reads from its event.
pub(crate) fn related_paths() -> [&'static super::field::FieldPath; 2] {
    [&RELATED_USER, &RELATED_IP]
}

/// Group-by values or details as an object (a repeated name keeps its last value).
fn pairs(list: &[(String, String)]) -> BTreeMap<&str, &str> {
    list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The title: the template filled from the last event (or the correlation group), else the
/// rule's title. A field with no value is written as `-`.
fn title(rule: &Rule, trigger: &Trigger<'_, '_>) -> String {
    let Some(template) = &rule.controls.title else {
        return rule.title.clone();
    };
    let mut out = String::new();
    for part in &template.0 {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Field(path) => {
                let value = trigger
                    .view
                    .and_then(|v| v.texts(path).into_iter().next())
                    .or_else(|| {
                        trigger.group.iter().find(|(k, _)| k.eq_ignore_ascii_case(&path.text)).map(|(_, v)| v.clone())
                    })
                    .or_else(|| {
                        trigger.details.iter().find(|(k, _)| k.eq_ignore_ascii_case(&path.text)).map(|(_, v)| v.clone())
                    });
                out.push_str(value.as_deref().unwrap_or("-"));
            }
        }
    }
    out
}

/// A stable 64-bit FNV-1a over the rule id and the uuids (or the time when there are none).
pub(crate) fn alert_id(rule_id: &str, uuids: &[String], time_ms: i64) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    };
    feed(rule_id.as_bytes());
    if uuids.is_empty() {
        feed(&time_ms.to_be_bytes());
    }
    for u in uuids {
        feed(u.as_bytes());
    }
    format!("{hash:016x}")
}

/// Epoch ms → `2026-03-01T10:00:00.000Z`.
pub(crate) fn format_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = alert_id("r1", &["u1".into()], 0);
        assert_eq!(a, alert_id("r1", &["u1".into()], 5));
        assert_ne!(a, alert_id("r2", &["u1".into()], 0));
        assert_ne!(alert_id("r1", &["u1".into(), "u2".into()], 0), alert_id("r1", &["u1u2".into()], 0));
        assert_eq!(a.len(), 16);
    }

    proptest::proptest! {
        /// The hand-written alert document is the one serde_json writes from the same structs,
        /// byte for byte, whatever the strings hold and whichever parts are absent.
        #[test]
        fn an_alert_writes_the_json_serde_json_writes(
            texts in proptest::collection::vec(proptest::prelude::any::<String>(), 12),
            uuids in proptest::collection::vec("[0-9a-f-]{0,36}|\\PC{0,8}", 0..5),
            pairs in proptest::collection::vec((".{0,6}", ".{0,6}"), 0..4),
            lists in proptest::collection::vec(proptest::collection::vec(".{0,5}", 0..3), 4),
            flags in proptest::collection::vec(proptest::prelude::any::<bool>(), 6),
            numbers in (proptest::prelude::any::<u64>(), proptest::prelude::any::<u8>(), proptest::prelude::any::<u8>()),
        ) {
            let t = |i: usize| texts[i].as_str();
            let some = |flag: usize, text: usize| flags[flag].then(|| t(text));
            let map = |skip: usize| pairs.iter().skip(skip).map(|(k, v)| (k.as_str(), v.as_str())).collect::<BTreeMap<_, _>>();
            let strs = |i: usize| lists[i].iter().map(String::as_str).collect::<Vec<_>>();
            let doc = Document {
                timestamp: t(0),
                ecs: Ecs { version: ECS_VERSION },
                event: Event {
                    dataset: "okta.alert",
                    id: t(1),
                    kind: "alert",
                    module: "okta",
                    reference: some(0, 2),
                    risk_score: numbers.1,
                    severity: numbers.2,
                },
                message: t(3),
                okta: Okta {
                    alert: OktaAlert {
                        count: numbers.0,
                        details: map(0),
                        event_uuids: &uuids,
                        group: map(1),
                        rule: t(4),
                        severity: "high",
                    },
                },
                organization: Organization { id: t(5) },
                related: flags[1].then(|| Related { ip: lists[0].clone(), user: lists[1].clone() }),
                rule: RuleDoc { description: some(2, 6), id: t(7), name: t(8), reference: some(3, 9), ruleset: "okta-normalizer" },
                threat: flags[4].then(|| Threat {
                    framework: "MITRE ATT&CK",
                    tactic: flags[5].then(|| Attack { id: strs(2), name: strs(3) }),
                    technique: (!flags[5]).then(|| Attack { id: strs(3), name: strs(2) }),
                }),
            };
            proptest::prop_assert_eq!(doc.to_json(), serde_json::to_string(&doc).unwrap());
        }
    }

    #[test]
    fn times() {
        assert_eq!(format_ms(1_772_359_200_000), "2026-03-01T10:00:00.000Z");
        assert_eq!(format_ms(1_772_359_200_123), "2026-03-01T10:00:00.123Z");
    }
}
