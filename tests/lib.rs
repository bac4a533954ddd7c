//! Shared helpers for the end-to-end tests and the benchmark: fixtures, a shared component
//! runtime, and conversions that put native and component outcomes side by side.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use okta_normalizer_core as core;
use okta_normalizer_host::guest::{self as wit, Runtime, RuntimeOptions};

/// The ingest time every test batch uses, so outputs are reproducible.
pub const INGESTED: &str = "2026-11-21T00:00:00.000Z";
/// The tenant every test engine uses.
pub const TENANT: &str = "acme.okta.com";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// `tests/cases/<sub>`.
pub fn cases(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases").join(sub)
}

/// The golden inputs: `(name, bytes)` for every `tests/cases/normalize/*.json`, sorted by name.
pub fn golden_inputs() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(cases("normalize"))
        .expect("tests/cases/normalize exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().expect("a file name").to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).expect("readable fixture");
            (name, bytes)
        })
        .collect()
}

/// The config golden files are written with.
pub fn config() -> core::Config {
    core::Config {
        tenant_id: TENANT.into(),
        tenant_domain: Some(TENANT.into()),
        output: core::OutputOptions { preserve_original: false, redact_secrets: true },
        detection: core::DetectionConfig::default(),
    }
}

/// The same config in WIT types.
pub fn wit_config(c: &core::Config) -> wit::EngineConfig {
    wit::EngineConfig {
        tenant_id: c.tenant_id.clone(),
        tenant_domain: c.tenant_domain.clone(),
        output: wit::OutputOptions {
            preserve_original: c.output.preserve_original,
            redact_secrets: c.output.redact_secrets,
        },
        detection: wit::DetectionConfig {
            builtin_rules: c.detection.builtin_rules,
            rules: c
                .detection
                .rules
                .iter()
                .map(|r| wit::RuleSource { name: r.name.clone(), text: r.text.clone() })
                .collect(),
            placeholders: c
                .detection
                .placeholders
                .iter()
                .map(|(name, values)| wit::Placeholder { name: name.clone(), values: values.clone() })
                .collect(),
            reorder_tolerance_ms: c.detection.reorder_tolerance_ms,
        },
        enrichment: wit::EnrichmentConfig::defaults(),
    }
}

/// Batch options for the core.
pub fn batch(format: core::InputFormat) -> core::BatchOptions {
    core::BatchOptions { format, ingested: Some(INGESTED.into()) }
}

/// The same batch options in WIT types.
pub fn wit_batch(format: core::InputFormat) -> wit::BatchOptions {
    wit::BatchOptions { format: wit_format(format), ingested: Some(INGESTED.into()) }
}

pub fn wit_format(f: core::InputFormat) -> wit::InputFormat {
    match f {
        core::InputFormat::Auto => wit::InputFormat::Auto,
        core::InputFormat::LogEvent => wit::InputFormat::LogEvent,
        core::InputFormat::ApiPage => wit::InputFormat::ApiPage,
        core::InputFormat::Ndjson => wit::InputFormat::Ndjson,
        core::InputFormat::EventHook => wit::InputFormat::EventHook,
        core::InputFormat::Eventbridge => wit::InputFormat::Eventbridge,
    }
}

/// One process-wide runtime: compiling the component is the slow part, so do it once
/// (and cache compiled code under `target/`, so later test runs skip it).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cache_dir = root().join("target").join("wasmtime-cache");
        Runtime::new(&RuntimeOptions { component: None, cache_dir: Some(cache_dir) })
            .expect("the embedded component loads")
    })
}

/// One outcome with every field, in types both sides can produce. Native and component results
/// must flatten to equal lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flat {
    Format(String),
    Normalized {
        at: (u32, u32),
        uuid: Option<String>,
        published: Option<String>,
        ms: Option<i64>,
        document: String,
        diagnostics: Vec<[String; 3]>,
    },
    Failed {
        at: (u32, u32),
        code: String,
        message: String,
        raw: String,
        document: String,
    },
    Alert {
        id: String,
        rule: (String, String),
        signal: bool,
        severity: String,
        risk: u8,
        ms: i64,
        uuids: Vec<String>,
        document: String,
    },
}

