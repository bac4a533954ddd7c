//! okta-normalizer-core: Okta System Log events in, Elastic Common Schema documents out.
//!
//! ```text
//!   bytes ──decode──▶ raw events ──normalize──▶ ECS documents + diagnostics
//!   (API page, hook,   (one JSON text    (typed, lenient parse;
//!    EventBridge,       per event)        categorized by event type)
//!    NDJSON, event)
//! ```
//!
//! This crate holds all event logic. The wasm component (`guest/component`, wit-bindgen) and the
//! browser demo (`web-demo`, wasm-bindgen) are thin adapters over [`Engine`]; the host never links
//! this crate and talks to it only through the WIT contract in `wit/`.
//!
//! What this crate does not do: no I/O, no clock, no randomness, no threads. The host passes in
//! everything time-dependent (the ingest time), so the same input and config always give
//! byte-identical output, natively and in wasm. See ARCHITECTURE.md.

#![forbid(unsafe_code)]

pub mod decode;
pub mod detect;
pub mod diag;
pub mod directory;
pub mod normalize;

/// The hasher of the core's hash maps: fixed, because std's `RandomState` would make the guest
/// import WASI randomness and runs should not differ, and fast (foldhash; SipHash was about 3 % of
/// detection). Lookups and equality tests only (correlation windows compare their keys' hashes):
/// nothing the core outputs depends on a hash map's order or on a hash's value.
pub(crate) type FixedHash = foldhash::fast::FixedState;

pub use detect::explain::{MatchedField, RuleMatch};
pub use detect::{
    Alert, AlertKind, DetectionConfig, RuleError, RuleInfo, RuleSource, StateChanges, StateError, StatePart, TestResult,
};
pub use diag::Diagnostic;
pub use directory::{
    DirectoryChange, DirectoryKind, DirectoryObject, DirectoryProblem, DirectoryResult, DirectoryUpdate,
    EnrichmentConfig, Entity, GroupMembers, UserRoles,
};
pub use normalize::provenance::{FieldSource, Origin};

use std::sync::Arc;

use bumpalo::Bump;
use decode::event::LogEvent;
use decode::lenient::Field;
use decode::tree::{Tree, TreeDeserializer};
use detect::RawEvent;
use detect::detector::{Detector, Env};
use detect::ruleset::RuleSet;
use normalize::json::Members;
use normalize::{Context, event_type::Table, user_agent};
use serde::Deserialize;

/// What the input bytes are. Mirrors the WIT `input-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Detect the format from the bytes.
    #[default]
    Auto,
    /// One LogEvent object.
    LogEvent,
    /// A JSON array of LogEvents (or of EventBridge envelopes).
    ApiPage,
    /// One LogEvent or EventBridge envelope per line.
    Ndjson,
    /// An Okta event-hook delivery, `{"data": {"events": [...]}}`.
    EventHook,
    /// An EventBridge envelope, `{"detail-type": "SystemLog", "detail": {...}}`.
    Eventbridge,
}

impl InputFormat {
    /// The names used on command lines and in messages.
    pub const NAMES: [(&'static str, InputFormat); 6] = [
        ("auto", InputFormat::Auto),
        ("log-event", InputFormat::LogEvent),
        ("api-page", InputFormat::ApiPage),
        ("ndjson", InputFormat::Ndjson),
        ("event-hook", InputFormat::EventHook),
        ("eventbridge", InputFormat::Eventbridge),
    ];

    /// A phrase for messages: "an event-hook delivery".
    pub fn describe(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto-detected input",
            InputFormat::LogEvent => "a single LogEvent",
            InputFormat::ApiPage => "an API page (JSON array)",
            InputFormat::Ndjson => "NDJSON",
            InputFormat::EventHook => "an event-hook delivery",
            InputFormat::Eventbridge => "an EventBridge envelope",
        }
    }
}

