//! Rule YAML → [`Rule`]s, with every problem as a [`RuleError`] that points at the line and
//! column of the key or value to fix and says what to write instead.
//!
//! Codes:
//!
//! | code | problem |
//! |---|---|
//! | R001 | the file is not valid YAML |
//! | R002 | a document is not a rule (not a mapping; none or several of detection, correlation, filter) |
//! | R003 | title, id or name is missing or empty |
//! | R004 | id is not a UUID |
//! | R005 | a name or id is used twice |
//! | R006 | unknown level or status |
//! | R007 | a search is not a selection or keyword list |
//! | R008 | the condition does not parse |
//! | R009 | the condition names a search that is not defined |
//! | R010 | unknown modifier |
//! | R011 | modifiers that do not go together, or a value they cannot use |
//! | R012 | the correlation mapping is wrong |
//! | R013 | a correlation or filter names a rule that is not loaded (or a loop of correlations) |
//! | R014 | unknown ATT&CK tag |
//! | R015 | unknown or wrong `x-okta` key |
//! | R016 | a test is malformed (no `expect`, no events) |
//! | R017 | a field name is not a valid path |

use serde_json::Value;

use super::attack::{self, Tag};
use super::condition;
use super::field::FieldPath;
use super::modifiers::{self, CompileError, compile_field, compile_keywords, suggest};
use super::rule::{
    Body, Controls, Dedup, Detection, Level, Part, Reference, Rule, Search, Template, TestCase, TestEvent,
};
use super::stateful;
use super::yaml::{self, Kind, Node};
use crate::{RuleError, RuleSource};

/// What parsing one file gives.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) rules: Vec<Rule>,
    pub(crate) errors: Vec<RuleError>,
    /// Placeholders used with `|expand` that the config does not set.
    pub(crate) unset_placeholders: Vec<String>,
}

const STATUSES: &[&str] = &["stable", "test", "experimental", "deprecated", "unsupported"];
const X_OKTA_KEYS: &[&str] = &["signal", "silent", "title", "severity", "risk", "threshold", "dedup", "tests"];

/// Parses every document of one rule file.
pub(crate) fn parse_source(source: &RuleSource, placeholders: &[(String, Vec<String>)]) -> Parsed {
    let mut parsed = Parsed::default();
    let docs = match yaml::load(&source.text) {
        Ok(docs) => docs,
        Err(e) => {
            parsed.errors.push(RuleError {
                code: "R001",
                file: source.name.clone(),
                line: e.line,
                column: e.column,
                rule: None,
                message: format!("{}; check the indentation and quoting around this place", e.message),
            });
            return parsed;
        }
    };
    let lines: Vec<&str> = source.text.lines().collect();
    let mut ctx = modifiers::Context { placeholders, unset: Vec::new() };
    for doc in &docs {
        let mut p =
            DocParser { file: &source.name, lines: &lines, rule: None, errors: &mut parsed.errors, ctx: &mut ctx };
        if let Some(rule) = p.document(doc) {
            parsed.rules.push(rule);
        }
    }
    parsed.unset_placeholders = ctx.unset;
    parsed
}

struct DocParser<'p, 'c> {
    file: &'p str,
    lines: &'p [&'p str],
    rule: Option<String>,
    errors: &'p mut Vec<RuleError>,
    ctx: &'p mut modifiers::Context<'c>,
}

impl DocParser<'_, '_> {
    fn error_at(&mut self, code: &'static str, line: u32, column: u32, message: impl Into<String>) {
        self.errors.push(RuleError {
            code,
            file: self.file.to_owned(),
            line,
            column,
            rule: self.rule.clone(),
            message: message.into(),
        });
    }

    fn error(&mut self, code: &'static str, node: &Node, message: impl Into<String>) {
        self.error_at(code, node.line, node.column, message);
    }

