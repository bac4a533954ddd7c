//! Conversions between JSON text (what crosses into JavaScript) and the core's types. Nothing
//! else.

use okta_normalizer_core as core;
use serde_json::{Value, json};

/// The page's options → the engine config.
pub(crate) fn config(options: &str) -> Result<core::Config, String> {
    let o: Value = serde_json::from_str(options).map_err(|e| format!("the options are not JSON: {e}"))?;
    let text = |key: &str| o.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let flag = |key: &str, default: bool| o.get(key).and_then(Value::as_bool).unwrap_or(default);
    let mut rules = Vec::new();
    for (i, r) in o.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let field = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(text) = field("text") else {
            return Err(format!("rules[{i}] has no text"));
        };
        rules.push(core::RuleSource { name: field("name").unwrap_or_else(|| format!("rule-{}.yml", i + 1)), text });
    }
    Ok(core::Config {
        tenant_id: text("tenant").unwrap_or_else(|| "default".to_owned()),
        tenant_domain: text("tenantDomain"),
        output: core::OutputOptions {
            preserve_original: flag("preserveOriginal", false),
            redact_secrets: !flag("keepSecrets", false),
        },
        detection: core::DetectionConfig {
            builtin_rules: flag("builtinRules", true),
            rules,
            ..core::DetectionConfig::default()
        },
    })
}

pub(crate) fn config_error(e: &core::ConfigError) -> String {
    json!({"field": e.field, "message": e.message, "ruleErrors": e.rule_errors.iter().map(rule_error).collect::<Vec<_>>()})
        .to_string()
}

fn rule_error(e: &core::RuleError) -> Value {
    json!({"code": e.code, "file": e.file, "line": e.line, "column": e.column, "rule": e.rule, "message": e.message})
}

pub(crate) fn rule_errors(errors: &[core::RuleError]) -> String {
    Value::Array(errors.iter().map(rule_error).collect()).to_string()
}

pub(crate) fn batch_error(e: &core::BatchError) -> String {
    json!({"error": {"code": e.code, "message": e.message}}).to_string()
}

fn format_name(f: core::InputFormat) -> &'static str {
    core::InputFormat::NAMES.iter().find(|(_, g)| *g == f).map_or("auto", |(n, _)| n)
}

pub(crate) fn batch_result(r: &core::BatchResult) -> String {
    let outcomes: Vec<Value> = r
        .outcomes
        .iter()
        .map(|o| match &o.outcome {
            core::Outcome::Normalized(n) => json!({
                "line": o.line,
                "index": o.index,
                "ok": true,
                "uuid": n.uuid,
                "document": n.document,
                "diagnostics": n.diagnostics.iter()
                    .map(|d| json!({"code": d.code, "path": d.path, "message": d.message}))
                    .collect::<Vec<_>>(),
            }),
            core::Outcome::Failed(e) => json!({
                "line": o.line,
                "index": o.index,
                "ok": false,
                "code": e.code,
                "message": e.message,
                "document": e.document,
            }),
        })
        .collect();
    let alerts: Vec<Value> = r
        .alerts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "ruleId": a.rule_id,
                "ruleName": a.rule_name,
                "kind": match a.kind { core::AlertKind::Alert => "alert", core::AlertKind::Signal => "signal" },
                "severity": a.severity,
                "riskScore": a.risk_score,
                "eventUuids": a.event_uuids,
                "document": a.document,
            })
        })
        .collect();
    json!({"format": format_name(r.format), "outcomes": outcomes, "alerts": alerts}).to_string()
}

pub(crate) fn insight(i: &core::Insight) -> String {
    let fields: Vec<Value> = i
        .fields
        .iter()
        .map(|f| {
            json!({"field": f.field, "value": f.value, "origin": f.origin.as_str(), "source": f.source, "note": f.note})
        })
        .collect();
    let matches: Vec<Value> = i
        .matches
        .iter()
        .map(|m| {
            json!({
                "ruleId": m.rule_id,
                "ruleName": m.rule_name,
                "title": m.title,
                "level": m.level,
                "signal": m.signal,
                "tactics": m.tactics,
                "techniques": m.techniques,
                "fields": m.fields.iter()
                    .map(|f| json!({"search": f.search, "field": f.field, "values": f.values}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"index": i.index, "fields": fields, "matches": matches}).to_string()
}

pub(crate) fn rule_infos(infos: &[core::RuleInfo]) -> String {
    Value::Array(
        infos
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "name": r.name, "title": r.title, "kind": r.kind, "level": r.level,
                    "signal": r.signal, "tactics": r.tactics, "file": r.file, "tests": r.tests,
                })
            })
            .collect(),
    )
    .to_string()
}
