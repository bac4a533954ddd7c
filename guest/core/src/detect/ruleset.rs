//! The rules of one engine, compiled once: parsed from every source, checked across files
//! (duplicate names, references between rules, loops of correlations) and indexed, so each event
//! is matched only against the rules that could match it.
//!
//! **The eventType index.** Most rules require `eventType` to be one of a few values. Such a rule
//! is filed under each of those values (lowercased); the others are candidates for every event.
//! An event whose typed decode found no `eventType` (for example one with lowercased keys) is
//! matched against every rule.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::field::{FieldPath, PathTrie};
use super::parse::parse_source;
use super::rule::{Body, Rule};
use super::stateful::{self, Spec};
use crate::{FixedHash, RuleError, RuleInfo, RuleSource};

/// Every loaded rule, compiled and indexed.
#[derive(Debug, Default)]
pub(crate) struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    /// The correlation specs, in load order, with their rule's index.
    pub(crate) specs: Vec<Spec>,
    pub(crate) spec_rule: Vec<usize>,
    /// rule index → the filters (rule indexes) that apply to it.
    pub(crate) filters: Vec<Vec<usize>>,
    /// rule index → the specs that read its matches.
    pub(crate) listeners: Vec<Vec<usize>>,
    /// rule index → alerts on its own (not only as input to a correlation).
    pub(crate) alerts_alone: Vec<bool>,
    /// rule index → its spec, for correlations.
    pub(crate) rule_spec: Vec<Option<usize>>,
    /// Detection rules by required eventType (lowercased), merged with `always`, sorted.
    by_event_type: HashMap<String, Candidates, FixedHash>,
    /// Detection rules with no eventType requirement.
    always: Candidates,
    /// Every detection rule.
    detections: Candidates,
    /// `|expand` placeholders the config does not set.
    pub(crate) unset_placeholders: Vec<String>,
    /// [`super::field::FieldPath::key`] → the number the rules' paths got.
    pub(crate) path_ids: BTreeMap<String, u32>,
}

/// The detection rules an event may match (indexes, in load order), and the paths they and their
/// filters read, resolved together in one walk over the event.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    pub(crate) rules: Vec<usize>,
    pub(crate) trie: PathTrie,
}

impl std::ops::Deref for Candidates {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.rules
    }
}

