//! Provenance: for every value in an ECS document, the Okta field it came from.
//!
//! The mapping in `mod.rs` is code; this module states the same mapping as a table (ECS field →
//! Okta source candidates) and checks each document value against the event: a value equal to
//! its source is `copied`, one computed from it (categorization, user-agent parsing, outcome
//! words, redaction) is `derived`. Fields that come from the config or the batch say so. The
//! golden test `guest/core/tests/provenance.rs` checks that every field of every golden document
//! has a known origin, so the table cannot fall behind the mapping unnoticed.

use serde_json::Value;

/// Where an ECS value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Equal to the value of an Okta field.
    Copied,
    /// Computed from an Okta field (its path is the source).
    Derived,
    /// From the engine config (tenant id or domain).
    Config,
    /// From the batch: the ingest time the host passed in.
    Batch,
    /// The same in every document.
    Constant,
    /// Not in the provenance table (a mapping this module does not know yet).
    Unknown,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Copied => "copied",
            Origin::Derived => "derived",
            Origin::Config => "config",
            Origin::Batch => "batch",
            Origin::Constant => "constant",
            Origin::Unknown => "unknown",
        }
    }
}

/// One leaf of the ECS document and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSource {
    /// The ECS field, dotted, with array positions: `related.ip[0]`, `okta.target[1].id`.
    pub field: String,
    /// The value as JSON text.
    pub value: String,
    pub origin: Origin,
    /// The Okta path (`client.geographicalContext.city`, `target[2].alternateId`) for copied and
    /// derived values; what the config or batch field is otherwise.
    pub source: String,
    /// How a derived value was computed, or an empty string.
    pub note: &'static str,
}

