//! Normalize: one LogEvent → one ECS document plus diagnostics.
//!
//! This is a total function over JSON objects: every object gives a document. Wrong types, bad IP
//! addresses, unreadable timestamps and unknown event types become diagnostics, never failures.
//! Only text that is not a JSON object at all fails (see [`normalize_event`]).

pub mod debug_data;
pub mod ecs;
pub mod event_type;
pub mod json;
pub mod provenance;
pub mod user_agent;

use std::borrow::Cow;
use std::fmt::Display;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::decode::event::{GeographicalContext, LogEvent, Str};
use crate::decode::lenient::{Field, Lenient};
use crate::diag::{Diagnostic, Diagnostics};
use crate::{Config, EventError, Normalized, Outcome};
use ecs::{Document, Geo, Location};
use event_type::{Match, Table};
use json::{Empty, WriteJson};

/// The ECS version our documents follow (Elastic's Okta integration uses the same).
pub const ECS_VERSION: &str = "8.11.0";

/// What every event in a batch shares.
#[derive(Debug)]
pub struct Context<'c> {
    pub config: &'c Config,
    /// When the host received the batch (RFC 3339), if it said.
    pub ingested: Option<&'c str>,
    pub table: &'static Table,
    /// The directory to enrich events with, when one is loaded.
    pub directory: Option<crate::directory::Enricher<'c>>,
}

/// Normalizes the raw JSON text of one event.
///
/// Fails only when the text is not a JSON object; the error keeps the raw text and comes with an
/// ECS error document so the failure reaches the sink instead of vanishing.
pub fn normalize_event(raw: &str, ctx: &Context<'_>, ua: &mut user_agent::Cache) -> Outcome {
    normalize_event_then(raw, ctx, ua, |_, _, _| ())
}

/// [`normalize_event`], also handing the typed event, the outcome and the typed document to
/// `then` while they are alive (detection reads them there instead of parsing the texts again).
/// `then` is not called when the text was not a LogEvent.
pub(crate) fn normalize_event_then(
    raw: &str,
    ctx: &Context<'_>,
    ua: &mut user_agent::Cache,
    then: impl FnOnce(&LogEvent<'_>, &Outcome, &Document<'_>),
) -> Outcome {
    let first = raw.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(raw) {
            return failed("D001", invalid_json(&err), raw, ctx);
        }
        let found = match first {
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            _ => "a number",
        };
        return failed("D002", format!("expected a JSON object (an Okta LogEvent) but found {found}"), raw, ctx);
    }
    let mut diags = Diagnostics::default();
    match serde_json::from_str::<LogEvent<'_>>(raw) {
        Ok(event) => build(&event, raw, raw.len(), ctx, ua, diags, |o, d| then(&event, o, d)),
        Err(err) if err.is_syntax() || err.is_eof() => failed("D001", invalid_json(&err), raw, ctx),
        Err(err) => {
            // The lenient model only rejects structural oddities such as a key given twice.
            // Re-read through a JSON tree (last key wins) and say so.
            let Ok(tree) = serde_json::from_str::<Value>(raw) else {
                return failed("D001", invalid_json(&err), raw, ctx);
            };
            diags.push(Diagnostic::new(
                "N011",
                "",
                format!("the event is unusual JSON ({err}); read with the last value of each repeated key"),
            ));
            match LogEvent::deserialize(&tree) {
                Ok(event) => build(&event, raw, raw.len(), ctx, ua, diags, |o, d| then(&event, o, d)),
                Err(err) => failed("D003", format!("the event could not be read: {err}"), raw, ctx),
            }
        }
    }
}

/// Normalizes an event that is already parsed (the compact-page fast path). `size` is about how
/// many bytes of JSON it came from, to size the output buffer. Not for `preserve_original`, which
/// needs the raw text: use [`normalize_event`].
pub fn normalize_parsed(event: &LogEvent<'_>, size: usize, ctx: &Context<'_>, ua: &mut user_agent::Cache) -> Outcome {
    normalize_parsed_then(event, size, ctx, ua, |_, _| ())
}

