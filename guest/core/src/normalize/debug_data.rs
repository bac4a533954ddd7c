//! `debugContext.debugData`: promoted keywords, parsed structures, redaction.
//!
//! Okta writes most debugData values as strings, some of them serialized Java maps
//! (`{New IP=POSITIVE, New Device=NEGATIVE}`) or JSON (`logOnlySecurityData`, `tunnels`). We parse
//! those into real structures so rules and queries can test `behaviors."New IP" == POSITIVE`
//! instead of substring-matching a blob.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::ecs::DebugData;
use super::json::{AsNode, Empty, Members, Node, WriteJson, write_str};
use crate::decode::event::{DebugMap, Loose};
use crate::diag::{Diagnostic, Diagnostics};

/// The replacement written for secret values.
pub const REDACTED: &str = "[REDACTED]";

/// debugData keys whose values are secrets, compared case-insensitively without `_`.
const SECRET_KEYS: &[&str] =
    &["clientsecret", "password", "accesstoken", "refreshtoken", "idtoken", "apikey", "secret"];

/// Whether a debugData key holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    if key.len() > 16 {
        return false;
    }
    let mut folded = [0u8; 16];
    let mut n = 0;
    for b in key.bytes().filter(|b| *b != b'_' && *b != b'-') {
        folded[n] = b.to_ascii_lowercase();
        n += 1;
    }
    SECRET_KEYS.iter().any(|k| k.as_bytes() == &folded[..n])
}

/// `okta.debug_context.debug_data.flattened`: the whole debugData map as Okta sent it, sorted by
/// key, without empty values and with secrets redacted. Written straight from the event.
///
/// Every value is written as a string (objects and numbers as their JSON text): Okta sends some
/// keys sometimes as a string and sometimes as an object (`logOnlySecurityData`), and one field
/// with two types is rejected by a search index's dynamic mapping. The parsed forms live beside
/// it (`log_only_security_data`, `behaviors`, `tunnels`, ...).
#[derive(Debug, Clone, Default)]
pub struct Flattened<'a> {
    entries: &'a [(Cow<'a, str>, Loose<'a>)],
    redact: bool,
}

impl Empty for Flattened<'_> {
    fn is_empty(&self) -> bool {
        self.entries.iter().all(|(_, v)| is_blank(v))
    }
}

impl Members for Flattened<'_> {
    fn members(&self, f: &mut dyn FnMut(&str, Node<'_>) -> bool) -> bool {
        self.entries.iter().filter(|(_, v)| !is_blank(v)).any(|(key, value)| {
            if self.redact && is_secret_key(key) {
                f(key, Node::Str(REDACTED))
            } else {
                match value {
                    Loose::Str(s) => f(key, Node::Str(s)),
                    Loose::Json(v) => f(key, Node::Temp(&v.to_string())),
                }
            }
        })
    }
}

impl AsNode for Flattened<'_> {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Object(self))
    }
}

impl WriteJson for Flattened<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (key, value) in self.entries.iter().filter(|(_, v)| !is_blank(v)) {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, key);
            out.push(b':');
            if self.redact && is_secret_key(key) {
                write_str(out, REDACTED);
            } else {
                match value {
                    Loose::Str(s) => write_str(out, s),
                    Loose::Json(v) => write_str(out, &v.to_string()),
                }
            }
        }
        out.push(b'}');
    }
}

fn is_blank(v: &Loose<'_>) -> bool {
    matches!(v, Loose::Str(s) if s.is_empty()) || matches!(v, Loose::Json(Value::Null))
}