/// One candidate source of an ECS field.
#[derive(Debug, Clone, Copy)]
enum Src {
    /// An Okta path: `a.b`, `target[type=User].id` (first element whose `type` is `User`),
    /// `request.ipChain[*].ip` (any element). An empty path is the event itself.
    Okta(&'static str),
    /// Computed from this Okta path, with a note on how.
    Derived(&'static str, &'static str),
    Config(&'static str),
    Batch,
    Constant,
}

use Src::{Batch, Config, Constant, Derived, Okta};

/// ECS field → candidate sources, tried in order. A pattern ending in `.*` covers every field
/// below it, and its candidates (which must be `Okta` paths ending in `.*`, or `.*` alone for the
/// event's root) are followed by the rest of the ECS path, key by key, matching Okta's camelCase
/// keys to ECS snake_case ones. The most specific pattern wins.
const TABLE: &[(&str, &[Src])] = &[
    ("@timestamp", &[Okta("published"), Batch]),
    ("ecs.version", &[Constant]),
    ("event.dataset", &[Constant]),
    ("event.module", &[Constant]),
    ("organization.id", &[Config("tenant id")]),
    ("host.name", &[Config("tenant domain")]),
    ("event.ingested", &[Batch]),
    ("event.id", &[Okta("uuid")]),
    ("event.action", &[Okta("eventType")]),
    ("event.kind", &[Derived("eventType", "categorized by the event-type catalog")]),
    ("event.category", &[Derived("eventType", "categorized by the event-type catalog")]),
    ("event.type", &[Derived("eventType", "categorized by the event-type catalog")]),
    ("event.outcome", &[Derived("outcome.result", "SUCCESS/ALLOW → success, FAILURE/DENY → failure")]),
    ("event.original", &[Derived("(the whole event)", "the raw event text, secrets redacted")]),
    ("log.level", &[Derived("severity", "Okta severity as a log level")]),
    ("client.ip", &[Okta("client.ipAddress")]),
    ("source.ip", &[Okta("client.ipAddress")]),
    ("client.geo.city_name", &[Okta("client.geographicalContext.city")]),
    ("client.geo.region_name", &[Okta("client.geographicalContext.state")]),
    ("client.geo.country_name", &[Okta("client.geographicalContext.country")]),
    ("client.geo.postal_code", &[Okta("client.geographicalContext.postalCode")]),
    ("client.geo.location.*", &[Okta("client.geographicalContext.geolocation.*")]),
    ("source.geo.city_name", &[Okta("client.geographicalContext.city")]),
    ("source.geo.region_name", &[Okta("client.geographicalContext.state")]),
    ("source.geo.country_name", &[Okta("client.geographicalContext.country")]),
    ("source.geo.postal_code", &[Okta("client.geographicalContext.postalCode")]),
    ("source.geo.location.*", &[Okta("client.geographicalContext.geolocation.*")]),
    ("client.as.number", &[Okta("securityContext.asNumber")]),
    ("client.as.organization.name", &[Okta("securityContext.asOrg")]),
    ("client.domain", &[Okta("securityContext.domain")]),
    ("source.as.number", &[Okta("securityContext.asNumber")]),
    ("source.as.organization.name", &[Okta("securityContext.asOrg")]),
    ("source.domain", &[Okta("securityContext.domain")]),
    ("client.user.id", &[Okta("actor.id")]),
    ("client.user.name", &[Okta("actor.alternateId")]),
    ("client.user.full_name", &[Okta("actor.displayName")]),
    ("client.user.email", &[Okta("actor.alternateId")]),
    ("source.user.id", &[Okta("actor.id")]),
    ("source.user.name", &[Okta("actor.alternateId")]),
    ("source.user.full_name", &[Okta("actor.displayName")]),
    ("source.user.email", &[Okta("actor.alternateId")]),
    ("user.id", &[Okta("actor.id")]),
    ("user.name", &[Okta("actor.alternateId")]),
    ("user.full_name", &[Okta("actor.displayName")]),
    ("user.email", &[Okta("actor.alternateId")]),
    ("user.target.id", &[Okta("target[type=User].id")]),
    ("user.target.name", &[Okta("target[type=User].alternateId")]),
    ("user.target.full_name", &[Okta("target[type=User].displayName")]),
    ("user.target.email", &[Okta("target[type=User].alternateId")]),
    ("user.target.group.id", &[Okta("target[type=UserGroup].id")]),
    ("user.target.group.name", &[Okta("target[type=UserGroup].displayName")]),
    ("user_agent.original", &[Okta("client.userAgent.rawUserAgent")]),
    ("user_agent.*", &[Derived("client.userAgent.rawUserAgent", "parsed from the user agent")]),
    ("device.id", &[Okta("device.id"), Okta("target[type=UDDevice].id"), Okta("target[type=Device].id")]),
    ("related.ip", &[Okta("client.ipAddress"), Okta("request.ipChain[*].ip")]),
    ("related.hosts", &[Okta("securityContext.domain")]),
    (
        "related.user",
        &[
            Okta("actor.displayName"),
            Okta("actor.alternateId"),
            Okta("target[type=User].displayName"),
            Okta("target[type=User].alternateId"),
        ],
    ),
    // okta.*: Okta's own fields, renamed to snake_case.
    ("okta.*", &[Okta(".*")]),
    ("okta.uuid", &[Okta("uuid")]),
    ("okta.client.ip", &[Okta("client.ipAddress")]),
    ("okta.security_context.as.number", &[Okta("securityContext.asNumber")]),
    ("okta.security_context.as.organization.name", &[Okta("securityContext.asOrg")]),
    ("okta.app.id", &[Okta("target[type=AppInstance].id")]),
    ("okta.app.name", &[Okta("target[type=AppInstance].alternateId")]),
    ("okta.app.display_name", &[Okta("target[type=AppInstance].displayName")]),
    ("okta.request.ip_chain.*", &[Okta("request.ipChain.*")]),
    (
        "okta.debug_context.debug_data.*",
        &[Okta("debugContext.debugData.*"), Derived("debugContext.debugData", "parsed from debugData")],
    ),
];

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Where each leaf of `document` came from, in the document's key order (sorted). `raw` is the
/// LogEvent text the document was made from. Text that is not JSON gives an empty list.
pub fn trace(raw: &str, document: &str) -> Vec<FieldSource> {
    let (Ok(event), Ok(doc)) = (serde_json::from_str::<Value>(raw), serde_json::from_str::<Value>(document)) else {
        return Vec::new();
    };
    let mut leaves = Vec::new();
    collect_leaves(&doc, &mut Vec::new(), &mut leaves);
    leaves.into_iter().map(|(path, value)| source_of(&event, &path, value)).collect()
}

fn collect_leaves<'v>(value: &'v Value, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, &'v Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(Step::Key(k.clone()));
                collect_leaves(v, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Step::Index(i));
                collect_leaves(v, path, out);
                path.pop();
            }
        }
        _ => out.push((path.clone(), value)),
    }
}