impl RuleSet {
    /// Parses and checks every source. `cross_file` also checks references between rules.
    pub(crate) fn compile(
        sources: &[RuleSource],
        placeholders: &[(String, Vec<String>)],
        cross_file: bool,
    ) -> Result<RuleSet, Vec<RuleError>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let mut unset = Vec::new();
        for source in sources {
            let parsed = parse_source(source, placeholders);
            rules.extend(parsed.rules);
            errors.extend(parsed.errors);
            for name in parsed.unset_placeholders {
                if !unset.contains(&name) {
                    unset.push(name);
                }
            }
        }
        check_unique(&rules, &mut errors);
        if cross_file {
            resolve_references(&mut rules, &mut errors);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RuleSet::index(rules, unset))
    }

    fn index(mut rules: Vec<Rule>, unset_placeholders: Vec<String>) -> RuleSet {
        let n = rules.len();
        // Equal field paths share a number, so an event resolves each once for all rules.
        let mut path_ids: BTreeMap<String, u32> = BTreeMap::new();
        // Rule index → the numbered paths its detection or filter reads.
        let mut rule_paths: Vec<Vec<FieldPath>> = vec![Vec::new(); n];
        // Equal tests share a number too, so an event answers each once for all rules.
        let mut test_ids: HashMap<String, u32, FixedHash> = HashMap::default();
        for (index, rule) in rules.iter_mut().enumerate() {
            if let Body::Detection(detection) | Body::Filter(detection) = &mut rule.body {
                for path in detection.paths_mut() {
                    path.number_in(&mut path_ids);
                    rule_paths[index].push(path.clone());
                }
                for test in detection.tests_mut() {
                    if let Some(key) = test.share_key() {
                        let next = u32::try_from(test_ids.len()).unwrap_or(u32::MAX);
                        test.shared = Some(*test_ids.entry(key).or_insert(next));
                    }
                }
            }
        }
        let by_ref = references(&rules);
        let mut set = RuleSet {
            filters: vec![Vec::new(); n],
            listeners: vec![Vec::new(); n],
            alerts_alone: vec![true; n],
            rule_spec: vec![None; n],
            unset_placeholders,
            ..RuleSet::default()
        };
        // Correlations: take the spec out of the rule (the rule keeps a placeholder-free body).
        for (index, rule) in rules.iter().enumerate() {
            if let Body::Correlation(spec) = &rule.body {
                set.rule_spec[index] = Some(set.specs.len());
                set.specs.push((**spec).clone());
                set.spec_rule.push(index);
            }
        }
        // A rule that a correlation reads alerts on its own only when it sets `generate: true`
        // or the correlation does (at its top level, or inside the `correlation:` mapping).
        for (s, spec) in set.specs.iter().enumerate() {
            let generate = rules[set.spec_rule[s]].generate || spec.generate.unwrap_or(false);
            for input in spec.inputs().collect::<BTreeSet<_>>() {
                if let Some(&target) = by_ref.get(input) {
                    set.listeners[target].push(s);
                    if !rules[target].generate && !generate {
                        set.alerts_alone[target] = false;
                    }
                }
            }
        }
        // The fields a correlation reads from its input rules' events are numbered like the rules'
        // own paths, so the walk that resolves an event's rule paths gathers them too.
        for (index, rule) in rules.iter().enumerate() {
            for &s in &set.listeners[index] {
                for text in stateful::paths_read(&set.specs[s], &rule.name) {
                    let Ok(mut path) = FieldPath::parse(text) else { continue };
                    path.number_in(&mut path_ids);
                    rule_paths[index].push(path);
                }
            }
        }
        for (index, rule) in rules.iter().enumerate() {
            if let Body::Filter(_) = rule.body {
                set.alerts_alone[index] = false;
                for r in &rule.refs {
                    if let Some(&target) = by_ref.get(r.target.as_str()) {
                        set.filters[target].push(index);
                    }
                }
            }
        }
        // The eventType index.
        let mut keyed: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, rule) in rules.iter().enumerate() {
            let Body::Detection(detection) = &rule.body else {
                continue;
            };
            set.detections.rules.push(index);
            let required = detection.condition.required(&|i| detection.searches[i].required_event_types());
            match required {
                Some(types) if !types.is_empty() => {
                    for t in types {
                        keyed.entry(t).or_default().push(index);
                    }
                }
                _ => set.always.rules.push(index),
            }
        }
        for (event_type, mut list) in keyed {
            list.extend(&set.always.rules);
            list.sort_unstable();
            list.dedup();
            set.by_event_type.insert(event_type, Candidates { rules: list, trie: PathTrie::default() });
        }
        set.rules = rules;
        set.path_ids = path_ids;
        // Each candidate list's paths: its rules' and their filters'.
        let trie_of = |list: &[usize]| {
            let mut trie = PathTrie::default();
            for &r in list {
                for f in std::iter::once(r).chain(set.filters[r].iter().copied()) {
                    for path in &rule_paths[f] {
                        trie.add(path);
                    }
                }
            }
            trie
        };
        for candidates in set.by_event_type.values_mut() {
            candidates.trie = trie_of(&candidates.rules);
        }
        set.always.trie = trie_of(&set.always.rules);
        set.detections.trie = trie_of(&set.detections.rules);
        set
    }

    /// The detection rules (indexes, in load order) that could match an event of this type;
    /// every detection rule when the type is not known.
    pub(crate) fn candidates(&self, event_type: Option<&str>) -> &Candidates {
        let Some(t) = event_type else {
            return &self.detections;
        };
        let found = if t.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
            self.by_event_type.get(&t.to_lowercase())
        } else {
            self.by_event_type.get(t)
        };
        found.unwrap_or(&self.always)
    }

    /// Whether some rule has no `eventType` to index it by, so that every event meets a rule and
    /// has its tree read.
    pub(crate) fn meets_every_event(&self) -> bool {
        !self.always.is_empty()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub(crate) fn infos(&self) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .map(|r| RuleInfo {
                id: r.id.clone(),
                name: r.name.clone(),
                title: r.title.clone(),
                kind: r.kind(),
                level: r.level.as_str().to_owned(),
                signal: r.controls.signal,
                tactics: r.tactics.iter().map(|(_, name)| (*name).to_owned()).collect(),
                file: r.file.clone(),
                tests: u32::try_from(r.tests.len()).unwrap_or(u32::MAX),
            })
            .collect()
    }
}