    /// A required non-empty string; reports R003 (at `doc`) when missing.
    fn required_str(&mut self, doc: &Node, key: &str, hint: &str) -> Option<String> {
        match doc.get(key) {
            Some(node) => match node.as_str().map(str::trim) {
                Some(s) if !s.is_empty() => Some(s.to_owned()),
                _ => {
                    self.error("R003", node, format!("'{key}' must be a non-empty string; {hint}"));
                    None
                }
            },
            None => {
                self.error("R003", doc, format!("the rule has no '{key}'; {hint}"));
                None
            }
        }
    }

    fn str_list(&mut self, node: &Node, what: &str) -> Vec<(String, Node)> {
        let mut out = Vec::new();
        for item in node.items() {
            match item.scalar_text() {
                Some(s) => out.push((s, item.clone())),
                None => self.error("R002", item, format!("each of {what} must be a string, not {}", item.describe())),
            }
        }
        out
    }

    fn document(&mut self, doc: &Node) -> Option<Rule> {
        if !doc.is_map() {
            self.error(
                "R002",
                doc,
                format!("a rule document must be a mapping (title, id, name, ...), not {}", doc.describe()),
            );
            return None;
        }
        self.rule = doc
            .get("name")
            .and_then(Node::as_str)
            .or_else(|| doc.get("title").and_then(Node::as_str))
            .map(str::to_owned);
        let title = self.required_str(doc, "title", "add a one-line title such as 'title: Okta MFA push denied'");
        let id = self.required_str(doc, "id", "add 'id:' with a new UUID (for example from uuidgen)");
        if let (Some(id), Some(node)) = (&id, doc.get("id"))
            && !is_uuid(id)
        {
            self.error(
                "R004",
                node,
                format!("id '{id}' is not a UUID; write one such as 0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b11"),
            );
        }
        let name = self.required_str(doc, "name", "add a unique snake_case 'name:'; correlations refer to rules by it");

        let level = match doc.get("level") {
            None => Level::Medium,
            Some(node) => match node.as_str().and_then(Level::parse) {
                Some(level) => level,
                None => {
                    let text = node.scalar_text().unwrap_or_default();
                    self.error("R006", node, format!("unknown level '{text}'; use one of {}", Level::NAMES));
                    Level::Medium
                }
            },
        };
        if let Some(node) = doc.get("status") {
            let text = node.scalar_text().unwrap_or_default();
            if !STATUSES.contains(&text.as_str()) {
                self.error("R006", node, format!("unknown status '{text}'; use one of {}", STATUSES.join(", ")));
            }
        }
        let description = doc.get("description").and_then(Node::scalar_text).unwrap_or_default();
        let references = doc.get("references").map(|n| self.str_list(n, "references")).unwrap_or_default();
        let (tactics, techniques) = self.tags(doc);
        let generate = match doc.get("generate") {
            None => false,
            Some(Node { kind: Kind::Bool(b), .. }) => *b,
            Some(node) => {
                self.error("R002", node, "generate must be true or false");
                false
            }
        };

        let bodies: Vec<&str> =
            ["detection", "correlation", "filter"].into_iter().filter(|k| doc.get(k).is_some()).collect();
        let (body, refs, generate) = match bodies.as_slice() {
            ["detection"] => (self.detection(doc.get("detection")?, &[]).map(Body::Detection), Vec::new(), generate),
            ["correlation"] => {
                let (key, node) = doc.entry("correlation")?;
                match self.correlation(key, node, name.as_deref()) {
                    Some((spec, refs)) => (Some(Body::Correlation(Box::new(spec))), refs, generate),
                    None => (None, Vec::new(), generate),
                }
            }
            ["filter"] => {
                let node = doc.get("filter")?;
                let refs = self.filter_refs(node);
                (self.detection(node, &["rules"]).map(Body::Filter), refs, generate)
            }
            [] => {
                self.error(
                    "R002",
                    doc,
                    "the document has none of detection, correlation or filter; add one (see rules/README.md)",
                );
                (None, Vec::new(), generate)
            }
            several => {
                self.error(
                    "R002",
                    doc,
                    format!("the document has {}; put each in its own document after ---", several.join(" and ")),
                );
                (None, Vec::new(), generate)
            }
        };
        let (controls, tests) = match doc.get("x-okta") {
            Some(node) => self.x_okta(node),
            None => (Controls::default(), Vec::new()),
        };
        Some(Rule {
            file: self.file.to_owned(),
            line: doc.line,
            title: title?,
            id: id?,
            name: name?,
            description,
            references: references.into_iter().map(|(s, _)| s).collect(),
            level,
            tactics,
            techniques,
            generate,
            body: body?,
            refs,
            controls,
            tests,
        })
    }