/// How documents are written. Mirrors the WIT `output-options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// Copy the raw event text into `event.original`.
    pub preserve_original: bool,
    /// Replace secret values Okta logs (such as `debugData.clientSecret`) with `[REDACTED]`.
    pub redact_secrets: bool,
}

impl Default for OutputOptions {
    fn default() -> Self {
        Self { preserve_original: false, redact_secrets: true }
    }
}

/// What an engine is built from. Mirrors the WIT `config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Okta org, for example `acme.okta.com`; written to `organization.id`.
    pub tenant_id: String,
    /// The org's domain, written to `host.name`.
    pub tenant_domain: Option<String>,
    pub output: OutputOptions,
    /// The rules and their settings.
    pub detection: DetectionConfig,
}

/// A config the engine refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
    /// Every problem found in the rules, when `field` is `detection.rules`.
    pub rule_errors: Vec<RuleError>,
}

/// Per-batch facts from the host. Mirrors the WIT `batch-options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOptions {
    pub format: InputFormat,
    /// When the host received the batch, RFC 3339.
    pub ingested: Option<String>,
}

/// One event turned into ECS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub uuid: Option<String>,
    pub published: Option<String>,
    pub published_ms: Option<i64>,
    /// Compact JSON.
    pub document: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// One event that could not be read; the raw text is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub code: &'static str,
    pub message: String,
    pub raw: String,
    /// An ECS `pipeline_error` document carrying the raw text in `event.original`.
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Normalized(Normalized),
    Failed(EventError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedOutcome {
    /// 1-based input line where the event starts.
    pub line: u32,
    /// 0-based position in the batch.
    pub index: u32,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    /// The format used (detected, with [`InputFormat::Auto`]).
    pub format: InputFormat,
    pub outcomes: Vec<LocatedOutcome>,
    /// What the rules found in this batch (and absence deadlines this batch's event time passed).
    pub alerts: Vec<Alert>,
}

/// The input as a whole is not the format the caller named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    pub code: &'static str,
    pub message: String,
}

/// A normalizer for one tenant. Build it once; feed it batches.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    table: &'static Table,
    user_agents: user_agent::Cache,
    /// `None` when no rules are loaded: normalization then does no detection work at all.
    detection: Option<Detection>,
    /// What enrichment copies from the directory.
    enrichment: EnrichmentConfig,
    /// The org's directory; empty until the host loads one.
    directory: directory::Directory,
}

/// The compiled rules and the state they keep.
#[derive(Debug)]
struct Detection {
    rules: Arc<RuleSet>,
    detector: Detector,
    /// The tree reader's stacks, from one event to the next. Not state.
    stacks: decode::tree::Stacks,
    /// Where an event's tree is built; emptied before each event. Not state.
    arena: Bump,
}

impl Detection {
    fn env<'e>(rules: &'e RuleSet, config: &'e Config) -> Env<'e> {
        Env {
            rules,
            tenant: &config.tenant_id,
            tolerance_ms: i64::try_from(config.detection.reorder_tolerance_ms).unwrap_or(i64::MAX),
        }
    }
}

/// One event's text read into a tree, and the typed event read from that tree; `None` when the
/// text is not a JSON object, or the typed read refuses the tree (a repeated key).
fn read_event<'a>(
    raw: &'a str,
    arena: &'a Bump,
    stacks: &mut decode::tree::Stacks,
) -> Option<(LogEvent<'a>, Tree<'a>)> {
    let tree = decode::tree::parse_in(raw, arena, stacks)?;
    if !matches!(tree, Tree::Obj(_)) {
        return None;
    }
    let event = LogEvent::deserialize(TreeDeserializer(&tree)).ok()?;
    Some((event, tree))
}

