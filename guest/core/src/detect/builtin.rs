//! The built-in rule pack: `rules/**/*.yml` of this repository, compiled into the engine by
//! `build.rs` (sorted by path, so the load order is stable).

use crate::RuleSource;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The pack's files, named `builtin:<path under rules/>`.
pub(crate) fn sources() -> Vec<RuleSource> {
    FILES.iter().map(|(path, text)| RuleSource { name: format!("builtin:{path}"), text: (*text).to_owned() }).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorted_and_named() {
        let sources = super::sources();
        assert!(sources.windows(2).all(|w| w[0].name < w[1].name));
        assert!(sources.iter().all(|s| s.name.starts_with("builtin:okta/") || s.name.starts_with("builtin:")));
    }
}