    #[allow(clippy::type_complexity)]
    fn tags(&mut self, doc: &Node) -> (Vec<(&'static str, &'static str)>, Vec<(&'static str, &'static str)>) {
        let mut tactics = Vec::new();
        let mut techniques = Vec::new();
        let Some(node) = doc.get("tags") else {
            return (tactics, techniques);
        };
        for (tag, at) in self.str_list(node, "tags") {
            let Some(rest) = tag.strip_prefix("attack.") else {
                continue;
            };
            match attack::lookup(rest) {
                Ok(Tag::Tactic { id, name }) => tactics.push((id, name)),
                Ok(Tag::Technique { id, name }) => techniques.push((id, name)),
                Ok(Tag::Other) => {}
                Err(message) => self.error("R014", &at, message),
            }
        }
        (tactics, techniques)
    }

    /// A detection mapping (or a filter's, skipping `skip` keys).
    fn detection(&mut self, node: &Node, skip: &[&str]) -> Option<Detection> {
        if !node.is_map() {
            self.error(
                "R007",
                node,
                format!("detection must be a mapping of searches and a condition, not {}", node.describe()),
            );
            return None;
        }
        let mut names = Vec::new();
        let mut searches = Vec::new();
        let mut condition = None;
        let mut ok = true;
        for (key, value) in node.entries() {
            let Some(name) = key.scalar_text() else {
                self.error("R007", key, "a search name must be a string");
                ok = false;
                continue;
            };
            match name.as_str() {
                "condition" => condition = Some(value),
                "timeframe" => {
                    self.error("R007", key, "timeframe is Sigma v1; write a correlation rule with timespan instead");
                    ok = false;
                }
                n if skip.contains(&n) => {}
                _ => {
                    match self.search(value) {
                        Some(search) => searches.push(search),
                        // Keep the name, so the condition does not also report it as undefined.
                        None => ok = false,
                    }
                    names.push(name);
                }
            }
        }
        let Some(cond_node) = condition else {
            self.error(
                "R008",
                node,
                format!(
                    "the detection has no condition; add for example 'condition: {}'",
                    names.first().map_or("selection", String::as_str)
                ),
            );
            return None;
        };
        let cond = self.condition(cond_node, &names)?;
        ok.then_some(Detection { searches, names, condition: cond })
    }

    fn condition(&mut self, node: &Node, names: &[String]) -> Option<condition::Cond> {
        let items = node.items();
        let mut texts = Vec::new();
        for item in &items {
            match item.as_str() {
                Some(s) => texts.push(s),
                None => {
                    self.error(
                        "R008",
                        item,
                        format!(
                            "condition must be a string such as 'selection and not filter', not {}",
                            item.describe()
                        ),
                    );
                    return None;
                }
            }
        }
        let mut conds = Vec::new();
        for (item, text) in items.iter().zip(texts) {
            match condition::parse(text, names) {
                Ok(c) => conds.push(c),
                Err(e) => {
                    let code = if e.message.contains("not defined") || e.message.contains("matches no search") {
                        "R009"
                    } else {
                        "R008"
                    };
                    let column = self.column_in_scalar(item, e.offset);
                    self.error_at(code, item.line, column, e.message);
                    return None;
                }
            }
        }
        Some(if conds.len() == 1 { conds.remove(0) } else { condition::Cond::Or(conds) })
    }