/// name and id → rule index.
fn references(rules: &[Rule]) -> BTreeMap<&str, usize> {
    let mut map = BTreeMap::new();
    for (i, r) in rules.iter().enumerate() {
        map.entry(r.name.as_str()).or_insert(i);
        map.entry(r.id.as_str()).or_insert(i);
    }
    map
}

fn check_unique(rules: &[Rule], errors: &mut Vec<RuleError>) {
    let mut names: BTreeMap<&str, &Rule> = BTreeMap::new();
    let mut ids: BTreeMap<&str, &Rule> = BTreeMap::new();
    for rule in rules {
        if let Some(first) = names.insert(&rule.name, rule) {
            errors.push(error(
                "R005",
                rule,
                rule.line,
                format!(
                    "the name '{}' is also used by '{}' in {}; names must be unique",
                    rule.name, first.title, first.file
                ),
            ));
        }
        if let Some(first) = ids.insert(&rule.id, rule) {
            errors.push(error(
                "R005",
                rule,
                rule.line,
                format!(
                    "the id {} is also used by '{}' in {}; give this rule a new UUID",
                    rule.id, first.name, first.file
                ),
            ));
        }
    }
}

fn error(code: &'static str, rule: &Rule, line: u32, message: String) -> RuleError {
    RuleError { code, file: rule.file.clone(), line, column: 1, rule: Some(rule.name.clone()), message }
}

/// Checks every correlation and filter reference, rewrites ids to names in specs, and refuses
/// loops of correlations.
fn resolve_references(rules: &mut [Rule], errors: &mut Vec<RuleError>) {
    let by_ref: BTreeMap<String, usize> = references(rules).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let names: Vec<String> = rules.iter().map(|r| r.name.clone()).collect();
    let kinds: Vec<bool> = rules.iter().map(|r| matches!(r.body, Body::Filter(_))).collect();
    let detections: Vec<bool> = rules.iter().map(|r| matches!(r.body, Body::Detection(_))).collect();
    for rule in rules.iter_mut() {
        let is_filter = matches!(rule.body, Body::Filter(_));
        let mut renames = Vec::new();
        for r in &rule.refs {
            let refused = |message: String| RuleError {
                code: "R013",
                file: rule.file.clone(),
                line: r.line,
                column: r.column,
                rule: Some(rule.name.clone()),
                message,
            };
            let Some(&target) = by_ref.get(&r.target) else {
                let known: Vec<&str> = names.iter().map(String::as_str).collect();
                let hint = super::modifiers::suggest(&r.target, &known)
                    .map(|s| format!("; did you mean '{s}'?"))
                    .unwrap_or_default();
                errors.push(refused(format!(
                    "'{}' refers to '{}', which is not a loaded rule{hint}",
                    rule.name, r.target
                )));
                continue;
            };
            let problem = if kinds[target] {
                Some("a filter cannot be referred to; list the rules it filters in the filter itself")
            } else if is_filter && !detections[target] {
                Some("filters apply to detection rules, not correlations")
            } else if names[target] == rule.name {
                Some("a correlation cannot refer to itself")
            } else {
                None
            };
            if let Some(p) = problem {
                errors.push(refused(format!("'{}' refers to '{}': {p}", rule.name, r.target)));
            } else if r.target != names[target] {
                renames.push((r.target.clone(), names[target].clone()));
            }
        }
        if let Body::Correlation(spec) = &mut rule.body {
            for (from, to) in renames {
                spec.rename_rule(&from, &to);
            }
        }
    }
    // Loops: a correlation that, through others, reads itself.
    let edges: Vec<Vec<usize>> =
        rules.iter().map(|r| r.refs.iter().filter_map(|x| by_ref.get(&x.target).copied()).collect()).collect();
    let mut state = vec![0u8; rules.len()];
    for start in 0..rules.len() {
        if let Some(at) = find_cycle(start, &edges, &mut state)
            && matches!(rules[at].body, Body::Correlation(_))
        {
            let rule = &rules[at];
            errors.push(error(
                "R013",
                rule,
                rule.line,
                format!("'{}' is part of a loop of correlations that refer to each other; break the loop", rule.name),
            ));
        }
    }
}

