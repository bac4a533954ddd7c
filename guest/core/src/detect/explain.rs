//! Why a rule matched an event: the searches that held, and the event's values at each field
//! those searches test. Read-only over the compiled rules; it keeps no state and raises no alert,
//! so explaining an event never changes what the detector does with it.

use super::field::EventView;
use super::rule::{Body, Detection, Search};
use super::ruleset::RuleSet;

/// A single-event rule (a detection) that matches an event, with what made it match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    pub rule_id: String,
    pub rule_name: String,
    pub title: String,
    /// The rule's `level` as written (conditional severity is applied only to alerts).
    pub level: String,
    /// `building block` rules raise signals rather than alerts.
    pub signal: bool,
    /// ATT&CK tactic names, then `T1234 name` for each technique.
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    /// For each search that held, the fields it tested and the values the event has there.
    pub fields: Vec<MatchedField>,
}

/// One field test of a search that held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedField {
    /// The search's name in the rule (`selection`, `filter_admins`, ...).
    pub search: String,
    /// The field path as the rule writes it; `(keywords)` for a keyword search.
    pub field: String,
    /// The event's values at that path (raw Okta fields first, then the ECS document).
    pub values: Vec<String>,
}

/// Every detection rule in `rules` that matches the event (its filters included), in load order.
/// `raw` is the LogEvent text and `document` its ECS document.
pub(crate) fn explain(rules: &RuleSet, raw: &str, document: &str) -> Vec<RuleMatch> {
    let arena = bumpalo::Bump::new();
    let view = EventView::new(&arena, raw, document);
    let mut out = Vec::new();
    for &r in rules.candidates(None).iter() {
        let rule = &rules.rules[r];
        let Body::Detection(detection) = &rule.body else {
            continue;
        };
        let filtered_out = rules.filters[r].iter().any(|&f| match &rules.rules[f].body {
            Body::Filter(filter) => !filter.eval(&view),
            _ => false,
        });
        if filtered_out || !detection.eval(&view) {
            continue;
        }
        out.push(RuleMatch {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            title: rule.title.clone(),
            level: rule.level.as_str().to_owned(),
            signal: rule.controls.signal,
            tactics: rule.tactics.iter().map(|(_, name)| (*name).to_owned()).collect(),
            techniques: rule.techniques.iter().map(|(id, name)| format!("{id} {name}")).collect(),
            fields: matched_fields(detection, &view),
        });
    }
    out
}

/// The field tests of every search that held: for a selection, those of its first branch whose
/// tests all hold.
fn matched_fields(detection: &Detection, view: &EventView<'_>) -> Vec<MatchedField> {
    let mut fields = Vec::new();
    for (i, search) in detection.searches.iter().enumerate() {
        let name = detection.names.get(i).cloned().unwrap_or_default();
        match search {
            Search::Selection(branches) => {
                let Some(branch) = branches.iter().find(|b| b.iter().all(|t| t.eval(view))) else {
                    continue;
                };
                for test in branch {
                    fields.push(MatchedField {
                        search: name.clone(),
                        field: test.path.text.clone(),
                        values: view.texts(&test.path),
                    });
                }
            }
            Search::Keywords { .. } => {
                if search.eval(view) {
                    fields.push(MatchedField { search: name, field: "(keywords)".into(), values: Vec::new() });
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleSource;

    fn rules(text: &str) -> RuleSet {
        let source = RuleSource { name: "test.yml".into(), text: text.into() };
        RuleSet::compile(&[source], &[], true).expect("the rule compiles")
    }

    const RULE: &str = "title: Admin grant outside the help desk
id: 11111111-2222-3333-4444-555555555555
name: admin_grant
status: test
level: high
tags: [attack.privilege-escalation, attack.t1098.003]
logsource: {product: okta, service: okta}
detection:
  grant:
    eventType: user.account.privilege.grant
    outcome.result: SUCCESS
  other:
    eventType: user.session.start
  helpdesk:
    actor.alternateId|endswith: '@helpdesk.example.com'
  condition: (grant or other) and not helpdesk
";

    #[test]
    fn lists_the_searches_that_held_with_the_event_values() {
        let set = rules(RULE);
        let raw = r#"{"uuid":"u1","eventType":"user.account.privilege.grant","outcome":{"result":"SUCCESS"},"actor":{"alternateId":"eve@example.com"}}"#;
        let found = explain(&set, raw, r#"{"event":{"action":"user.account.privilege.grant"}}"#);
        assert_eq!(found.len(), 1);
        let m = &found[0];
        assert_eq!((m.rule_name.as_str(), m.level.as_str()), ("admin_grant", "high"));
        assert_eq!(m.tactics, ["Privilege Escalation"]);
        assert_eq!(m.techniques, ["T1098.003 Additional Cloud Roles"]);
        let fields: Vec<(&str, &str, Vec<&str>)> = m
            .fields
            .iter()
            .map(|f| (f.search.as_str(), f.field.as_str(), f.values.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            fields,
            [
                ("grant", "eventType", vec!["user.account.privilege.grant"]),
                ("grant", "outcome.result", vec!["SUCCESS"]),
            ]
        );
    }

    #[test]
    fn a_rule_that_does_not_match_is_not_listed() {
        let set = rules(RULE);
        let helpdesk = r#"{"eventType":"user.account.privilege.grant","outcome":{"result":"SUCCESS"},"actor":{"alternateId":"bob@helpdesk.example.com"}}"#;
        assert!(explain(&set, helpdesk, "{}").is_empty());
        let other = r#"{"eventType":"user.lifecycle.create"}"#;
        assert!(explain(&set, other, "{}").is_empty());
    }
}