    /// The column of byte `offset` inside a one-line scalar that starts at `node`.
    fn column_in_scalar(&self, node: &Node, offset: usize) -> u32 {
        let line = self.lines.get(node.line.saturating_sub(1) as usize).copied().unwrap_or_default();
        let start: String = line.chars().skip(node.column.saturating_sub(1) as usize).collect();
        let quote = u32::from(start.starts_with(['\'', '"']));
        let text_before = node.as_str().map_or(0, |s| s.get(..offset).map_or(offset, |b| b.chars().count()));
        node.column + quote + u32::try_from(text_before).unwrap_or(0)
    }

    fn search(&mut self, value: &Node) -> Option<Search> {
        match &value.kind {
            Kind::Map(_) => Some(Search::Selection(vec![self.fields(value)?])),
            Kind::Seq(items) if !items.is_empty() && items.iter().all(Node::is_map) => {
                let mut branches = Vec::new();
                for item in items {
                    branches.push(self.fields(item)?);
                }
                Some(Search::Selection(branches))
            }
            Kind::Seq(items) if items.iter().any(|i| matches!(i.kind, Kind::Map(_) | Kind::Seq(_))) => {
                self.error(
                    "R007",
                    value,
                    "a search list must hold only mappings (OR of selections) or only values (keywords)",
                );
                None
            }
            Kind::Null => {
                self.error("R007", value, "the search is empty; give it field: value pairs");
                None
            }
            _ => match compile_keywords(value, self.ctx) {
                Ok(matchers) => Some(Search::Keywords { matchers, all: false }),
                Err(e) => {
                    self.error(e.code, value, e.message);
                    None
                }
            },
        }
    }

    /// A selection mapping: the AND of its fields.
    fn fields(&mut self, map: &Node) -> Option<Vec<modifiers::FieldTest>> {
        if map.entries().is_empty() {
            self.error("R007", map, "the selection is empty; give it field: value pairs");
            return None;
        }
        let mut tests = Vec::new();
        let mut ok = true;
        for (key, value) in map.entries() {
            let Some(text) = key.scalar_text() else {
                self.error("R007", key, "a field name must be a string");
                ok = false;
                continue;
            };
            match compile_field(&text, value, self.ctx) {
                Ok(test) => tests.push(test),
                Err(CompileError { code, message, at_value }) => {
                    self.error(code, if at_value { value } else { key }, message);
                    ok = false;
                }
            }
        }
        ok.then_some(tests)
    }

    fn correlation(&mut self, key: &Node, node: &Node, name: Option<&str>) -> Option<(stateful::Spec, Vec<Reference>)> {
        match stateful::parse(&node.to_json()) {
            Ok(mut spec) => {
                spec.set_name(name.unwrap_or_default());
                let mut refs = Vec::new();
                for list in ["rules", "x-reset"] {
                    if let Some(n) = node.get(list) {
                        for item in n.items() {
                            if let Some(target) = item.scalar_text() {
                                refs.push(Reference { target, line: item.line, column: item.column });
                            }
                        }
                    }
                }
                Some((spec, refs))
            }
            Err(e) => {
                let at = if e.path.is_empty() { key } else { node.locate(&e.path) };
                self.error("R012", at, e.to_string());
                None
            }
        }
    }

    fn filter_refs(&mut self, node: &Node) -> Vec<Reference> {
        let Some(rules) = node.get("rules") else {
            self.error("R002", node, "the filter has no 'rules'; list the rule names (or ids) it applies to");
            return Vec::new();
        };
        self.str_list(rules, "the filter's rules")
            .into_iter()
            .map(|(target, n)| Reference { target, line: n.line, column: n.column })
            .collect()
    }