/// [`normalize_event_then`] for an event already read (from a tree of `raw`, which detection
/// walks too), handing the outcome and the typed document to `then` while it is alive.
pub(crate) fn normalize_read_then(
    event: &LogEvent<'_>,
    raw: &str,
    ctx: &Context<'_>,
    ua: &mut user_agent::Cache,
    then: impl FnOnce(&Outcome, &Document<'_>),
) -> Outcome {
    build(event, raw, raw.len(), ctx, ua, Diagnostics::default(), then)
}

/// [`normalize_parsed`], handing the outcome and the typed document to `then` while it is alive.
pub(crate) fn normalize_parsed_then(
    event: &LogEvent<'_>,
    size: usize,
    ctx: &Context<'_>,
    ua: &mut user_agent::Cache,
    then: impl FnOnce(&Outcome, &Document<'_>),
) -> Outcome {
    debug_assert!(!ctx.config.output.preserve_original, "event.original needs the raw text");
    build(event, "", size, ctx, ua, Diagnostics::default(), then)
}

fn invalid_json(err: &serde_json::Error) -> String {
    let what = err.to_string();
    let what = what.split(" at line ").next().unwrap_or(&what).to_owned();
    format!("invalid JSON at line {} column {}: {what}", err.line(), err.column())
}

/// Builds the error outcome, with its ECS error document.
pub fn failed(code: &'static str, message: String, raw: &str, ctx: &Context<'_>) -> Outcome {
    let mut doc = serde_json::json!({
        "ecs": {"version": ECS_VERSION},
        "error": {"code": code, "message": message, "type": error_type(code)},
        "event": {"dataset": "okta.system", "kind": "pipeline_error", "module": "okta", "original": raw},
        "organization": {"id": ctx.config.tenant_id},
        "tags": ["preserve_original_event"],
    });
    if let Some(ingested) = ctx.ingested {
        doc["@timestamp"] = ingested.into();
        doc["event"]["ingested"] = ingested.into();
    }
    if let Some(domain) = &ctx.config.tenant_domain {
        doc["host"] = serde_json::json!({ "name": domain });
    }
    Outcome::Failed(EventError { code, message, raw: raw.to_owned(), document: doc.to_string() })
}

fn error_type(code: &str) -> &'static str {
    match code {
        "D001" => "invalid_json",
        "D002" => "not_an_object",
        "D004" => "invalid_utf8",
        _ => "unreadable_event",
    }
}

/// Reads lenient fields into output values, reporting wrong types.
struct Reader<'d> {
    diags: &'d mut Diagnostics,
}

impl Reader<'_> {
    /// The field's value if it has the expected type; a diagnostic if it has another.
    fn get<'f, 'de, T: Lenient<'de>>(&mut self, field: &'f Field<T>, path: impl Display) -> Option<&'f T> {
        match field {
            Field::Value(v) => Some(v),
            Field::Invalid(kind) => {
                self.diags.push(Diagnostic::new(
                    "N006",
                    path.to_string(),
                    format!("expected {} but found {}; the field was ignored", T::EXPECTED, kind.describe()),
                ));
                None
            }
            Field::Absent | Field::Null => None,
        }
    }

    /// A non-empty string field, borrowed.
    fn str<'f>(&mut self, field: &'f Str<'_>, path: impl Display) -> Option<Cow<'f, str>> {
        self.get(field, path).map(|s| s.as_ref()).filter(|s| !s.is_empty()).map(Cow::Borrowed)
    }
}

