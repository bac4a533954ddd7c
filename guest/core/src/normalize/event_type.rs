//! ECS categorization of Okta event types, as data.
//!
//! `data/event-types.tsv` gives every event type in Okta's catalog its `event.kind`,
//! `event.category` and `event.type`. Event types Okta adds later fall back to the longest
//! matching prefix in `data/event-type-prefixes.tsv` (and finally its `*` row), and the event gets a
//! diagnostic so the gap is visible. `data/README.md` explains the conventions.

use std::sync::OnceLock;

const EXACT: &str = include_str!("../../data/event-types.tsv");
const PREFIXES: &str = include_str!("../../data/event-type-prefixes.tsv");

/// The ECS classification of one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub kind: &'static str,
    pub categories: Vec<&'static str>,
    pub types: Vec<&'static str>,
}

/// How an event type was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match<'t> {
    /// The event type is in the catalog table.
    Exact(&'t Category),
    /// Not in the table; classified by this prefix (`*` for the catch-all).
    Prefix(&'static str, &'t Category),
}

impl<'t> Match<'t> {
    pub fn category(self) -> &'t Category {
        match self {
            Match::Exact(c) | Match::Prefix(_, c) => c,
        }
    }
}

/// The loaded tables. Rows that fail to parse are counted in `rejected`, which a test keeps at 0.
#[derive(Debug)]
pub struct Table {
    exact: Vec<(&'static str, Category)>,
    /// Longest prefixes first, so the first match is the most specific.
    prefixes: Vec<(&'static str, Category)>,
    pub rejected: Vec<String>,
}

impl Table {
    /// The built-in tables, parsed once per process.
    pub fn builtin() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| Table::parse(EXACT, PREFIXES))
    }

    fn parse(exact: &'static str, prefixes: &'static str) -> Table {
        let mut rejected = Vec::new();
        let mut exact_rows = rows(exact, &mut rejected);
        exact_rows.sort_by(|a, b| a.0.cmp(b.0));
        exact_rows.dedup_by(|a, b| a.0 == b.0);
        let mut prefix_rows = rows(prefixes, &mut rejected);
        prefix_rows.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        Table { exact: exact_rows, prefixes: prefix_rows, rejected }
    }

    /// Classifies an event type: exactly if it is in the catalog, else by prefix.
    pub fn classify(&self, event_type: &str) -> Match<'_> {
        if let Ok(i) = self.exact.binary_search_by(|(k, _)| (*k).cmp(event_type)) {
            return Match::Exact(&self.exact[i].1);
        }
        let (prefix, category) = self
            .prefixes
            .iter()
            .find(|(p, _)| *p == "*" || event_type.starts_with(p))
            .map(|(p, c)| (*p, c))
            .unwrap_or(("*", &CATCH_ALL));
        Match::Prefix(prefix, category)
    }

    /// Every event type in the table, for coverage checks.
    pub fn event_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.exact.iter().map(|(k, _)| *k)
    }
}

static CATCH_ALL: Category = Category { kind: "event", categories: Vec::new(), types: Vec::new() };

fn rows(text: &'static str, rejected: &mut Vec<String>) -> Vec<(&'static str, Category)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_row(line) {
            Some(row) => out.push(row),
            None => rejected.push(line.to_owned()),
        }
    }
    out
}

fn parse_row(line: &'static str) -> Option<(&'static str, Category)> {
    let mut cols = line.split('\t');
    let key = cols.next()?.trim();
    let kind = cols.next()?.trim();
    let categories = list(cols.next()?);
    let types = list(cols.next()?);
    if key.is_empty() || !matches!(kind, "event" | "alert" | "signal" | "state" | "metric") || cols.next().is_some() {
        return None;
    }
    Some((key, Category { kind, categories, types }))
}

fn list(col: &'static str) -> Vec<&'static str> {
    let col = col.trim();
    if col == "-" || col.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<&'static str> = col.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tables_parse_cleanly() {
        let t = Table::builtin();
        assert!(t.rejected.is_empty(), "rejected rows: {:?}", t.rejected);
        assert!(t.exact.len() > 1000);
        assert!(t.prefixes.iter().any(|(p, _)| *p == "*"));
    }

    #[test]
    fn exact_and_prefix_matches() {
        let t = Table::builtin();
        let m = t.classify("user.session.start");
        assert!(matches!(m, Match::Exact(_)));
        assert!(m.category().categories.contains(&"authentication"));
        match t.classify("user.authentication.brand_new_thing") {
            Match::Prefix(p, c) => {
                assert_eq!(p, "user.authentication.");
                assert_eq!(c.categories, vec!["authentication"]);
            }
            other => panic!("expected a prefix match, got {other:?}"),
        }
        assert!(matches!(t.classify("zzz.nothing"), Match::Prefix("*", _)));
    }
}