/// Depth-first search; returns a rule on a cycle reachable from `node` (0 new, 1 open, 2 done).
fn find_cycle(node: usize, edges: &[Vec<usize>], state: &mut [u8]) -> Option<usize> {
    match state[node] {
        1 => return Some(node),
        2 => return None,
        _ => {}
    }
    state[node] = 1;
    for &next in &edges[node] {
        if next != node
            && let Some(found) = find_cycle(next, edges, state)
        {
            state[node] = 2;
            return Some(found);
        }
    }
    state[node] = 2;
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn src(name: &str, text: &str) -> RuleSource {
        RuleSource { name: name.into(), text: text.into() }
    }

    const A: &str = "title: A\nid: 00000000-0000-4000-8000-00000000000a\nname: rule_a\ndetection:\n  sel:\n    eventType: [User.Session.Start, x.y]\n  condition: sel\n";
    const B: &str = "title: B\nid: 00000000-0000-4000-8000-00000000000b\nname: rule_b\ndetection:\n  sel:\n    displayMessage: x\n  condition: sel\n";

    #[test]
    fn index_by_event_type() {
        let set = RuleSet::compile(&[src("a.yml", A), src("b.yml", B)], &[], true).unwrap();
        assert_eq!(set.candidates(Some("user.session.start")).rules, [0, 1]);
        assert_eq!(set.candidates(Some("USER.SESSION.START")).rules, [0, 1]);
        assert_eq!(set.candidates(Some("other")).rules, [1]);
        assert_eq!(set.candidates(None).rules, [0, 1]);
    }

    #[test]
    fn duplicates_and_unknown_references() {
        let errs = RuleSet::compile(&[src("a.yml", A), src("a2.yml", A)], &[], true).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.code).collect::<Vec<_>>(), ["R005", "R005"]);
        assert!(errs[0].message.contains("names must be unique"), "{}", errs[0].message);
        let filter = "title: F\nid: 00000000-0000-4000-8000-00000000000f\nname: f\nfilter:\n  rules: [rule_aa]\n  sel: {x: y}\n  condition: not sel\n";
        let errs = RuleSet::compile(&[src("a.yml", A), src("f.yml", filter)], &[], true).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].code, errs[0].line, errs[0].column), ("R013", 5, 11));
        assert_eq!(errs[0].message, "'f' refers to 'rule_aa', which is not a loaded rule; did you mean 'rule_a'?");
        // Linting one file does not check references.
        assert!(RuleSet::compile(&[src("f.yml", filter)], &[], false).is_ok());
    }

    /// A correlation's fields are gathered by the walk over its input rule's events (and only
    /// theirs): its group-by field through the rule's alias, and its counted field.
    #[test]
    fn correlation_fields_join_their_input_rules_walk() {
        let count = "title: C\nid: 00000000-0000-4000-8000-00000000000c\nname: c\ncorrelation:\n  type: value_count\n  rules: [rule_a]\n  group-by: [user]\n  aliases:\n    user:\n      rule_a: actor.alternateId\n  timespan: 1h\n  condition: {field: client.ipAddress, gte: 2}\n";
        let set = RuleSet::compile(&[src("a.yml", A), src("b.yml", B), src("c.yml", count)], &[], true).unwrap();
        for path in ["actor.alternateId", "client.ipAddress", "displayMessage"] {
            let key = FieldPath::parse(path).unwrap().key();
            let id = *set.path_ids.get(&key).unwrap_or_else(|| panic!("{path} is numbered"));
            assert!(set.candidates(Some("user.session.start")).trie.holds(id), "{path}");
        }
        let other = &set.candidates(Some("other")).trie;
        for path in ["actor.alternateId", "client.ipAddress"] {
            let id = set.path_ids[&FieldPath::parse(path).unwrap().key()];
            assert!(!other.holds(id), "{path}: rule_a is not a candidate there");
        }
        assert!(
            !set.path_ids.contains_key(&FieldPath::parse("user").unwrap().key()),
            "the alias is read, not its name"
        );
    }

    /// The text of every path the built-in pack's detections and filters test.
    pub(crate) fn pack_paths() -> Vec<String> {
        let mut set = RuleSet::compile(&crate::detect::builtin::sources(), &[], true).unwrap();
        let mut out = Vec::new();
        for rule in &mut set.rules {
            if let Body::Detection(detection) | Body::Filter(detection) = &mut rule.body {
                out.extend(detection.paths_mut().into_iter().map(|p| p.text.clone()));
            }
        }
        assert!(out.len() > 100, "the pack tests many paths");
        out
    }
}