fn build<'e>(
    event: &'e LogEvent<'_>,
    raw: &'e str,
    size: usize,
    ctx: &'e Context<'_>,
    ua_cache: &'e mut user_agent::Cache,
    mut diags: Diagnostics,
    then: impl FnOnce(&Outcome, &Document<'_>),
) -> Outcome {
    let mut r = Reader { diags: &mut diags };
    let mut doc: Document<'e> = Document::default();
    let config = ctx.config;

    doc.ecs.version = Some(ECS_VERSION);
    doc.event.dataset = Some("okta.system");
    doc.event.module = Some("okta");
    doc.organization.id = Some(Cow::Borrowed(&config.tenant_id));
    doc.host.name = config.tenant_domain.as_deref().map(Cow::Borrowed);
    doc.event.ingested = ctx.ingested.map(Cow::Borrowed);

    // Identity and time.
    let uuid = r.str(&event.uuid, "uuid");
    if uuid.is_none() {
        r.diags.push(Diagnostic::new("N001", "uuid", "the event has no uuid, so it cannot be deduplicated"));
    }
    doc.event.id.clone_from(&uuid);
    doc.okta.uuid.clone_from(&uuid);

    let published = r.str(&event.published, "published");
    let published_ms = match &published {
        Some(p) => match p.parse::<jiff::Timestamp>() {
            Ok(ts) => {
                doc.timestamp = Some(p.clone());
                Some(ts.as_millisecond())
            }
            Err(_) => {
                r.diags.push(Diagnostic::new(
                    "N003",
                    "published",
                    format!("'{p}' is not an RFC 3339 time; @timestamp is the ingest time instead"),
                ));
                None
            }
        },
        None => {
            r.diags.push(Diagnostic::new(
                "N002",
                "published",
                "the event has no published time; @timestamp is the ingest time instead",
            ));
            None
        }
    };
    if doc.timestamp.is_none() {
        doc.timestamp = ctx.ingested.map(Cow::Borrowed);
    }

    // Event type and its categorization.
    let event_type = r.str(&event.event_type, "eventType");
    let classified = match &event_type {
        Some(t) => {
            let m = ctx.table.classify(t);
            if let Match::Prefix(prefix, _) = m {
                r.diags.push(Diagnostic::new(
                    "N005",
                    "eventType",
                    format!("'{t}' is not in Okta's event-type catalog; categorized by the prefix rule '{prefix}'"),
                ));
            }
            Some(m.category())
        }
        None => {
            r.diags.push(Diagnostic::new(
                "N004",
                "eventType",
                "the event has no eventType, so it cannot be categorized",
            ));
            None
        }
    };
    doc.event.kind = Some(classified.map_or("event", |c| c.kind));
    if let Some(c) = classified {
        doc.event.category = &c.categories;
        doc.event.kind_type = &c.types;
    }
    doc.event.action.clone_from(&event_type);
    doc.okta.event_type = event_type;

    doc.okta.version = r.str(&event.version, "version");
    doc.okta.severity = r.str(&event.severity, "severity");
    doc.log.level = doc.okta.severity.as_deref().and_then(log_level);
    doc.okta.legacy_event_type = r.str(&event.legacy_event_type, "legacyEventType");
    doc.okta.display_message = r.str(&event.display_message, "displayMessage");

    // Actor: the user (or app) who did it.
    if let Some(actor) = r.get(&event.actor, "actor") {
        let id = r.str(&actor.id, "actor.id");
        let alternate_id = r.str(&actor.alternate_id, "actor.alternateId");
        let display_name = r.str(&actor.display_name, "actor.displayName");
        let email = alternate_id.clone().filter(|a| is_email(a));
        for user in [&mut doc.client.user, &mut doc.source.user] {
            user.id.clone_from(&id);
            user.name.clone_from(&alternate_id);
            user.full_name.clone_from(&display_name);
            user.email.clone_from(&email);
        }
        doc.user.id.clone_from(&id);
        doc.user.name.clone_from(&alternate_id);
        doc.user.full_name.clone_from(&display_name);
        doc.user.email = email;
        doc.okta.actor.id = id;
        doc.okta.actor.alternate_id = alternate_id;
        doc.okta.actor.display_name = display_name;
        doc.okta.actor.kind = r.str(&actor.kind, "actor.type");
        doc.okta.actor.detail_entry = r.get(&actor.detail_entry, "actor.detailEntry").and_then(prune);
    }

    // Client: where the request came from.
    if let Some(client) = r.get(&event.client, "client") {
        if let Some(ip) = r.str(&client.ip_address, "client.ipAddress") {
            if ip.parse::<IpAddr>().is_ok() {
                doc.client.ip = Some(ip.clone());
                doc.source.ip = Some(ip.clone());
                doc.okta.client.ip = Some(ip);
            } else {
                r.diags.push(Diagnostic::new(
                    "N007",
                    "client.ipAddress",
                    format!("'{ip}' is not an IP address; client.ip and source.ip are left unset"),
                ));
            }
        }
        if let Some(geo) = r.get(&client.geographical_context, "client.geographicalContext") {
            doc.client.geo = ecs_geo(&mut r, geo, "client.geographicalContext");
            doc.source.geo = doc.client.geo.clone();
        }
        if let Some(agent) = r.get(&client.user_agent, "client.userAgent") {
            let raw_ua = r.str(&agent.raw_user_agent, "client.userAgent.rawUserAgent");
            if let Some(raw_ua) = raw_ua.as_deref().filter(|u| !u.eq_ignore_ascii_case("unknown")) {
                let p = ua_cache.parse(raw_ua);
                doc.user_agent.name = p.name.as_deref().map(Cow::Borrowed);
                doc.user_agent.version = p.version.as_deref().map(Cow::Borrowed);
                doc.user_agent.os.name = p.os_name.as_deref().map(Cow::Borrowed);
                doc.user_agent.os.version = p.os_version.as_deref().map(Cow::Borrowed);
                doc.user_agent.os.full = p.os_full.as_deref().map(Cow::Borrowed);
                doc.user_agent.device.name = p.device_name.as_deref().map(Cow::Borrowed);
            }
            doc.user_agent.original.clone_from(&raw_ua);
            doc.okta.client.user_agent.raw_user_agent = raw_ua;
            doc.okta.client.user_agent.browser = r.str(&agent.browser, "client.userAgent.browser");
            doc.okta.client.user_agent.os = r.str(&agent.os, "client.userAgent.os");
        }
        doc.okta.client.zone = r.str(&client.zone, "client.zone");
        doc.okta.client.device = r.str(&client.device, "client.device");
        doc.okta.client.id = r.str(&client.id, "client.id");
    }

    // The OIE device object: keys are already snake_case.
    if let Some(device) = r.get(&event.device, "device") {
        let mut device = prune_map(device);
        if let Some(Value::String(integrator)) = device.get("device_integrator") {
            match serde_json::from_str::<Value>(integrator) {
                Ok(parsed @ Value::Object(_)) => match prune(&parsed) {
                    Some(parsed) => {
                        device.insert("device_integrator".into(), parsed);
                    }
                    None => {
                        device.remove("device_integrator");
                    }
                },
                _ => r.diags.push(Diagnostic::new(
                    "N008",
                    "device.device_integrator",
                    "could not parse the value as a JSON object; it is kept as text",
                )),
            }
        }
        doc.device.id = device.get("id").and_then(Value::as_str).map(|s| Cow::Owned(s.to_owned()));
        doc.okta.device = device;
    }

    // Authentication context.
    if let Some(ac) = r.get(&event.authentication_context, "authenticationContext") {
        let out = &mut doc.okta.authentication_context;
        out.authentication_provider =
            r.str(&ac.authentication_provider, "authenticationContext.authenticationProvider");
        out.credential_provider = r.str(&ac.credential_provider, "authenticationContext.credentialProvider");
        out.credential_type = r.str(&ac.credential_type, "authenticationContext.credentialType");
        out.external_session_id = r.str(&ac.external_session_id, "authenticationContext.externalSessionId");
        out.interface = r.str(&ac.interface, "authenticationContext.interface");
        out.authentication_step = r.get(&ac.authentication_step, "authenticationContext.authenticationStep").copied();
        out.root_session_id = r.str(&ac.root_session_id, "authenticationContext.rootSessionId");
        if let Some(issuer) = r.get(&ac.issuer, "authenticationContext.issuer") {
            out.issuer.id = r.str(&issuer.id, "authenticationContext.issuer.id");
            out.issuer.kind = r.str(&issuer.kind, "authenticationContext.issuer.type");
        }
    }

    // Security context: the network the request came from.
    if let Some(sc) = r.get(&event.security_context, "securityContext") {
        let number = r.get(&sc.as_number, "securityContext.asNumber").copied();
        let org = r.str(&sc.as_org, "securityContext.asOrg");
        let domain = r.str(&sc.domain, "securityContext.domain");
        for endpoint in [&mut doc.client, &mut doc.source] {
            endpoint.autonomous_system.number = number;
            endpoint.autonomous_system.organization.name.clone_from(&org);
            endpoint.domain.clone_from(&domain);
        }
        let out = &mut doc.okta.security_context;
        out.autonomous_system.number = number;
        out.autonomous_system.organization.name = org;
        out.domain.clone_from(&domain);
        out.isp = r.str(&sc.isp, "securityContext.isp");
        out.is_proxy = r.get(&sc.is_proxy, "securityContext.isProxy").copied();
        out.ip_details = r.get(&sc.ip_details, "securityContext.ipDetails").and_then(prune_snake);
        out.risk = r.get(&sc.risk, "securityContext.risk").and_then(prune_snake);
        out.user_behaviors = r.get(&sc.user_behaviors, "securityContext.userBehaviors").and_then(prune_snake);
        out.bot_protection = r.get(&sc.bot_protection, "securityContext.botProtection").and_then(prune_snake);
        if let Some(d) = domain {
            doc.related.hosts.push(d);
        }
    }

    // Debug data, with secrets redacted.
    let mut secrets = Vec::new();
    if let Some(dc) = r.get(&event.debug_context, "debugContext")
        && let Some(data) = r.get(&dc.debug_data, "debugContext.debugData")
    {
        let (debug, found) = debug_data::map(data, config.output.redact_secrets, r.diags);
        doc.okta.debug_context.debug_data = debug;
        secrets = found;
    }

    // Outcome.
    if let Some(outcome) = r.get(&event.outcome, "outcome") {
        let result = r.str(&outcome.result, "outcome.result");
        doc.event.outcome = Some(match result.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("SUCCESS" | "ALLOW") => "success",
            Some("FAILURE" | "DENY") => "failure",
            _ => "unknown",
        });
        doc.okta.outcome.result = result;
        doc.okta.outcome.reason = r.str(&outcome.reason, "outcome.reason");
    } else {
        doc.event.outcome = Some("unknown");
    }

    // Targets: kept whole, and the first user, group, app and device lifted into ECS.
    if let Some(targets) = r.get(&event.target, "target") {
        doc.okta.target.reserve_exact(targets.len());
        for (i, target) in targets.iter().enumerate() {
            let Some(t) = r.get(target, At("target", i, "")) else {
                continue;
            };
            let mut out = ecs::OktaTarget {
                id: r.str(&t.id, At("target", i, ".id")),
                kind: r.str(&t.kind, At("target", i, ".type")),
                alternate_id: r.str(&t.alternate_id, At("target", i, ".alternateId")),
                display_name: r.str(&t.display_name, At("target", i, ".displayName")),
                detail_entry: r.get(&t.detail_entry, At("target", i, ".detailEntry")).and_then(prune),
                ..Default::default()
            };
            if let Some(cd) = r.get(&t.change_details, At("target", i, ".changeDetails")) {
                out.change_details.from = change_side(&mut r, &cd.from, At("target", i, ".changeDetails.from"));
                out.change_details.to = change_side(&mut r, &cd.to, At("target", i, ".changeDetails.to"));
            }
            lift_target(&mut doc, &out, &mut r, i);
            if !Empty::is_empty(&out) {
                doc.okta.target.push(out);
            }
        }
    }

    // Transaction.
    if let Some(tx) = r.get(&event.transaction, "transaction") {
        doc.okta.transaction.id = r.str(&tx.id, "transaction.id");
        doc.okta.transaction.kind = r.str(&tx.kind, "transaction.type");
        if let Some(detail) = r.get(&tx.detail, "transaction.detail") {
            doc.okta.transaction.detail.request_api_token_id =
                r.str(&detail.request_api_token_id, "transaction.detail.requestApiTokenId");
            doc.okta.transaction.detail.root_api_token_id =
                r.str(&detail.root_api_token_id, "transaction.detail.rootApiTokenId");
        }
    }

    // Request: the chain of IP addresses the request passed through.
    if let Some(request) = r.get(&event.request, "request")
        && let Some(chain) = r.get(&request.ip_chain, "request.ipChain")
    {
        doc.okta.request.ip_chain.reserve_exact(chain.len());
        for (i, entry) in chain.iter().enumerate() {
            let Some(e) = r.get(entry, At("request.ipChain", i, "")) else {
                continue;
            };
            let ip = r.str(&e.ip, At("request.ipChain", i, ".ip"));
            if let Some(ip) = &ip {
                if ip.parse::<IpAddr>().is_err() {
                    r.diags.push(Diagnostic::new(
                        "N007",
                        At("request.ipChain", i, ".ip").to_string(),
                        format!("'{ip}' is not an IP address; it is not added to related.ip"),
                    ));
                } else if !doc.related.ip.contains(ip) {
                    doc.related.ip.push(ip.clone());
                }
            }
            let mut geo = ecs::GeographicalContext::default();
            if let Some(g) = r.get(&e.geographical_context, At("request.ipChain", i, ".geographicalContext")) {
                let e_geo = ecs_geo(&mut r, g, "request.ipChain.geographicalContext");
                geo = ecs::GeographicalContext {
                    city: e_geo.city_name,
                    state: e_geo.region_name,
                    country: e_geo.country_name,
                    postal_code: e_geo.postal_code,
                    geolocation: e_geo.location,
                };
            }
            let entry = ecs::IpChainEntry {
                ip,
                geographical_context: geo,
                version: r.str(&e.version, At("request.ipChain", i, ".version")),
                source: r.str(&e.source, At("request.ipChain", i, ".source")),
                ip_details: r.get(&e.ip_details, At("request.ipChain", i, ".ipDetails")).and_then(prune_snake),
            };
            if !Empty::is_empty(&entry) {
                doc.okta.request.ip_chain.push(entry);
            }
        }
    }

    // What the directory knows about the actor, the User targets and the device.
    if let Some(enricher) = &ctx.directory {
        enricher.enrich(&mut doc);
    }

    // related.*: the values an analyst pivots on.
    if let Some(ip) = &doc.source.ip {
        if let Some(pos) = doc.related.ip.iter().position(|x| x == ip) {
            doc.related.ip.remove(pos);
        }
        doc.related.ip.insert(0, ip.clone());
    }
    for name in [&doc.okta.actor.display_name, &doc.user.target.full_name, &doc.user.name, &doc.user.target.name]
        .into_iter()
        .flatten()
    {
        if !doc.related.user.contains(name) {
            doc.related.user.push(name.clone());
        }
    }

    // event.original, scrubbed of any secret we redacted above.
    if config.output.preserve_original {
        doc.event.original = Some(scrub(raw, &secrets));
    }

    // Documents are about the size of their input; one right-sized allocation, no copy.
    let mut out = Vec::with_capacity(size * 2);
    doc.write_json(&mut out);
    let document = String::from_utf8(out).expect("the writer writes UTF-8");
    let outcome = Outcome::Normalized(Normalized {
        uuid: uuid.map(Cow::into_owned),
        published: published.map(Cow::into_owned),
        published_ms,
        document,
        diagnostics: diags.into_vec(),
    });
    then(&outcome, &doc);
    outcome
}

