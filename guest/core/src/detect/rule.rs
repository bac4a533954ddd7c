//! The compiled form of one rule document: metadata, what it matches (a detection, a
//! correlation or a filter), its alert controls (`x-okta`) and its tests.

use serde_json::Value;

use super::condition::Cond;
use super::field::{EventView, FieldPath};
use super::modifiers::{FieldTest, Matcher, keywords_match};
use super::stateful::Spec;

/// Sigma's levels, with the ECS severity and default risk of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub(crate) const NAMES: &'static str = "informational, low, medium, high, critical";

    pub(crate) fn parse(text: &str) -> Option<Level> {
        Some(match text {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// `event.severity`, and the risk score when the rule sets none.
    pub(crate) fn score(self) -> u8 {
        match self {
            Level::Informational | Level::Low => 21,
            Level::Medium => 47,
            Level::High => 73,
            Level::Critical => 99,
        }
    }
}

/// One rule document, compiled.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The [`crate::RuleSource::name`] it came from.
    pub(crate) file: String,
    /// Where the document starts (for errors found after parsing).
    pub(crate) line: u32,
    pub(crate) title: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) references: Vec<String>,
    pub(crate) level: Level,
    /// (id, name) of each ATT&CK tactic and technique tag.
    pub(crate) tactics: Vec<(&'static str, &'static str)>,
    pub(crate) techniques: Vec<(&'static str, &'static str)>,
    /// Top-level `generate: true`: alerts on its own even when a correlation refers to it.
    pub(crate) generate: bool,
    pub(crate) body: Body,
    /// The rules a correlation or filter names, as written.
    pub(crate) refs: Vec<Reference>,
    pub(crate) controls: Controls,
    pub(crate) tests: Vec<TestCase>,
}

#[derive(Debug)]
pub(crate) enum Body {
    Detection(Detection),
    Correlation(Box<Spec>),
    /// Applies to the rules in [`Rule::refs`].
    Filter(Detection),
}

/// A reference to another rule by name or id, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) target: String,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl Rule {
    pub(crate) fn kind(&self) -> String {
        match &self.body {
            Body::Detection(_) => "detection".into(),
            Body::Correlation(spec) => format!("correlation:{}", spec.kind.type_name()),
            Body::Filter(_) => "filter".into(),
        }
    }
}

/// A detection: named searches and the condition over them.
#[derive(Debug)]
pub(crate) struct Detection {
    pub(crate) searches: Vec<Search>,
    /// The name of each search, as written (same order as `searches`).
    pub(crate) names: Vec<String>,
    pub(crate) condition: Cond,
}

#[derive(Debug)]
pub(crate) enum Search {
    /// OR over branches, each an AND over field tests.
    Selection(Vec<Vec<FieldTest>>),
    /// Values matched anywhere in the event.
    Keywords { matchers: Vec<Matcher>, all: bool },
}

impl Detection {
    /// Every field test of the searches, for numbering.
    pub(crate) fn tests_mut(&mut self) -> impl Iterator<Item = &mut FieldTest> {
        self.searches.iter_mut().flat_map(|search| match search {
            Search::Selection(branches) => branches.iter_mut().flatten().collect::<Vec<_>>(),
            Search::Keywords { .. } => Vec::new(),
        })
    }

    /// Every field path the searches resolve, for numbering.
    pub(crate) fn paths_mut(&mut self) -> Vec<&mut FieldPath> {
        let mut out = Vec::new();
        for search in &mut self.searches {
            if let Search::Selection(branches) = search {
                for test in branches.iter_mut().flatten() {
                    out.extend(test.paths_mut());
                }
            }
        }
        out
    }
}

impl Search {
    pub(crate) fn eval(&self, event: &EventView<'_>) -> bool {
        match self {
            Search::Selection(branches) => branches.iter().any(|b| b.iter().all(|t| t.eval(event))),
            Search::Keywords { matchers, all } => keywords_match(matchers, *all, event),
        }
    }

    /// The lowercased `eventType` values this search requires, if it requires some.
    pub(crate) fn required_event_types(&self) -> Option<std::collections::BTreeSet<String>> {
        let Search::Selection(branches) = self else {
            return None;
        };
        let mut all = std::collections::BTreeSet::new();
        for branch in branches {
            let values = branch
                .iter()
                .find_map(|t| matches!(t.path.single_key(), Some("eventtype")).then(|| t.exact_values()).flatten())?;
            all.extend(values);
        }
        Some(all)
    }
}

impl Detection {
    pub(crate) fn eval(&self, event: &EventView<'_>) -> bool {
        let mut memo: [Option<bool>; 16] = [None; 16];
        self.condition.eval(&mut |i| {
            if let Some(Some(known)) = memo.get(i) {
                return *known;
            }
            let result = self.searches.get(i).is_some_and(|s| s.eval(event));
            if let Some(slot) = memo.get_mut(i) {
                *slot = Some(result);
            }
            result
        })
    }
}

/// `x-okta`: how a match becomes an alert.
#[derive(Debug, Default)]
pub(crate) struct Controls {
    pub(crate) signal: bool,
    /// Only feeds correlations: no document of its own, whatever `generate` says.
    pub(crate) silent: bool,
    pub(crate) title: Option<Template>,
    /// The first `when` that matches the last event sets the level.
    pub(crate) severity: Vec<(Search, Level)>,
    pub(crate) risk: Option<u8>,
    /// Alert on the n-th match per dedup key within the dedup window.
    pub(crate) threshold: u32,
    pub(crate) dedup: Option<Dedup>,
}

impl Controls {
    /// The fields the title template and the dedup key read.
    pub(crate) fn field_paths(&self) -> impl Iterator<Item = &FieldPath> {
        let title = self.title.iter().flat_map(|t| t.0.iter()).filter_map(|p| match p {
            Part::Field(path) => Some(path),
            Part::Text(_) => None,
        });
        title.chain(self.dedup.iter().flat_map(|d| d.by.iter()))
    }
}

#[derive(Debug)]
pub(crate) struct Dedup {
    pub(crate) by: Vec<FieldPath>,
    pub(crate) window_ms: i64,
}

/// A title with `{field.path}` parts.
#[derive(Debug)]
pub(crate) struct Template(pub Vec<Part>);

#[derive(Debug)]
pub(crate) enum Part {
    Text(String),
    Field(FieldPath),
}

/// One test inside a rule.
#[derive(Debug, Clone)]
pub(crate) struct TestCase {
    pub(crate) name: String,
    /// Events in order; `repeat` already expanded into copies (uuid and time filled later).
    pub(crate) events: Vec<TestEvent>,
    pub(crate) fires: u64,
    pub(crate) severity: Option<String>,
    pub(crate) title: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct TestEvent {
    pub(crate) event: serde_json::Map<String, Value>,
    pub(crate) repeat: u32,
}
