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
pub mod diag;
pub mod normalize;

pub use diag::Diagnostic;

use decode::event::LogEvent;
use decode::lenient::Field;
use normalize::{Context, event_type::Table, user_agent};

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
}

/// A config the engine refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
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
}

impl Engine {
    /// Validates the config and loads the event-type tables.
    pub fn new(config: Config) -> Result<Engine, ConfigError> {
        if config.tenant_id.trim().is_empty() {
            return Err(ConfigError {
                field: "tenant-id",
                message: "the tenant id is empty; set it to the Okta org, for example acme.okta.com".into(),
            });
        }
        if config.tenant_domain.as_deref().is_some_and(|d| d.trim().is_empty() || d.contains(char::is_whitespace)) {
            return Err(ConfigError {
                field: "tenant-domain",
                message: "the tenant domain must be a host name such as acme.okta.com, without spaces".into(),
            });
        }
        Ok(Engine { config, table: Table::builtin(), user_agents: user_agent::Cache::default() })
    }

    /// Normalizes every event in `input`: one outcome per event, in input order.
    pub fn normalize(&mut self, input: &[u8], options: &BatchOptions) -> Result<BatchResult, BatchError> {
        if let Some(result) = self.normalize_compact_page(input, options) {
            return Ok(result);
        }
        let decoded = decode::decode(input, options.format)?;
        let ctx = Context { config: &self.config, ingested: options.ingested.as_deref(), table: self.table };
        let mut outcomes = Vec::with_capacity(decoded.items.len());
        for (index, item) in decoded.items.iter().enumerate() {
            let outcome = match &item.body {
                decode::RawBody::Event(raw) => normalize::normalize_event(raw, &ctx, &mut self.user_agents),
                decode::RawBody::Broken { code, message, raw } => normalize::failed(code, message.clone(), raw, &ctx),
            };
            outcomes.push(LocatedOutcome { line: item.line, index: u32::try_from(index).unwrap_or(u32::MAX), outcome });
        }
        Ok(BatchResult { format: decoded.format, outcomes })
    }

    /// The common case, an API page on one line (as Okta sends it): parse the whole page once,
    /// typed, instead of splitting it into raw events first. Anything unusual (envelopes,
    /// non-objects, repeated keys, `preserve_original`, which needs each event's text) returns
    /// `None` and takes the general path, which gives the same outcomes.
    fn normalize_compact_page(&mut self, input: &[u8], options: &BatchOptions) -> Option<BatchResult> {
        if !matches!(options.format, InputFormat::Auto | InputFormat::ApiPage) || self.config.output.preserve_original {
            return None;
        }
        let text = std::str::from_utf8(input).ok()?;
        let body = text.trim();
        if !body.starts_with('[') || body.contains('\n') || decode::may_hold_envelopes(body) {
            return None;
        }
        let events: Vec<Field<LogEvent<'_>>> = serde_json::from_str(body).ok()?;
        let events: Vec<&LogEvent<'_>> = events.iter().map(Field::value).collect::<Option<_>>()?;
        let line = 1 + u32::try_from(text[..text.len() - text.trim_start().len()].matches('\n').count()).ok()?;
        let size = body.len() / events.len().max(1);
        let ctx = Context { config: &self.config, ingested: options.ingested.as_deref(), table: self.table };
        let outcomes = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| LocatedOutcome {
                line,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                outcome: normalize::normalize_parsed(event, size, &ctx, &mut self.user_agents),
            })
            .collect();
        Some(BatchResult { format: InputFormat::ApiPage, outcomes })
    }
}