/// Empties `buffer` and gives its allocation back as a buffer of `U`. Used for the same type
/// borrowing for another lifetime (scratch buffers kept from one event to the next), whose layout
/// is the same, so the collect reuses the allocation in place instead of making a new one. A
/// buffer grown past [`SCRATCH_KEEPS_AT_MOST`] elements by an unusual event is let go instead, so
/// one huge event does not hold its memory for the engine's life.
pub(crate) fn relabel<T, U>(mut buffer: Vec<T>) -> Vec<U> {
    if buffer.capacity() > SCRATCH_KEEPS_AT_MOST {
        return Vec::new();
    }
    buffer.clear();
    buffer.into_iter().map(|_| unreachable!("the buffer was emptied")).collect()
}

/// The most elements a scratch buffer keeps from one event to the next (see [`relabel`]).
pub(crate) const SCRATCH_KEEPS_AT_MOST: usize = 4096;

/// The event type the typed decode found, for the rule index.
fn event_type<'e>(event: &'e LogEvent<'_>) -> Option<&'e str> {
    event.event_type.value().map(AsRef::as_ref)
}

impl Engine {
    /// Validates the config, loads the event-type tables and compiles the rules (the built-in
    /// pack when `detection.builtin_rules`, then `detection.rules`).
    pub fn new(config: Config) -> Result<Engine, ConfigError> {
        Engine::check(&config)?;
        let mut sources = if config.detection.builtin_rules { detect::builtin::sources() } else { Vec::new() };
        sources.extend(config.detection.rules.iter().cloned());
        let rules = if sources.is_empty() {
            None
        } else {
            let set =
                RuleSet::compile(&sources, &config.detection.placeholders, true).map_err(|errors| ConfigError {
                    field: "detection.rules",
                    message: format!(
                        "{} problem{} in the rules; the first: {}",
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" },
                        describe_rule_error(&errors[0])
                    ),
                    rule_errors: errors,
                })?;
            Some(Arc::new(set))
        };
        Ok(Engine::build(config, rules))
    }

    /// An engine over rules already compiled (the test runner shares one set across tests).
    pub(crate) fn with_rules(config: Config, rules: Arc<RuleSet>) -> Result<Engine, ConfigError> {
        Engine::check(&config)?;
        Ok(Engine::build(config, Some(rules)))
    }

    fn build(config: Config, rules: Option<Arc<RuleSet>>) -> Engine {
        let detection = rules.filter(|r| !r.is_empty()).map(|rules| Detection {
            rules,
            detector: Detector::default(),
            stacks: decode::tree::Stacks::default(),
            arena: Bump::new(),
        });
        Engine {
            config,
            table: Table::builtin(),
            user_agents: user_agent::Cache::default(),
            detection,
            enrichment: EnrichmentConfig::default(),
            directory: directory::Directory::default(),
        }
    }

    /// In-rule tests: rule `r` of the engine's set alerts on its own.
    pub(crate) fn test_alone(&mut self, r: usize) {
        if let Some(d) = &mut self.detection {
            d.detector.test_alone(r);
        }
    }

    /// Placeholders that rules use with `|expand` but the config does not set: such values match
    /// nothing. Hosts should say so once at start-up.
    pub fn unset_placeholders(&self) -> Vec<String> {
        self.detection.as_ref().map(|d| d.rules.unset_placeholders.clone()).unwrap_or_default()
    }

    fn check(config: &Config) -> Result<(), ConfigError> {
        if config.tenant_id.trim().is_empty() {
            return Err(ConfigError {
                field: "tenant-id",
                message: "the tenant id is empty; set it to the Okta org, for example acme.okta.com".into(),
                rule_errors: Vec::new(),
            });
        }
        if config.tenant_domain.as_deref().is_some_and(|d| d.trim().is_empty() || d.contains(char::is_whitespace)) {
            return Err(ConfigError {
                field: "tenant-domain",
                message: "the tenant domain must be a host name such as acme.okta.com, without spaces".into(),
                rule_errors: Vec::new(),
            });
        }
        Ok(())
    }

