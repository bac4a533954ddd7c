//! `user_agent.*` from Okta's raw user agent, parsed with woothee and cached.
//!
//! An org sees few distinct user agents, so a small cache turns parsing into a lookup. The cache
//! only avoids recomputing a pure function, so output does not depend on it.

use std::collections::HashMap;

/// What we keep from a parsed user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub name: Option<String>,
    pub version: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub os_full: Option<String>,
    pub device_name: Option<String>,
}

/// A bounded cache of parsed user agents.
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<String, Parsed, crate::FixedHash>,
}

/// Beyond this many distinct user agents the cache starts over; it never grows without bound.
const CAPACITY: usize = 4096;

impl Cache {
    pub fn parse(&mut self, raw: &str) -> &Parsed {
        if !self.entries.contains_key(raw) {
            if self.entries.len() >= CAPACITY {
                self.entries.clear();
            }
            self.entries.insert(raw.to_owned(), parse(raw));
        }
        &self.entries[raw]
    }
}

fn known(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN).then(|| s.to_owned())
}

/// woothee's OS naming → ECS's: `Windows 10` + `NT 10.0` becomes `Windows` + `10`, and Apple
/// handhelds (which woothee names by device) become `iOS` with the device in `device.name`.
fn ecs_os(os: &str, os_version: &str, category: &str) -> (Option<String>, Option<String>, Option<String>) {
    let name = known(os);
    let version = known(os_version);
    let Some(name) = name else { return (None, None, None) };
    if let Some(v) = name.strip_prefix("Windows ").filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())) {
        return (Some("Windows".into()), Some(v.to_owned()), None);
    }
    if name == "Mac OSX" {
        return (Some("Mac OS X".into()), version, None);
    }
    if matches!(name.as_str(), "iPhone" | "iPad" | "iPod") {
        return (Some("iOS".into()), version, Some(name));
    }
    // For other phones and tablets woothee's OS name is the device family (Android, ...).
    let device = matches!(category, "smartphone" | "mobilephone").then(|| name.clone());
    (Some(name), version, device)
}

/// `curl/8.5.0 ...` → (`curl`, `8.5.0`). Browsers all start with `Mozilla/`, which says nothing.
fn product_token(raw: &str) -> (Option<String>, Option<String>) {
    let token = raw.split_whitespace().next().unwrap_or("");
    let Some((name, version)) = token.split_once('/') else { return (None, None) };
    let name_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok || name.eq_ignore_ascii_case("mozilla") {
        return (None, None);
    }
    let version = version.trim_end_matches([';', ',']);
    (Some(name.to_owned()), (!version.is_empty()).then(|| version.to_owned()))
}

/// Parses without caching.
pub fn parse(raw: &str) -> Parsed {
    let r = woothee::parser::Parser::new().parse(raw).unwrap_or_default();
    let (mut name, mut version) = (known(r.name), known(r.version));
    if name.is_none() || name.as_deref() == Some("HTTP Library") {
        // Scripts and tools (curl, python-requests, okhttp): the leading product token says more.
        let (n, v) = product_token(raw);
        name = n.or(name);
        version = v.or(version);
    }
    let (os_name, os_version, device_name) = ecs_os(r.os, &r.os_version, r.category);
    let os_full = match (&os_name, &os_version) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n.clone()),
        _ => None,
    };
    Parsed { name, version, os_name, os_version, os_full, device_name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_browsers() {
        let p = parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        );
        assert_eq!(p.name.as_deref(), Some("Chrome"));
        assert_eq!(p.version.as_deref(), Some("130.0.0.0"));
        assert_eq!(p.os_name.as_deref(), Some("Windows"));
        assert_eq!(p.os_version.as_deref(), Some("10"));
        let p = parse(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(p.os_name.as_deref(), Some("iOS"));
        assert_eq!(p.device_name.as_deref(), Some("iPhone"));
        let p = parse("python-requests/2.31.0");
        assert_eq!((p.name.as_deref(), p.version.as_deref()), (Some("python-requests"), Some("2.31.0")));
        assert_eq!(p.device_name, None);
        assert_eq!(parse(""), Parsed::default());
    }

    #[test]
    fn cache_is_bounded() {
        let mut c = Cache::default();
        for i in 0..(CAPACITY + 10) {
            c.parse(&format!("agent/{i}"));
        }
        assert!(c.entries.len() <= CAPACITY);
    }
}