/// A path inside an array, formatted only when a diagnostic needs it.
#[derive(Clone, Copy)]
struct At(&'static str, usize, &'static str);

impl Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]{}", self.0, self.1, self.2)
    }
}

/// Lifts the first User, UserGroup, AppInstance and device target into ECS fields.
fn lift_target<'a>(doc: &mut Document<'a>, t: &ecs::OktaTarget<'a>, r: &mut Reader<'_>, i: usize) {
    let Some(kind) = t.kind.as_deref() else {
        r.diags.push(Diagnostic::new(
            "N009",
            At("target", i, ".type").to_string(),
            "the target has no type; it is kept in okta.target only",
        ));
        return;
    };
    if kind.eq_ignore_ascii_case("User") && doc.user.target.id.is_none() && doc.user.target.name.is_none() {
        doc.user.target.id.clone_from(&t.id);
        doc.user.target.full_name.clone_from(&t.display_name);
        doc.user.target.name.clone_from(&t.alternate_id);
        doc.user.target.email = t.alternate_id.clone().filter(|a| is_email(a));
    } else if kind.eq_ignore_ascii_case("UserGroup") && doc.user.target.group.id.is_none() {
        doc.user.target.group.id.clone_from(&t.id);
        doc.user.target.group.name.clone_from(&t.display_name);
    } else if kind.eq_ignore_ascii_case("AppInstance") && doc.okta.app.id.is_none() {
        doc.okta.app.id.clone_from(&t.id);
        doc.okta.app.name.clone_from(&t.alternate_id);
        doc.okta.app.display_name.clone_from(&t.display_name);
    } else if (kind.eq_ignore_ascii_case("UDDevice") || kind.eq_ignore_ascii_case("Device")) && doc.device.id.is_none()
    {
        doc.device.id.clone_from(&t.id);
    }
}