    /// Normalizes every event in `input`: one outcome per event, in input order, and runs the
    /// rules on each (alerts in event order).
    pub fn normalize(&mut self, input: &[u8], options: &BatchOptions) -> Result<BatchResult, BatchError> {
        if let Some(result) = self.normalize_compact_page(input, options) {
            return Ok(result);
        }
        let decoded = decode::decode(input, options.format)?;
        let ctx = Context {
            config: &self.config,
            ingested: options.ingested.as_deref(),
            table: self.table,
            directory: directory::Enricher::new(&self.directory, &self.enrichment),
        };
        let mut outcomes = Vec::with_capacity(decoded.items.len());
        let mut alerts = Vec::new();
        for (index, item) in decoded.items.iter().enumerate() {
            let outcome = match &item.body {
                decode::RawBody::Event(raw) => match &mut self.detection {
                    None => normalize::normalize_event(raw, &ctx, &mut self.user_agents),
                    Some(Detection { rules, detector, stacks, arena }) => {
                        decode::tree::reset(arena);
                        let arena: &Bump = arena;
                        let env = Detection::env(rules, &self.config);
                        let mut detect =
                            |event: &LogEvent<'_>, tree: Option<Tree<'_>>, outcome: &Outcome, doc: &dyn Members| {
                                if let Outcome::Normalized(n) = outcome {
                                    let candidates = rules.candidates(event_type(event));
                                    let raw = RawEvent { text: raw, tree, arena };
                                    detector.on_event(env, Some(raw), candidates, n, doc, &mut alerts);
                                }
                            };
                        // When every event meets a rule (the built-in pack has rules for any
                        // eventType), the text is read once, into the tree detection walks, and the
                        // typed event is read from that tree. Otherwise the typed read comes first
                        // and the tree is read only for an event some rule could match. Anything
                        // the tree cannot give alike (a repeated key) takes the text path, which
                        // says so in a diagnostic.
                        match rules.meets_every_event().then(|| read_event(raw, arena, stacks)).flatten() {
                            Some((event, tree)) => {
                                normalize::normalize_read_then(&event, raw, &ctx, &mut self.user_agents, |o, d| {
                                    detect(&event, Some(tree), o, d);
                                })
                            }
                            None => normalize::normalize_event_then(raw, &ctx, &mut self.user_agents, |e, o, d| {
                                detect(e, None, o, d);
                            }),
                        }
                    }
                },
                decode::RawBody::Broken { code, message, raw } => normalize::failed(code, message.clone(), raw, &ctx),
            };
            outcomes.push(LocatedOutcome { line: item.line, index: u32::try_from(index).unwrap_or(u32::MAX), outcome });
        }
        Ok(BatchResult { format: decoded.format, outcomes, alerts })
    }