    fn x_okta(&mut self, node: &Node) -> (Controls, Vec<TestCase>) {
        let mut controls = Controls::default();
        let mut tests = Vec::new();
        if !node.is_map() {
            self.error("R015", node, format!("x-okta must be a mapping, not {}", node.describe()));
            return (controls, tests);
        }
        for (key, value) in node.entries() {
            let name = key.scalar_text().unwrap_or_default();
            match name.as_str() {
                "signal" => match value.kind {
                    Kind::Bool(b) => controls.signal = b,
                    _ => self.error("R015", value, "x-okta.signal must be true or false"),
                },
                "silent" => match value.kind {
                    Kind::Bool(b) => controls.silent = b,
                    _ => self.error("R015", value, "x-okta.silent must be true or false"),
                },
                "title" => controls.title = self.template(value),
                "severity" => controls.severity = self.severity(value),
                "risk" => match value.kind {
                    Kind::Int(n) if (0..=100).contains(&n) => controls.risk = u8::try_from(n).ok(),
                    _ => self.error("R015", value, "x-okta.risk must be a whole number from 0 to 100"),
                },
                "threshold" => match value.kind {
                    Kind::Int(n) if n >= 1 => controls.threshold = u32::try_from(n).unwrap_or(u32::MAX),
                    _ => self.error("R015", value, "x-okta.threshold must be a whole number of at least 1"),
                },
                "dedup" => controls.dedup = self.dedup(value),
                "tests" => tests = self.tests(value),
                other => {
                    let hint = suggest(other, X_OKTA_KEYS).map_or_else(
                        || format!("; known keys: {}", X_OKTA_KEYS.join(", ")),
                        |s| format!("; did you mean '{s}'?"),
                    );
                    self.error("R015", key, format!("unknown x-okta key '{other}'{hint}"));
                }
            }
        }
        if controls.threshold > 1 && controls.dedup.is_none() {
            controls.dedup = Some(Dedup { by: Vec::new(), window_ms: 3_600_000 });
        }
        (controls, tests)
    }