fn display(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// The table entry for `path`: the longest pattern that covers its keys, and how many keys it
/// covers (a `.*` pattern covers only its prefix).
fn lookup(path: &[Step]) -> Option<(&'static [Src], usize, bool)> {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
        .collect();
    let mut best: Option<(&'static [Src], usize, bool)> = None;
    for (pattern, from) in TABLE {
        let (prefix, wild) = match pattern.strip_suffix(".*") {
            Some(p) => (p, true),
            None => (*pattern, false),
        };
        let parts: Vec<&str> = prefix.split('.').collect();
        let covers = if wild { keys.len() > parts.len() && keys[..parts.len()] == parts[..] } else { keys == parts };
        // An exact pattern beats a wildcard of the same length.
        let rank = parts.len() * 2 + usize::from(!wild);
        if covers && best.is_none_or(|(_, n, w)| rank > n * 2 + usize::from(!w)) {
            best = Some((from, parts.len(), wild));
        }
    }
    best
}

fn source_of(event: &Value, path: &[Step], value: &Value) -> FieldSource {
    let field = display(path);
    let text = value.to_string();
    let unknown = || FieldSource {
        field: field.clone(),
        value: text.clone(),
        origin: Origin::Unknown,
        source: String::new(),
        note: "",
    };
    let Some((candidates, covered, wild)) = lookup(path) else {
        return unknown();
    };
    // The ECS steps below the pattern's prefix (for `.*` patterns); array positions stay.
    let rest: Vec<Step> = if wild {
        let mut seen = 0;
        path.iter()
            .skip_while(|s| {
                if seen == covered {
                    return false;
                }
                if matches!(s, Step::Key(_)) {
                    seen += 1;
                }
                true
            })
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let mut fallback: Option<FieldSource> = None;
    for from in candidates {
        match *from {
            Okta(pattern) => {
                for (okta_path, found) in resolve(event, pattern, &rest) {
                    match found {
                        Some(v) if same(v, value) => {
                            return FieldSource {
                                field,
                                value: text,
                                origin: Origin::Copied,
                                source: okta_path,
                                note: "",
                            };
                        }
                        // A path that went part of the way: derived from where it stopped.
                        _ if !okta_path.is_empty() => {
                            fallback.get_or_insert_with(|| FieldSource {
                                field: field.clone(),
                                value: text.clone(),
                                origin: Origin::Derived,
                                source: okta_path,
                                note: "converted",
                            });
                        }
                        _ => {}
                    }
                }
            }
            Derived(okta_path, note) => {
                fallback.get_or_insert_with(|| FieldSource {
                    field: field.clone(),
                    value: text.clone(),
                    origin: Origin::Derived,
                    source: okta_path.to_owned(),
                    note,
                });
            }
            Config(what) => {
                return FieldSource { field, value: text, origin: Origin::Config, source: what.to_owned(), note: "" };
            }
            Batch => {
                return FieldSource {
                    field,
                    value: text,
                    origin: Origin::Batch,
                    source: "ingest time".to_owned(),
                    note: "",
                };
            }
            Constant => {
                return FieldSource { field, value: text, origin: Origin::Constant, source: String::new(), note: "" };
            }
        }
    }
    fallback.unwrap_or_else(unknown)
}

/// Loose equality: the same JSON, or a number or boolean and its text (Okta sends some numbers
/// as strings).
fn same(okta: &Value, ecs: &Value) -> bool {
    okta == ecs
        || match (okta, ecs) {
            (Value::String(a), b @ (Value::Number(_) | Value::Bool(_)))
            | (b @ (Value::Number(_) | Value::Bool(_)), Value::String(a)) => {
                let text = b.to_string();
                *a == text
            }
            _ => false,
        }
}

/// Every place in `event` a source pattern points to (with `[*]`, one per element), as the Okta
/// path written out and the value found there; the value is `None` when the path stops early,
/// and the path is then as deep as it went.
fn resolve<'e>(event: &'e Value, pattern: &str, rest: &[Step]) -> Vec<(String, Option<&'e Value>)> {
    let pattern = pattern.strip_suffix(".*").or_else(|| pattern.strip_suffix('*')).unwrap_or(pattern);
    let mut at: Vec<(String, &'e Value)> = vec![(String::new(), event)];
    let mut ended: Vec<(String, Option<&'e Value>)> = Vec::new();
    let parts = pattern.split('.').filter(|p| !p.is_empty());
    for part in parts {
        let (key, selector) = match part.split_once('[') {
            Some((k, sel)) => (k, Some(sel.trim_end_matches(']'))),
            None => (part, None),
        };
        let mut next = Vec::new();
        for (path, node) in at {
            let Some((name, child)) = key_of(node, key) else {
                ended.push((path, None));
                continue;
            };
            let path = join(&path, name);
            match selector {
                None => next.push((path, child)),
                Some("*") => {
                    if let Value::Array(items) = child {
                        for (i, item) in items.iter().enumerate() {
                            next.push((format!("{path}[{i}]"), item));
                        }
                    }
                }
                Some(sel) => {
                    let (field, want) = sel.split_once('=').unwrap_or((sel, ""));
                    let chosen = child.as_array().and_then(|items| {
                        items.iter().enumerate().find(|(_, item)| {
                            key_of(item, field)
                                .and_then(|(_, v)| v.as_str())
                                .is_some_and(|v| v.eq_ignore_ascii_case(want))
                        })
                    });
                    match chosen {
                        Some((i, item)) => next.push((format!("{path}[{i}]"), item)),
                        None => ended.push((path, None)),
                    }
                }
            }
        }
        at = next;
    }
    for (mut path, mut node) in at {
        let mut complete = true;
        for step in rest {
            let child = match step {
                Step::Key(k) => key_of(node, k).map(|(name, child)| {
                    path = join(&path, name);
                    child
                }),
                Step::Index(i) => node.get(i).inspect(|_| path = format!("{path}[{i}]")),
            };
            match child {
                Some(c) => node = c,
                None => {
                    complete = false;
                    break;
                }
            }
        }
        ended.push((path, complete.then_some(node)));
    }
    // Complete resolutions first, so a found value is preferred to a partial path.
    ended.sort_by_key(|(_, v)| v.is_none());
    ended
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// The child of `node` under `key`, matched exactly, then case- and underscore-insensitively
/// (`ip_details` finds `ipDetails`), with the key as Okta wrote it.
fn key_of<'v>(node: &'v Value, key: &str) -> Option<(&'v str, &'v Value)> {
    let map = node.as_object()?;
    if let Some((k, v)) = map.get_key_value(key) {
        return Some((k.as_str(), v));
    }
    let squash = |s: &str| s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect::<String>();
    let want = squash(key);
    map.iter().find(|(k, _)| squash(k) == want).map(|(k, v)| (k.as_str(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'s>(sources: &'s [FieldSource], field: &str) -> &'s FieldSource {
        sources.iter().find(|s| s.field == field).unwrap_or_else(|| panic!("no {field} in {sources:#?}"))
    }

    #[test]
    fn copied_derived_config_and_batch() {
        let raw = r#"{"uuid":"u1","published":"2026-01-01T00:00:00.000Z","eventType":"user.session.start",
            "client":{"ipAddress":"203.0.113.9","geographicalContext":{"city":"Oslo","geolocation":{"lat":59.9,"lon":10.7}}},
            "actor":{"alternateId":"eve@example.com","displayName":"Eve"},
            "securityContext":{"asNumber":64500,"ipDetails":{"ipServiceCategories":["TOR"]}},
            "target":[{"type":"AppInstance","id":"0oa1"},{"type":"User","id":"00u2","alternateId":"bob@example.com"}],
            "outcome":{"result":"FAILURE"}}"#;
        let doc = r#"{"@timestamp":"2026-01-01T00:00:00.000Z","client":{"ip":"203.0.113.9","geo":{"city_name":"Oslo","location":{"lat":59.9,"lon":10.7}},"as":{"number":64500}},
            "event":{"ingested":"2026-02-02T00:00:00.000Z","outcome":"failure","category":["authentication"]},
            "organization":{"id":"acme"},"user":{"name":"eve@example.com","target":{"id":"00u2"}},
            "related":{"user":["Eve","eve@example.com"]},
            "okta":{"security_context":{"ip_details":{"ip_service_categories":["TOR"]}},"target":[{"id":"0oa1","type":"AppInstance"}]}}"#;
        let s = trace(raw, doc);
        let check = |field: &str, origin: Origin, source: &str| {
            let f = find(&s, field);
            assert_eq!((f.origin, f.source.as_str()), (origin, source), "{field}");
        };
        check("@timestamp", Origin::Copied, "published");
        check("client.ip", Origin::Copied, "client.ipAddress");
        check("client.geo.city_name", Origin::Copied, "client.geographicalContext.city");
        check("client.geo.location.lat", Origin::Copied, "client.geographicalContext.geolocation.lat");
        check("client.as.number", Origin::Copied, "securityContext.asNumber");
        check("event.ingested", Origin::Batch, "ingest time");
        check("event.outcome", Origin::Derived, "outcome.result");
        check("event.category[0]", Origin::Derived, "eventType");
        check("organization.id", Origin::Config, "tenant id");
        check("user.name", Origin::Copied, "actor.alternateId");
        check("user.target.id", Origin::Copied, "target[1].id");
        check("related.user[0]", Origin::Copied, "actor.displayName");
        check("related.user[1]", Origin::Copied, "actor.alternateId");
        check(
            "okta.security_context.ip_details.ip_service_categories[0]",
            Origin::Copied,
            "securityContext.ipDetails.ipServiceCategories[0]",
        );
        check("okta.target[0].type", Origin::Copied, "target[0].type");
        assert_eq!(find(&s, "client.ip").value, "\"203.0.113.9\"");
    }

    #[test]
    fn a_timestamp_without_published_is_the_ingest_time() {
        let s = trace(r#"{"uuid":"u1"}"#, r#"{"@timestamp":"2026-02-02T00:00:00.000Z"}"#);
        assert_eq!(find(&s, "@timestamp").origin, Origin::Batch);
    }

    #[test]
    fn unknown_fields_and_bad_json() {
        let s = trace("{}", r#"{"nobody":{"maps":"this"}}"#);
        assert_eq!(find(&s, "nobody.maps").origin, Origin::Unknown);
        assert!(trace("not json", "{}").is_empty());
    }

    #[test]
    fn related_ip_from_the_chain() {
        let raw =
            r#"{"client":{"ipAddress":"203.0.113.9"},"request":{"ipChain":[{"ip":"203.0.113.9"},{"ip":"10.0.0.1"}]}}"#;
        let s = trace(raw, r#"{"related":{"ip":["203.0.113.9","10.0.0.1"]}}"#);
        assert_eq!(find(&s, "related.ip[0]").source, "client.ipAddress");
        assert_eq!(find(&s, "related.ip[1]").source, "request.ipChain[1].ip");
    }
}