/// Okta's geographicalContext → ECS geo. Coordinates are kept only when both are in range.
fn ecs_geo<'f>(r: &mut Reader<'_>, g: &'f GeographicalContext<'_>, path: &str) -> Geo<'f> {
    let mut geo = Geo {
        city_name: r.str(&g.city, format_args!("{path}.city")),
        region_name: r.str(&g.state, format_args!("{path}.state")),
        country_name: r.str(&g.country, format_args!("{path}.country")),
        postal_code: r.str(&g.postal_code, format_args!("{path}.postalCode")),
        location: None,
    };
    if let Some(gl) = r.get(&g.geolocation, format_args!("{path}.geolocation")) {
        let lat = r.get(&gl.lat, format_args!("{path}.geolocation.lat")).copied();
        let lon = r.get(&gl.lon, format_args!("{path}.geolocation.lon")).copied();
        if let (Some(lat), Some(lon)) = (lat, lon) {
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
                geo.location = Some(Location { lat, lon });
            } else {
                r.diags.push(Diagnostic::new(
                    "N012",
                    format!("{path}.geolocation"),
                    format!("({lat}, {lon}) is not a valid coordinate; it was ignored"),
                ));
            }
        }
    }
    geo
}

/// One side of `changeDetails`: an object whose values are all strings (non-strings become JSON
/// text, so one keyword mapping holds), parsed first if Okta sent a Java-map string.
fn change_side(r: &mut Reader<'_>, side: &Field<Value>, path: At) -> Map<String, Value> {
    let map = match r.get(side, path) {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => return Map::new(),
        Some(Value::String(s)) => match debug_data::parse_java_map(s) {
            Some(m) => m,
            None => {
                r.diags.push(Diagnostic::new(
                    "N008",
                    path.to_string(),
                    "the value is neither an object nor a {k=v} map; it is kept under `text`",
                ));
                Map::from_iter([("text".to_owned(), Value::String(s.clone()))])
            }
        },
        Some(other) => Map::from_iter([("text".to_owned(), Value::String(other.to_string()))]),
        None => return Map::new(),
    };
    map.into_iter()
        .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
        .map(|(k, v)| match v {
            Value::String(_) => (k, v),
            other => (k, Value::String(other.to_string())),
        })
        .collect()
}