    fn template(&mut self, node: &Node) -> Option<Template> {
        let Some(text) = node.as_str() else {
            self.error("R015", node, "x-okta.title must be a string");
            return None;
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let path = rest[open + 1..open + close].trim();
            match FieldPath::parse(path) {
                Ok(p) => parts.push(Part::Field(p)),
                Err(message) => {
                    self.error("R015", node, format!("x-okta.title: {message}"));
                    return None;
                }
            }
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Some(Template(parts))
    }

    fn severity(&mut self, node: &Node) -> Vec<(Search, Level)> {
        let mut out = Vec::new();
        for item in node.items() {
            let (Some(when), Some(level)) = (item.get("when"), item.get("level")) else {
                self.error("R015", item, "each x-okta.severity entry needs 'when' (a selection) and 'level'");
                continue;
            };
            let Some(level_value) = level.as_str().and_then(Level::parse) else {
                self.error(
                    "R006",
                    level,
                    format!("unknown level '{}'; use one of {}", level.scalar_text().unwrap_or_default(), Level::NAMES),
                );
                continue;
            };
            if !matches!(when.kind, Kind::Map(_) | Kind::Seq(_)) {
                self.error("R015", when, "'when' must be a selection (field: value pairs)");
                continue;
            }
            if let Some(search) = self.search(when) {
                out.push((search, level_value));
            }
        }
        out
    }

    fn dedup(&mut self, node: &Node) -> Option<Dedup> {
        if !node.is_map() {
            self.error("R015", node, "x-okta.dedup must be a mapping such as {by: [actor.alternateId], window: 1h}");
            return None;
        }
        let mut by = Vec::new();
        if let Some(list) = node.get("by") {
            for (text, at) in self.str_list(list, "dedup.by") {
                match FieldPath::parse(&text) {
                    Ok(p) => by.push(p),
                    Err(message) => self.error("R017", &at, message),
                }
            }
        }
        let window_ms = match node.get("window") {
            None => 3_600_000,
            Some(w) => match w.as_str().and_then(stateful::parse_duration) {
                Some(ms) if ms > 0 => ms,
                _ => {
                    self.error("R015", w, "dedup.window must be a duration such as 30m, 1h or 1d");
                    return None;
                }
            },
        };
        for (key, _) in node.entries() {
            let k = key.scalar_text().unwrap_or_default();
            if k != "by" && k != "window" {
                self.error("R015", key, format!("unknown dedup key '{k}'; use by and window"));
            }
        }
        Some(Dedup { by, window_ms })
    }

    fn tests(&mut self, node: &Node) -> Vec<TestCase> {
        let mut out = Vec::new();
        for (n, item) in node.items().into_iter().enumerate() {
            if !item.is_map() {
                self.error("R016", item, "each test must be a mapping with name, events (or event) and expect");
                continue;
            }
            let name = item.get("name").and_then(Node::scalar_text).unwrap_or_else(|| format!("test {}", n + 1));
            let events_node = match (item.get("events"), item.get("event")) {
                (Some(list), None) => list.items(),
                (None, Some(one)) => vec![one],
                (Some(_), Some(_)) => {
                    self.error("R016", item, format!("test '{name}' has both event and events; keep one"));
                    continue;
                }
                (None, None) => {
                    self.error("R016", item, format!("test '{name}' has no events; add 'event:' or 'events:'"));
                    continue;
                }
            };
            let mut events = Vec::new();
            for e in events_node {
                let Value::Object(mut map) = e.to_json() else {
                    self.error(
                        "R016",
                        e,
                        format!("a test event must be a mapping (an Okta LogEvent), not {}", e.describe()),
                    );
                    continue;
                };
                let repeat = match map.remove("repeat") {
                    None => 1,
                    Some(v) => {
                        match v.as_u64().and_then(|r| u32::try_from(r).ok()).filter(|r| (1..=10_000).contains(r)) {
                            Some(r) => r,
                            None => {
                                self.error("R016", e, "repeat must be a whole number from 1 to 10000");
                                1
                            }
                        }
                    }
                };
                events.push(TestEvent { event: map, repeat });
            }
            let Some(expect) = item.get("expect") else {
                self.error(
                    "R016",
                    item,
                    format!("test '{name}' has no expect; add for example 'expect: {{fires: 1}}'"),
                );
                continue;
            };
            let fires = match expect.get("fires").map(|f| &f.kind) {
                Some(Kind::Int(f)) if *f >= 0 => u64::try_from(*f).unwrap_or(0),
                _ => {
                    self.error("R016", expect, format!("test '{name}': expect needs 'fires:' with a whole number"));
                    continue;
                }
            };
            let severity = expect.get("severity").and_then(Node::scalar_text);
            if let Some(s) = &severity
                && Level::parse(s).is_none()
            {
                self.error(
                    "R006",
                    expect.get("severity").unwrap_or(expect),
                    format!("unknown level '{s}'; use one of {}", Level::NAMES),
                );
            }
            let title = expect.get("title").and_then(Node::scalar_text);
            for (key, _) in expect.entries() {
                let k = key.scalar_text().unwrap_or_default();
                if !["fires", "severity", "title"].contains(&k.as_str()) {
                    self.error("R016", key, format!("unknown expect key '{k}'; use fires, severity and title"));
                }
            }
            out.push(TestCase { name, events, fires, severity, title });
        }
        out
    }
}

/// 8-4-4-4-12 hex digits.
fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<RuleError> {
        parse_source(&RuleSource { name: "t.yml".into(), text: text.into() }, &[]).errors
    }

    fn one(text: &str) -> (u32, u32, &'static str, String) {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        (errs[0].line, errs[0].column, errs[0].code, errs[0].message.clone())
    }

    const HEAD: &str = "title: T\nid: 0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b11\nname: r\n";

    #[test]
    fn a_good_rule_parses() {
        let text = format!(
            "{HEAD}tags: [attack.credential-access, attack.t1621, detection.ca10]\ndetection:\n  selection:\n    eventType: a\n  condition: selection\nlevel: high\n"
        );
        let parsed = parse_source(&RuleSource { name: "t.yml".into(), text }, &[]);
        assert!(parsed.errors.is_empty(), "{:#?}", parsed.errors);
        let rule = &parsed.rules[0];
        assert_eq!((rule.name.as_str(), rule.level), ("r", Level::High));
        assert_eq!(rule.tactics, [("TA0006", "Credential Access")]);
        assert_eq!(rule.techniques[0].0, "T1621");
    }