    /// The common case without rules, an API page on one line (as Okta sends it): parse the whole
    /// page once, typed, instead of splitting it into raw events first. Anything unusual
    /// (envelopes, non-objects, repeated keys, `preserve_original`, which needs each event's text)
    /// returns `None` and takes the general path, which gives the same outcomes.
    ///
    /// With rules the general path is the fast one: it splits the page, then reads each event
    /// once, into the tree detection walks, and the typed event from that tree, one event at a
    /// time. (Reading the whole page into trees first cut instructions as much but ran no faster:
    /// a page of trees does not stay in the cache.)
    fn normalize_compact_page(&mut self, input: &[u8], options: &BatchOptions) -> Option<BatchResult> {
        if !matches!(options.format, InputFormat::Auto | InputFormat::ApiPage)
            || self.config.output.preserve_original
            || self.detection.is_some()
        {
            return None;
        }
        let text = decode::utf8(input)?;
        let body = text.trim();
        if !body.starts_with('[')
            || memchr::memchr(b'\n', body.as_bytes()).is_some()
            || decode::may_hold_envelopes(body)
        {
            return None;
        }
        let events: Vec<Field<LogEvent<'_>>> = serde_json::from_str(body).ok()?;
        let events: Vec<&LogEvent<'_>> = events.iter().map(Field::value).collect::<Option<_>>()?;
        let line = 1 + u32::try_from(text[..text.len() - text.trim_start().len()].matches('\n').count()).ok()?;
        let size = body.len() / events.len().max(1);
        let ctx = Context {
            config: &self.config,
            ingested: options.ingested.as_deref(),
            table: self.table,
            directory: directory::Enricher::new(&self.directory, &self.enrichment),
        };
        let outcomes = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| LocatedOutcome {
                line,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                outcome: normalize::normalize_parsed(event, size, &ctx, &mut self.user_agents),
            })
            .collect();
        Some(BatchResult { format: InputFormat::ApiPage, outcomes, alerts: Vec::new() })
    }

    /// The detection state (windows, first-seen history, open sequences), as bytes the host keeps
    /// beside its checkpoint. Deterministic: the same events give the same bytes.
    pub fn export_state(&self) -> Vec<u8> {
        self.detection.as_ref().map(|d| d.detector.export()).unwrap_or_default()
    }

    /// Replaces the detection state with one [`Engine::export_state`] made (by an engine with the
    /// same rules or an older set: state of rules that no longer exist is dropped).
    pub fn import_state(&mut self, state: &[u8]) -> Result<(), StateError> {
        match &mut self.detection {
            Some(d) => {
                d.detector = Detector::import(state, &d.rules)?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// What changed in the detection state since the last call, for a host that keeps the state in
    /// parts (one per correlation group, dedup tally and `x-absence` snapshot, plus one for the rest)
    /// and applies each batch's changes in the transaction that commits the batch. The first call,
    /// and the first after [`Engine::export_state`] or [`Engine::import_state`], replaces every part.
    /// The parts leave out the uuids detection has seen: after [`Engine::import_state_parts`], give
    /// them back with [`Engine::mark_seen`].
    pub fn export_state_changes(&mut self) -> StateChanges {
        self.detection.as_mut().map(|d| d.detector.changes()).unwrap_or_default()
    }

    /// Replaces the detection state with the one in `parts`: every part the host holds after
    /// applying [`Engine::export_state_changes`]' changes, in any order. Forgets every uuid
    /// detection has seen (see [`Engine::mark_seen`]).
    pub fn import_state_parts(&mut self, parts: &[StatePart]) -> Result<(), StateError> {
        match &mut self.detection {
            Some(d) => {
                d.detector = Detector::from_parts(parts, &d.rules)?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records uuids as already processed, so detection skips later copies of those events.
    pub fn mark_seen(&mut self, uuids: &[String]) {
        if let Some(d) = &mut self.detection {
            for uuid in uuids {
                d.detector.mark_seen(uuid);
            }
        }
    }

    /// The loaded rules, in load order.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.detection.as_ref().map(|d| d.rules.infos()).unwrap_or_default()
    }

    /// Sets which directory fields enrich events (the WIT `config.enrichment`; kept apart from
    /// [`Config`] so the detection-only constructors stay as they are).
    pub fn set_enrichment(&mut self, enrichment: EnrichmentConfig) -> Result<(), ConfigError> {
        directory::check_enrichment(&enrichment).map_err(|message| ConfigError {
            field: "enrichment",
            message,
            rule_errors: Vec::new(),
        })?;
        self.enrichment = enrichment;
        Ok(())
    }

    /// Loads or updates the directory events are enriched with. Returns the entity documents for
    /// every user and device that changed, in a deterministic order (none for a reset), and the
    /// objects it skipped.
    pub fn update_directory(&mut self, update: DirectoryUpdate) -> DirectoryResult {
        self.directory.apply(update, &self.config, &self.enrichment)
    }

    /// Replaces the directory with a whole one from a JSON snapshot (see [`directory::snapshot`]),
    /// for tools: `normalize --directory FILE`. A reset, so no entity documents; the objects it
    /// skipped are in the result. The error says what is wrong with the text; nothing is loaded.
    pub fn load_directory_snapshot(&mut self, text: &str) -> Result<DirectoryResult, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            format!("the directory snapshot is not JSON: {e}; it is one object such as {{\"users\": [..], \"groups\": [..]}}")
        })?;
        let update = directory::snapshot(&value, 0)?;
        Ok(self.update_directory(update))
    }

    /// What a reader of one event's output wants to know: where each ECS field came from, and
    /// which detection rules the event matches and on which values. `input` and `result` are a
    /// batch and what [`Engine::normalize`] returned for it; `index` is the event's position.
    /// `None` when there is no such event or it failed. Reads no state and changes none.
    pub fn inspect(&self, input: &[u8], result: &BatchResult, index: u32) -> Option<Insight> {
        let Outcome::Normalized(normalized) = &result.outcomes.iter().find(|o| o.index == index)?.outcome else {
            return None;
        };
        let decoded = decode::decode(input, result.format).ok()?;
        let decode::RawBody::Event(raw) = decoded.items.get(usize::try_from(index).ok()?)?.body else {
            return None;
        };
        Some(Insight {
            index,
            fields: normalize::provenance::trace(raw, &normalized.document),
            matches: self
                .detection
                .as_ref()
                .map(|d| detect::explain::explain(&d.rules, raw, &normalized.document))
                .unwrap_or_default(),
        })
    }
}

/// One event's output explained: see [`Engine::inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insight {
    pub index: u32,
    /// Every leaf of the ECS document and the Okta field (or config, or batch value) it came from.
    pub fields: Vec<FieldSource>,
    /// The detection rules the event matches (filters applied), with the fields that matched.
    pub matches: Vec<RuleMatch>,
}