/// Flattens the core's result.
pub fn flatten_core(r: &core::BatchResult) -> Vec<Flat> {
    let mut out = vec![Flat::Format(format!("{:?}", r.format))];
    out.extend(r.outcomes.iter().map(|o| match &o.outcome {
        core::Outcome::Normalized(n) => Flat::Normalized {
            at: (o.line, o.index),
            uuid: n.uuid.clone(),
            published: n.published.clone(),
            ms: n.published_ms,
            document: n.document.clone(),
            diagnostics: n.diagnostics.iter().map(|d| [d.code.to_owned(), d.path.clone(), d.message.clone()]).collect(),
        },
        core::Outcome::Failed(e) => Flat::Failed {
            at: (o.line, o.index),
            code: e.code.to_owned(),
            message: e.message.clone(),
            raw: e.raw.clone(),
            document: e.document.clone(),
        },
    }));
    out.extend(r.alerts.iter().map(|a| Flat::Alert {
        id: a.id.clone(),
        rule: (a.rule_id.clone(), a.rule_name.clone()),
        signal: a.kind == core::AlertKind::Signal,
        severity: a.severity.clone(),
        risk: a.risk_score,
        ms: a.published_ms,
        uuids: a.event_uuids.clone(),
        document: a.document.clone(),
    }));
    out
}

/// Flattens the component's result.
pub fn flatten_wit(r: &wit::BatchResult) -> Vec<Flat> {
    let mut out = vec![Flat::Format(format!("{:?}", core_format(r.format)))];
    out.extend(r.outcomes.iter().map(|o| match &o.outcome {
        wit::Outcome::Normalized(n) => Flat::Normalized {
            at: (o.line, o.index),
            uuid: n.uuid.clone(),
            published: n.published.clone(),
            ms: n.published_ms,
            document: n.document.clone(),
            diagnostics: n.diagnostics.iter().map(|d| [d.code.clone(), d.path.clone(), d.message.clone()]).collect(),
        },
        wit::Outcome::Failed(e) => Flat::Failed {
            at: (o.line, o.index),
            code: e.code.clone(),
            message: e.message.clone(),
            raw: e.raw.clone(),
            document: e.document.clone(),
        },
    }));
    out.extend(r.alerts.iter().map(|a| Flat::Alert {
        id: a.id.clone(),
        rule: (a.rule_id.clone(), a.rule_name.clone()),
        signal: a.kind == wit::AlertKind::Signal,
        severity: a.severity.clone(),
        risk: a.risk_score,
        ms: a.published_ms,
        uuids: a.event_uuids.clone(),
        document: a.document.clone(),
    }));
    out
}

fn core_format(f: wit::InputFormat) -> core::InputFormat {
    match f {
        wit::InputFormat::Auto => core::InputFormat::Auto,
        wit::InputFormat::LogEvent => core::InputFormat::LogEvent,
        wit::InputFormat::ApiPage => core::InputFormat::ApiPage,
        wit::InputFormat::Ndjson => core::InputFormat::Ndjson,
        wit::InputFormat::EventHook => core::InputFormat::EventHook,
        wit::InputFormat::Eventbridge => core::InputFormat::Eventbridge,
    }
}

/// Wraps LogEvent texts in each of the five input shapes. Returns `(format, bytes)` pairs.
pub fn shapes(events: &[&str]) -> Vec<(core::InputFormat, Vec<u8>)> {
    let compact: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(e).map(|v| v.to_string()).unwrap_or_else(|_| (*e).to_owned())
        })
        .collect();
    let page = format!("[{}]", compact.join(","));
    let ndjson = compact.join("\n") + "\n";
    let hook = format!(
        r#"{{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://acme.okta.com/api/v1/eventHooks/who7hphp39JoHLni81d7","eventId":"85b60edb-4263-4e13-993b-818e26201052","eventTime":"2026-11-20T17:03:37.093Z","contentType":"application/json","data":{{"events":{page}}}}}"#
    );
    let bridge_lines: Vec<String> = compact
        .iter()
        .map(|e| {
            format!(
                r#"{{"version":"0","id":"4ab6d852-09e9-1036-fc04-2e22004b3c3f","detail-type":"SystemLog","source":"aws.partner/okta.com/acme/okta-logs","account":"999999999999","time":"2026-11-20T14:17:58Z","region":"us-east-1","resources":[],"detail":{e}}}"#
            )
        })
        .collect();
    let mut out = vec![
        (core::InputFormat::ApiPage, page.into_bytes()),
        (core::InputFormat::Ndjson, ndjson.into_bytes()),
        (core::InputFormat::EventHook, hook.into_bytes()),
        (core::InputFormat::Ndjson, (bridge_lines.join("\n") + "\n").into_bytes()),
    ];
    if let Some(first) = bridge_lines.first() {
        out.push((core::InputFormat::Eventbridge, first.clone().into_bytes()));
    }
    if let Some(first) = events.first() {
        out.push((core::InputFormat::LogEvent, first.as_bytes().to_vec()));
    }
    out
}
