//! Conversions between the WIT types and the core's types. Nothing else.

use okta_normalizer_core as core;

use crate::exports::okta::normalizer::normalizer as wit;

pub(crate) fn config(c: wit::Config) -> core::Config {
    core::Config {
        tenant_id: c.tenant_id,
        tenant_domain: c.tenant_domain,
        output: core::OutputOptions {
            preserve_original: c.output.preserve_original,
            redact_secrets: c.output.redact_secrets,
        },
    }
}

pub(crate) fn config_error(e: core::ConfigError) -> wit::ConfigError {
    wit::ConfigError { field: e.field.to_owned(), message: e.message }
}

pub(crate) fn batch_options(o: wit::BatchOptions) -> core::BatchOptions {
    core::BatchOptions { format: format_in(o.format), ingested: o.ingested }
}

fn format_in(f: wit::InputFormat) -> core::InputFormat {
    match f {
        wit::InputFormat::Auto => core::InputFormat::Auto,
        wit::InputFormat::LogEvent => core::InputFormat::LogEvent,
        wit::InputFormat::ApiPage => core::InputFormat::ApiPage,
        wit::InputFormat::Ndjson => core::InputFormat::Ndjson,
        wit::InputFormat::EventHook => core::InputFormat::EventHook,
        wit::InputFormat::Eventbridge => core::InputFormat::Eventbridge,
    }
}

fn format_out(f: core::InputFormat) -> wit::InputFormat {
    match f {
        core::InputFormat::Auto => wit::InputFormat::Auto,
        core::InputFormat::LogEvent => wit::InputFormat::LogEvent,
        core::InputFormat::ApiPage => wit::InputFormat::ApiPage,
        core::InputFormat::Ndjson => wit::InputFormat::Ndjson,
        core::InputFormat::EventHook => wit::InputFormat::EventHook,
        core::InputFormat::Eventbridge => wit::InputFormat::Eventbridge,
    }
}

pub(crate) fn batch_result(r: core::BatchResult) -> wit::BatchResult {
    wit::BatchResult {
        format: format_out(r.format),
        outcomes: r
            .outcomes
            .into_iter()
            .map(|o| wit::LocatedOutcome { line: o.line, index: o.index, outcome: outcome(o.outcome) })
            .collect(),
    }
}

pub(crate) fn batch_error(e: core::BatchError) -> wit::BatchError {
    wit::BatchError { code: e.code.to_owned(), message: e.message }
}

fn outcome(o: core::Outcome) -> wit::Outcome {
    match o {
        core::Outcome::Normalized(n) => wit::Outcome::Normalized(wit::Normalized {
            uuid: n.uuid,
            published: n.published,
            published_ms: n.published_ms,
            document: n.document,
            diagnostics: n.diagnostics.into_iter().map(diagnostic).collect(),
        }),
        core::Outcome::Failed(e) => wit::Outcome::Failed(wit::EventError {
            code: e.code.to_owned(),
            message: e.message,
            raw: e.raw,
            document: e.document,
        }),
    }
}

fn diagnostic(d: core::Diagnostic) -> wit::Diagnostic {
    wit::Diagnostic { code: d.code.to_owned(), path: d.path, message: d.message }
}