    #[test]
    fn unknown_modifier_points_at_the_key() {
        let text = format!("{HEAD}detection:\n  selection:\n    displayMessage|contians: x\n  condition: selection\n");
        assert_eq!(
            one(&text),
            (6, 5, "R010", "unknown modifier 'contians' on 'displayMessage'; did you mean 'contains'?".into())
        );
    }

    #[test]
    fn undefined_search_points_into_the_condition() {
        let text = format!(
            "{HEAD}detection:\n  selection:\n    a: x\n  filter:\n    b: y\n  condition: selectoin and not filter\n"
        );
        assert_eq!(
            one(&text),
            (9, 14, "R009", "condition refers to 'selectoin', which is not defined; defined: selection, filter".into())
        );
        let quoted = format!("{HEAD}detection:\n  selection:\n    a: x\n  condition: 'selection and filtre'\n");
        let (line, column, code, _) = one(&quoted);
        assert_eq!((line, column, code), (7, 29, "R009"));
    }

    #[test]
    fn metadata_problems() {
        let (line, column, code, message) = one("title: T\nid: nope\nname: r\ndetection: {s: {a: b}, condition: s}\n");
        assert_eq!((line, column, code), (2, 5, "R004"));
        assert!(message.contains("not a UUID"));
        let errs = errors("id: 0f6c3a52-2f8e-4d8e-9a57-6f1d2c9e4b11\ndetection: {s: {a: b}, condition: s}\n");
        assert_eq!(errs.iter().map(|e| e.code).collect::<Vec<_>>(), ["R003", "R003"]);
        assert_eq!(
            errs[0].message,
            "the rule has no 'title'; add a one-line title such as 'title: Okta MFA push denied'"
        );
        let (line, _, code, message) = one(&format!("{HEAD}level: hihg\ndetection: {{s: {{a: b}}, condition: s}}\n"));
        assert_eq!((line, code), (4, "R006"));
        assert_eq!(message, "unknown level 'hihg'; use one of informational, low, medium, high, critical");
        let (line, column, code, _) =
            one(&format!("{HEAD}tags:\n  - attack.t9999\ndetection: {{s: {{a: b}}, condition: s}}\n"));
        assert_eq!((line, column, code), (5, 5, "R014"));
        assert_eq!(one(&format!("{HEAD}foo: 1\n")).2, "R002");
    }

    #[test]
    fn x_okta_and_tests() {
        let text = format!("{HEAD}detection: {{s: {{a: b}}, condition: s}}\nx-okta:\n  sigal: true\n");
        let (line, column, code, message) = one(&text);
        assert_eq!((line, column, code), (6, 3, "R015"));
        assert_eq!(message, "unknown x-okta key 'sigal'; did you mean 'signal'?");
        let text = format!(
            "{HEAD}detection: {{s: {{a: b}}, condition: s}}\nx-okta:\n  tests:\n    - name: t\n      event: {{a: b}}\n"
        );
        let (line, column, code, message) = one(&text);
        assert_eq!((line, column, code), (7, 7, "R016"));
        assert_eq!(message, "test 't' has no expect; add for example 'expect: {fires: 1}'");
        let text = format!("{HEAD}detection: {{s: {{a: b}}, condition: s}}\nx-okta:\n  title: 'x {{a..b}}'\n");
        assert_eq!(one(&text).2, "R015");
    }

    #[test]
    fn correlation_errors_point_inside_the_mapping() {
        let text = format!(
            "{HEAD}correlation:\n  type: event_count\n  rules: [a]\n  group-by: [x]\n  timespan: 10q\n  condition: {{gte: 5}}\n"
        );
        let (line, _, code, message) = one(&text);
        assert_eq!((line, code), (8, "R012"), "{message}");
    }

    #[test]
    fn yaml_errors() {
        let (line, _, code, message) = one("title: x\n  bad: indent\n");
        assert_eq!((line, code), (2, "R001"));
        assert!(message.starts_with("the YAML is not valid"), "{message}");
    }
}