/// Builds `okta.debug_context.debug_data` from Okta's map. Returns the secret values that were
/// redacted, so the caller can scrub them from `event.original` too.
pub fn map<'a>(data: &'a DebugMap<'a>, redact: bool, diags: &mut Diagnostics) -> (DebugData<'a>, Vec<&'a str>) {
    let mut out = DebugData { flattened: Flattened { entries: &data.0, redact }, ..DebugData::default() };
    let mut secrets = Vec::new();
    for (key, value) in &data.0 {
        if is_blank(value) {
            continue;
        }
        let text: Cow<'a, str> = if redact && is_secret_key(key) {
            if let Loose::Str(s) = value {
                secrets.push(s.as_ref());
            }
            diags.push(Diagnostic::new(
                "N010",
                format!("debugContext.debugData.{key}"),
                "a secret value was redacted (turn off redact-secrets to keep it)",
            ));
            Cow::Borrowed(REDACTED)
        } else {
            match value {
                Loose::Str(s) => Cow::Borrowed(s.as_ref()),
                Loose::Json(v) => Cow::Owned(v.to_string()),
            }
        };
        match key.as_ref() {
            "authnRequestId" => out.authn_request_id = Some(text),
            "clientSecret" => out.client_secret = Some(text),
            "deviceFingerprint" => out.device_fingerprint = Some(text),
            "dtHash" => out.dt_hash = Some(text),
            "factor" => out.factor = Some(text),
            "grantType" => out.grant_type = Some(text),
            "grantedScopes" => out.granted_scopes = Some(text),
            "privilegeGranted" => out.privilege_granted = Some(text),
            "requestId" => out.request_id = Some(text),
            "requestUri" => out.request_uri = Some(text),
            "requestedScopes" => out.requested_scopes = Some(text),
            "threatSuspected" => out.threat_suspected = Some(text),
            "url" => out.url = Some(text),
            "behaviors" => match parse_java_map_value(value) {
                Some(b) => out.behaviors = b,
                None => diags.push(unparsed(key, "a {Name=RESULT, ...} map")),
            },
            "risk" => match parse_java_map_value(value) {
                Some(risk) => apply_risk(&mut out, &risk),
                None => diags.push(unparsed(key, "a {reasons=..., level=...} map")),
            },
            "logOnlySecurityData" => match parse_json_value(value) {
                Some(Value::Object(lo)) => {
                    if let Some(Value::Object(risk)) = lo.get("risk") {
                        apply_risk(&mut out, risk);
                    }
                    if out.behaviors.is_empty()
                        && let Some(Value::Object(b)) = lo.get("behaviors")
                    {
                        out.behaviors = b.clone();
                    }
                    out.log_only_security_data = Some(Value::Object(lo));
                }
                _ => diags.push(unparsed(key, "a JSON object")),
            },
            "threatDetections" => match parse_json_value(value) {
                Some(t @ Value::Object(_)) => out.threat_detections = Some(t),
                _ => diags.push(unparsed(key, "a JSON object")),
            },
            "tunnels" => match parse_json_value(value) {
                Some(t @ Value::Array(_)) => out.tunnels = Some(t),
                _ => diags.push(unparsed(key, "a JSON array")),
            },
            _ => {}
        }
    }
    out.risk_behaviors = out
        .behaviors
        .iter()
        .filter(|(_, v)| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("POSITIVE")))
        .map(|(k, _)| k.clone())
        .collect();
    (out, secrets)
}

fn unparsed(key: &str, expected: &str) -> Diagnostic {
    Diagnostic::new(
        "N008",
        format!("debugContext.debugData.{key}"),
        format!("could not parse the value as {expected}; it is kept as text in debug_data.flattened"),
    )
}

/// `risk` (from debugData or logOnlySecurityData) → `risk_level` and `risk_reasons`.
/// logOnlySecurityData wins when both are present, as it is the newer source.
fn apply_risk(out: &mut DebugData<'_>, risk: &Map<String, Value>) {
    if let Some(level) = risk.get("level").and_then(Value::as_str) {
        out.risk_level = Some(Cow::Owned(level.to_owned()));
    }
    match risk.get("reasons") {
        Some(Value::String(s)) => {
            out.risk_reasons = s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        }
        Some(Value::Array(a)) => {
            out.risk_reasons = a.iter().filter_map(Value::as_str).map(str::to_owned).collect();
        }
        _ => {}
    }
}

fn parse_java_map_value(value: &Loose<'_>) -> Option<Map<String, Value>> {
    match value {
        Loose::Json(Value::Object(m)) => Some(m.clone()),
        Loose::Str(s) => parse_java_map(s),
        Loose::Json(_) => None,
    }
}

/// A JSON value that usually arrives as an escaped-JSON string.
fn parse_json_value(value: &Loose<'_>) -> Option<Value> {
    match value {
        Loose::Str(s) => serde_json::from_str(s).ok(),
        Loose::Json(v) => Some(v.clone()),
    }
}

/// Parses Java's `Map.toString()` form: `{k=v, k2={a=b}, k3=x, y}`.
///
/// Values may contain `, ` (risk reasons do), so a new entry starts only where the text after
/// `, ` looks like `key=`. Keys may contain spaces and `-` (`New Geo-Location`). Nested maps
/// become objects; everything else stays a string. Returns `None` when the text is not braced.
pub fn parse_java_map(text: &str) -> Option<Map<String, Value>> {
    let mut map = Map::new();
    for entry in JavaEntries::new(text)? {
        let (key, value) = entry?;
        let parsed = if is_braced(value) {
            parse_java_map(value).map_or_else(|| Value::String(value.to_owned()), Value::Object)
        } else {
            Value::String(value.to_owned())
        };
        map.insert(key.to_owned(), parsed);
    }
    Some(map)
}

/// Whether a trimmed value looks like a nested map.
pub(crate) fn is_braced(value: &str) -> bool {
    value.starts_with('{') && value.ends_with('}')
}

/// The entries of a Java map's text, in order, as slices of it: `Some((key, value))`, the value
/// trimmed (a nested map left as its text), or a last `None` where the text stops being a map.
/// [`parse_java_map`] reads them into a JSON map; detection reads them into an event's arena.
pub(crate) struct JavaEntries<'t> {
    rest: &'t str,
}

