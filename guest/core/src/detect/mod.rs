//! Detection: Sigma v2 rules (detections, correlations, filters) plus our stateful `x-` types,
//! evaluated on every normalized event, on event time. See `rules/README.md` for the format.
//!
//! ```text
//!  rule texts ──load──▶ RuleSet (compiled once per engine)
//!  event ──▶ fields (raw LogEvent, then the ECS document) ──▶ match ──▶ filters ──▶ alert controls ──▶ Alert
//!                                                            └──▶ stateful (correlations, x- types) ──▶ Alert
//! ```
//!
//! The public types below are the contract with the adapters (component, web demo); the rest of
//! the module is private:
//!
//! | module | stage |
//! |---|---|
//! | `yaml` | rule text → YAML nodes with line and column |
//! | `parse` | YAML → `rule::Rule`, every problem an `R0xx` [`RuleError`] |
//! | `modifiers`, `condition` | field values and modifiers, the condition grammar |
//! | `attack` | ATT&CK tactic and technique names |
//! | `ruleset` | all rules compiled, checked across files, indexed by eventType |
//! | `field` | the Okta field resolver over a borrowed event tree |
//! | `detector` | per-event matching, filters, correlations, state export |
//! | `alert` | alert controls and the ECS alert document |
//! | `stateful` | correlation state (Sigma types and our `x-` types) |
//! | `explain` | which searches of a rule held on an event, and the values they tested |
//! | `testing`, `builtin` | the in-rule test runner, the compiled-in pack |

mod alert;
mod attack;
pub(crate) mod builtin;
mod condition;
pub(crate) mod detector;
pub(crate) mod explain;
mod field;
mod modifiers;
mod parse;
mod rule;
pub(crate) mod ruleset;
mod stateful;
pub(crate) mod testing;
mod yaml;

pub(crate) use field::RawEvent;

#[cfg(test)]
mod tests;

/// One rule file's text and the name used in messages (a path, or `builtin:<path>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    pub name: String,
    pub text: String,
}

/// Everything detection is built from. Part of [`crate::Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionConfig {
    /// Load the built-in pack (`rules/` in this repository, compiled in).
    pub builtin_rules: bool,
    /// Extra rule files, loaded after the built-in pack.
    pub rules: Vec<RuleSource>,
    /// Values for `|expand` placeholders: name (without `%`) → values.
    pub placeholders: Vec<(String, Vec<String>)>,
    /// How late (in event time) an event may arrive and still count in windows, in milliseconds.
    pub reorder_tolerance_ms: u64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self { builtin_rules: true, rules: Vec::new(), placeholders: Vec::new(), reorder_tolerance_ms: 5 * 60 * 1000 }
    }
}

/// A problem in a rule file, with where it is. Codes are `R0xx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub code: &'static str,
    /// The [`RuleSource::name`].
    pub file: String,
    /// 1-based; 0 when the problem has no single place (a name used twice across files).
    pub line: u32,
    pub column: u32,
    /// The rule's `name` (or `title`) when known.
    pub rule: Option<String>,
    pub message: String,
}

/// `alert` or a building-block `signal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    Alert,
    Signal,
}

/// A rule fired. `document` is the ECS alert document (compact JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Deterministic: the same rule and triggering events always give the same id.
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub kind: AlertKind,
    /// `informational`, `low`, `medium`, `high` or `critical`, after conditional severity.
    pub severity: String,
    pub risk_score: u8,
    /// `published` of the event that made it fire, in ms since the epoch.
    pub published_ms: i64,
    /// The uuids of the triggering events, oldest first (capped at 100).
    pub event_uuids: Vec<String>,
    pub document: String,
}

/// What `rules list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: String,
    pub name: String,
    pub title: String,
    /// `detection`, `correlation:<type>` or `filter`.
    pub kind: String,
    pub level: String,
    pub signal: bool,
    /// ATT&CK tactic names from the tags.
    pub tactics: Vec<String>,
    /// The [`RuleSource::name`] it came from.
    pub file: String,
    pub tests: u32,
}

/// One rule test, run as written or with lowercased top-level keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub file: String,
    pub rule: String,
    pub test: String,
    pub lowercased: bool,
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub message: String,
}

/// One part of the detection state, for a host that keeps the state in parts
/// ([`crate::Engine::export_state_changes`]): a key (a JSON array of strings) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatePart {
    pub key: String,
    pub value: Vec<u8>,
}

/// How the stored parts of the detection state change with one export: drop every part whose
/// key starts with one of `dropped_prefixes` (the empty prefix drops them all), then the parts
/// named in `dropped`, then write `written` (replacing a part with the same key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChanges {
    pub dropped_prefixes: Vec<String>,
    pub dropped: Vec<String>,
    pub written: Vec<StatePart>,
}

/// The engine's detection state could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    pub message: String,
}
