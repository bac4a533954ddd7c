//! Every event type in Okta's catalog (`../shared/data/okta-event-types.csv`) is categorized by
//! the table, not by the prefix fallback, and every `user.authentication.*` type is
//! `authentication`.

use okta_normalizer_core::normalize::event_type::{Match, Table};
use okta_normalizer_tests::root;

/// Catalog event types, from the shared catalog when it is beside the repo (it is in CI).
fn catalog() -> Option<Vec<String>> {
    let path = root().parent()?.join("shared/data/okta-event-types.csv");
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines().skip(1).filter_map(|l| l.split(',').next()).filter(|t| !t.is_empty()).map(str::to_owned).collect(),
    )
}

#[test]
fn every_catalog_event_type_is_in_the_table() {
    let table = Table::builtin();
    let types: Vec<String> = catalog().unwrap_or_else(|| table.event_types().map(str::to_owned).collect());
    let fallback: Vec<&String> = types.iter().filter(|t| matches!(table.classify(t), Match::Prefix(..))).collect();
    assert!(fallback.is_empty(), "{} catalog event types fall back to prefix rules: {fallback:?}", fallback.len());
    let uncategorized: Vec<&String> =
        types.iter().filter(|t| table.classify(t).category().categories.is_empty()).collect();
    assert!(uncategorized.is_empty(), "event types with no category: {uncategorized:?}");
    eprintln!(
        "catalog coverage: {} of {} event types categorized from the table",
        types.len() - fallback.len(),
        types.len()
    );
}

#[test]
fn authentication_event_types_are_authentication() {
    let table = Table::builtin();
    for t in table.event_types().filter(|t| t.starts_with("user.authentication.")) {
        assert!(
            table.classify(t).category().categories.contains(&"authentication"),
            "{t} is not category authentication"
        );
    }
    // A future type in the namespace gets it from the prefix rule.
    let future = table.classify("user.authentication.auth_via_something_new");
    assert!(matches!(future, Match::Prefix("user.authentication.", _)));
    assert!(future.category().categories.contains(&"authentication"));
}

#[test]
fn values_are_ecs_allowed_and_sorted() {
    const CATEGORIES: &[&str] = &[
        "api",
        "authentication",
        "configuration",
        "database",
        "driver",
        "email",
        "file",
        "host",
        "iam",
        "intrusion_detection",
        "library",
        "malware",
        "network",
        "package",
        "process",
        "registry",
        "session",
        "threat",
        "vulnerability",
        "web",
    ];
    const TYPES: &[&str] = &[
        "access",
        "admin",
        "allowed",
        "change",
        "connection",
        "creation",
        "deletion",
        "denied",
        "end",
        "error",
        "group",
        "indicator",
        "info",
        "installation",
        "protocol",
        "start",
        "user",
    ];
    let table = Table::builtin();
    for t in table.event_types() {
        let c = table.classify(t).category();
        assert!(c.categories.iter().all(|x| CATEGORIES.contains(x)), "{t}: {:?}", c.categories);
        assert!(c.types.iter().all(|x| TYPES.contains(x)), "{t}: {:?}", c.types);
        assert!(c.categories.is_sorted() && c.types.is_sorted(), "{t}: lists must be sorted");
    }
}