impl<'t> JavaEntries<'t> {
    /// `None` when the text is not braced.
    pub(crate) fn new(text: &'t str) -> Option<JavaEntries<'t>> {
        let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
        Some(JavaEntries { rest: inner.trim() })
    }
}

impl<'t> Iterator for JavaEntries<'t> {
    type Item = Option<(&'t str, &'t str)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.rest);
        let Some(eq) = rest.find('=') else { return Some(None) };
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(['{', '}', ',']) {
            return Some(None);
        }
        let (value, remaining) = split_value(&rest[eq + 1..]);
        self.rest = remaining.trim_start();
        Some(Some((key, value.trim())))
    }
}

/// Splits `text` after one value: at the first top-level `, ` followed by something that looks
/// like `key=`. Returns (value, rest after the separator).
fn split_value(text: &str) -> (&str, &str) {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 && starts_entry(&text[i + 1..]) => {
                return (&text[..i], &text[i + 1..]);
            }
            _ => {}
        }
        i += 1;
    }
    (text, "")
}

/// Whether `text` begins a new `key=` entry: a key of word characters, spaces or `-`/`.`,
/// directly followed by `=`, before any `,` or brace.
fn starts_entry(text: &str) -> bool {
    let t = text.trim_start();
    for (i, c) in t.char_indices() {
        match c {
            '=' => return i > 0,
            ',' | '{' | '}' => return false,
            c if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | ':') => {}
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn java_maps() {
        let m = parse_java_map("{New Geo-Location=NEGATIVE, New Device=POSITIVE, New IP=POSITIVE}").unwrap();
        assert_eq!(m["New Geo-Location"], "NEGATIVE");
        assert_eq!(m["New IP"], "POSITIVE");
        let r = parse_java_map("{reasons=Anomalous Location, Anomalous Device, level=HIGH}").unwrap();
        assert_eq!(r["reasons"], "Anomalous Location, Anomalous Device");
        assert_eq!(r["level"], "HIGH");
        let n = parse_java_map("{filter=^$, matchType=USERNAME, userNameTemplate={template=idpuser.email}}").unwrap();
        assert_eq!(n["filter"], "^$");
        assert_eq!(n["userNameTemplate"], json!({"template": "idpuser.email"}));
        assert_eq!(parse_java_map("{}").unwrap().len(), 0);
        assert!(parse_java_map("not a map").is_none());
        assert!(parse_java_map("{=x}").is_none());
    }

    fn debug_map(v: &serde_json::Value) -> DebugMap<'static> {
        let text: &'static str = Box::leak(v.to_string().into_boxed_str());
        match serde_json::from_str::<crate::decode::lenient::Field<DebugMap<'static>>>(text).unwrap() {
            crate::decode::lenient::Field::Value(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn promotes_parses_and_redacts() {
        let data = debug_map(&json!({
            "requestId": "r1", "dtHash": "ab", "clientSecret": "s3cr3t",
            "behaviors": "{New IP=POSITIVE, New Device=NEGATIVE}",
            "risk": "{reasons=Anomalous Location, Anomalous Device, level=HIGH}",
            "tunnels": "[{\"anonymous\":true,\"type\":\"VPN\"}]",
            "empty": "", "nothing": null
        }));
        let mut diags = Diagnostics::default();
        let (d, secrets) = map(&data, true, &mut diags);
        assert_eq!(secrets, vec!["s3cr3t"]);
        assert_eq!(d.client_secret.as_deref(), Some(REDACTED));
        let mut flat = Vec::new();
        d.flattened.write_json(&mut flat);
        let flat: serde_json::Value = serde_json::from_slice(&flat).unwrap();
        assert_eq!(flat["clientSecret"], REDACTED);
        assert!(flat.get("empty").is_none() && flat.get("nothing").is_none());
        assert_eq!(d.risk_level.as_deref(), Some("HIGH"));
        assert_eq!(d.risk_reasons, vec!["Anomalous Location", "Anomalous Device"]);
        assert_eq!(d.risk_behaviors, vec!["New IP"]);
        assert_eq!(d.tunnels, Some(json!([{"anonymous": true, "type": "VPN"}])));
        assert_eq!(diags.items().iter().filter(|d| d.code == "N010").count(), 1);
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("clientSecret") && is_secret_key("client_secret") && is_secret_key("PASSWORD"));
        assert!(!is_secret_key("requestId") && !is_secret_key("a_very_long_key_name_that_is_not_secret"));
    }

    #[test]
    fn log_only_security_data_as_string_or_object() {
        for lo in [
            json!("{\"risk\":{\"level\":\"LOW\"},\"behaviors\":{\"New City\":\"POSITIVE\"}}"),
            json!({"risk": {"level": "LOW"}, "behaviors": {"New City": "POSITIVE"}}),
        ] {
            let data = debug_map(&json!({ "logOnlySecurityData": lo }));
            let (d, _) = map(&data, true, &mut Diagnostics::default());
            assert_eq!(d.risk_level.as_deref(), Some("LOW"));
            assert_eq!(d.risk_behaviors, vec!["New City"]);
        }
    }
}