/// Drops nulls, empty strings and empty containers, recursively. `None` if nothing is left.
fn prune(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(m) => Some(prune_map(m)).filter(|m| !m.is_empty()).map(Value::Object),
        Value::Array(a) => {
            let a: Vec<Value> = a.iter().filter_map(prune).collect();
            (!a.is_empty()).then_some(Value::Array(a))
        }
        other => Some(other.clone()),
    }
}

fn prune_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter().filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v))).collect()
}

/// [`prune`], and camelCase keys become snake_case (Okta's newer blocks such as `ipDetails`).
fn prune_snake(v: &Value) -> Option<Value> {
    fn snake(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (snake_key(&k), snake(v))).collect()),
            Value::Array(a) => Value::Array(a.into_iter().map(snake).collect()),
            other => other,
        }
    }
    prune(v).map(snake)
}

/// `ipServiceCategories` → `ip_service_categories`; keys that are not camelCase identifiers
/// (such as behavior names like `New IP`) are left alone.
fn snake_key(k: &str) -> String {
    let identifier =
        k.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && k.chars().all(|c| c.is_ascii_alphanumeric());
    if !identifier {
        return k.to_owned();
    }
    let mut s = String::with_capacity(k.len() + 4);
    for c in k.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Okta's severity as an ECS `log.level`.
fn log_level(severity: &str) -> Option<&'static str> {
    ["DEBUG", "INFO", "WARN", "ERROR"]
        .into_iter()
        .zip(["debug", "info", "warn", "error"])
        .find(|(s, _)| s.eq_ignore_ascii_case(severity))
        .map(|(_, level)| level)
}

/// `local@domain`, loosely: what Okta puts in alternateId for people.
fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The raw text with redacted secrets replaced, so `event.original` does not leak them.
fn scrub<'r>(raw: &'r str, secrets: &[&str]) -> Cow<'r, str> {
    let mut text = Cow::Borrowed(raw);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let quoted = serde_json::to_string(secret).expect("a string serializes");
        if text.contains(&quoted) {
            text = Cow::Owned(text.replace(&quoted, &format!("\"{}\"", debug_data::REDACTED)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_snake_keys() {
        assert!(is_email("jane.doe@example.com"));
        assert!(!is_email("0oa1b2c3d4e5f6g7h8i9"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("a@b"));
        assert_eq!(snake_key("ipServiceCategories"), "ip_service_categories");
        assert_eq!(snake_key("New IP"), "New IP");
        assert_eq!(snake_key("level"), "level");
    }

    #[test]
    fn scrub_replaces_quoted_secret_only() {
        let raw = r#"{"clientSecret":"abc","x":"abcd"}"#;
        assert_eq!(scrub(raw, &["abc"]), r#"{"clientSecret":"[REDACTED]","x":"abcd"}"#);
    }
}
