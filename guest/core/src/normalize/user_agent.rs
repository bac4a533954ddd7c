//! `user_agent.*` from Okta's raw user agent, parsed with woothee and cached.
//!
//! An org sees few distinct user agents, so a small cache turns parsing into a lookup. The cache
//! only avoids recomputing a pure function, so output does not depend on it.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

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
    /// A fixed hasher: std's default `RandomState` would make the guest import WASI randomness.
    entries: HashMap<String, Parsed, BuildHasherDefault<DefaultHasher>>,
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

/// Parses without caching.
pub fn parse(raw: &str) -> Parsed {
    let Some(r) = woothee::parser::Parser::new().parse(raw) else {
        return Parsed::default();
    };
    let name = known(r.name);
    let version = known(r.version);
    let os_name = known(r.os);
    let os_version = known(&r.os_version);
    let os_full = match (&os_name, &os_version) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n.clone()),
        _ => None,
    };
    // woothee has no device model; for phones and tablets its OS name is the device family
    // (iPhone, iPad, Android), which is what `user_agent.device.name` holds in ECS.
    let device_name = match r.category {
        "smartphone" | "mobilephone" => os_name.clone(),
        _ => None,
    };
    Parsed {
        name,
        version,
        os_name,
        os_version,
        os_full,
        device_name,
    }
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
        assert_eq!(p.os_name.as_deref(), Some("Windows 10"));
        let p = parse("python-requests/2.31.0");
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
