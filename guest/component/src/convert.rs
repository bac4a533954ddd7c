//! Conversions between the WIT types and the core's types. Nothing else.

use okta_normalizer_core as core;

use crate::exports::okta::normalizer::normalizer as wit;

/// The engine config, and the enrichment config the core takes separately.
pub(crate) fn config(c: wit::Config) -> (core::Config, core::EnrichmentConfig) {
    let enrichment = core::EnrichmentConfig {
        profile_fields: c.enrichment.profile_fields,
        custom_attributes: c.enrichment.custom_attributes,
    };
    let config = core::Config {
        tenant_id: c.tenant_id,
        tenant_domain: c.tenant_domain,
        output: core::OutputOptions {
            preserve_original: c.output.preserve_original,
            redact_secrets: c.output.redact_secrets,
        },
        detection: core::DetectionConfig {
            builtin_rules: c.detection.builtin_rules,
            rules: c.detection.rules.into_iter().map(rule_source_in).collect(),
            placeholders: c.detection.placeholders.into_iter().map(|p| (p.name, p.values)).collect(),
            reorder_tolerance_ms: c.detection.reorder_tolerance_ms,
        },
    };
    (config, enrichment)
}

pub(crate) fn rule_source_in(s: wit::RuleSource) -> core::RuleSource {
    core::RuleSource { name: s.name, text: s.text }
}

pub(crate) fn rule_source_out(s: core::RuleSource) -> wit::RuleSource {
    wit::RuleSource { name: s.name, text: s.text }
}

pub(crate) fn config_error(e: core::ConfigError) -> wit::ConfigError {
    wit::ConfigError {
        field: e.field.to_owned(),
        message: e.message,
        rule_errors: e.rule_errors.into_iter().map(rule_error).collect(),
    }
}

pub(crate) fn rule_error(e: core::RuleError) -> wit::RuleError {
    wit::RuleError {
        code: e.code.to_owned(),
        file: e.file,
        line: e.line,
        column: e.column,
        rule: e.rule,
        message: e.message,
    }
}

pub(crate) fn rule_info(r: core::RuleInfo) -> wit::RuleInfo {
    wit::RuleInfo {
        id: r.id,
        name: r.name,
        title: r.title,
        kind: r.kind,
        level: r.level,
        signal: r.signal,
        tactics: r.tactics,
        file: r.file,
        tests: r.tests,
    }
}

pub(crate) fn test_result(t: core::TestResult) -> wit::TestResult {
    wit::TestResult {
        file: t.file,
        rule: t.rule,
        test: t.test,
        lowercased: t.lowercased,
        passed: t.passed,
        message: t.message,
    }
}

fn alert(a: core::Alert) -> wit::Alert {
    wit::Alert {
        id: a.id,
        rule_id: a.rule_id,
        rule_name: a.rule_name,
        kind: match a.kind {
            core::AlertKind::Alert => wit::AlertKind::Alert,
            core::AlertKind::Signal => wit::AlertKind::Signal,
        },
        severity: a.severity,
        risk_score: a.risk_score,
        published_ms: a.published_ms,
        event_uuids: a.event_uuids,
        document: a.document,
    }
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
        alerts: r.alerts.into_iter().map(alert).collect(),
    }
}

pub(crate) fn state_changes(c: core::StateChanges) -> wit::StateChanges {
    wit::StateChanges {
        dropped_prefixes: c.dropped_prefixes,
        dropped: c.dropped,
        written: c.written.into_iter().map(|p| wit::StatePart { key: p.key, value: p.value }).collect(),
    }
}

pub(crate) fn state_part_in(p: wit::StatePart) -> core::StatePart {
    core::StatePart { key: p.key, value: p.value }
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

fn kind_in(k: wit::DirectoryKind) -> core::DirectoryKind {
    match k {
        wit::DirectoryKind::User => core::DirectoryKind::User,
        wit::DirectoryKind::Group => core::DirectoryKind::Group,
        wit::DirectoryKind::Device => core::DirectoryKind::Device,
        wit::DirectoryKind::UserSchema => core::DirectoryKind::UserSchema,
    }
}

fn kind_out(k: core::DirectoryKind) -> wit::DirectoryKind {
    match k {
        core::DirectoryKind::User => wit::DirectoryKind::User,
        core::DirectoryKind::Group => wit::DirectoryKind::Group,
        core::DirectoryKind::Device => wit::DirectoryKind::Device,
        core::DirectoryKind::UserSchema => wit::DirectoryKind::UserSchema,
    }
}

fn change_in(c: wit::DirectoryChange) -> core::DirectoryChange {
    match c {
        wit::DirectoryChange::Discovered => core::DirectoryChange::Discovered,
        wit::DirectoryChange::Modified => core::DirectoryChange::Modified,
        wit::DirectoryChange::Deprovisioned => core::DirectoryChange::Deprovisioned,
        wit::DirectoryChange::Deleted => core::DirectoryChange::Deleted,
    }
}

fn change_out(c: core::DirectoryChange) -> wit::DirectoryChange {
    match c {
        core::DirectoryChange::Discovered => wit::DirectoryChange::Discovered,
        core::DirectoryChange::Modified => wit::DirectoryChange::Modified,
        core::DirectoryChange::Deprovisioned => wit::DirectoryChange::Deprovisioned,
        core::DirectoryChange::Deleted => wit::DirectoryChange::Deleted,
    }
}

pub(crate) fn directory_update(u: wit::DirectoryUpdate) -> core::DirectoryUpdate {
    core::DirectoryUpdate {
        reset: u.reset,
        objects: u
            .objects
            .into_iter()
            .map(|o| core::DirectoryObject {
                kind: kind_in(o.kind),
                id: o.id,
                change: change_in(o.change),
                json: o.json,
            })
            .collect(),
        memberships: u
            .memberships
            .into_iter()
            .map(|m| core::GroupMembers { group_id: m.group_id, user_ids: m.user_ids })
            .collect(),
        roles: u.roles.into_iter().map(|r| core::UserRoles { user_id: r.user_id, json: r.json }).collect(),
        observed_ms: u.observed_ms,
    }
}

pub(crate) fn directory_result(r: core::DirectoryResult) -> wit::DirectoryResult {
    wit::DirectoryResult {
        entities: r
            .entities
            .into_iter()
            .map(|e| wit::Entity {
                kind: kind_out(e.kind),
                id: e.id,
                change: change_out(e.change),
                document: e.document,
            })
            .collect(),
        problems: r
            .problems
            .into_iter()
            .map(|p| wit::DirectoryProblem {
                kind: kind_out(p.kind),
                id: p.id,
                code: p.code.to_owned(),
                message: p.message,
            })
            .collect(),
        users: r.users,
        groups: r.groups,
        devices: r.devices,
    }
}