/// `file:line:column: R0xx message`, for one-line summaries.
fn describe_rule_error(e: &RuleError) -> String {
    let rule = e.rule.as_deref().map(|r| format!(" (rule {r})")).unwrap_or_default();
    if e.line == 0 {
        format!("{}{rule}: {} {}", e.file, e.code, e.message)
    } else {
        format!("{}:{}:{}{rule}: {} {}", e.file, e.line, e.column, e.code, e.message)
    }
}

/// The built-in rule pack's files.
pub fn builtin_rules() -> Vec<RuleSource> {
    detect::builtin::sources()
}

/// Checks one rule file on its own (references to rules in other files are not checked).
pub fn lint_rules(source: &RuleSource) -> Vec<RuleError> {
    match RuleSet::compile(std::slice::from_ref(source), &[], false) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
}

/// Runs the tests inside `sources` (plus the built-in pack's when `builtin`), each as written and
/// with lowercased top-level keys. Rule errors come back as `Err`.
pub fn test_rules(sources: &[RuleSource], builtin: bool) -> Result<Vec<TestResult>, Vec<RuleError>> {
    detect::testing::run(sources, builtin)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    /// A kept buffer keeps its allocation for the next lifetime, unless an unusual event grew it
    /// past the cap.
    #[test]
    fn relabel_keeps_the_allocation_up_to_the_cap() {
        let text = String::from("borrowed");
        let mut small: Vec<Cow<'_, str>> = Vec::with_capacity(64);
        small.push(Cow::Borrowed(&text));
        let address = small.as_ptr() as usize;
        let kept: Vec<Cow<'static, str>> = super::relabel(small);
        assert!(kept.is_empty());
        assert_eq!((kept.capacity(), kept.as_ptr() as usize), (64, address));

        let mut large: Vec<Cow<'_, str>> = Vec::with_capacity(super::SCRATCH_KEEPS_AT_MOST + 1);
        large.push(Cow::Borrowed(&text));
        let dropped: Vec<Cow<'static, str>> = super::relabel(large);
        assert_eq!(dropped.capacity(), 0);
    }
}
