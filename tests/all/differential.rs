//! The component's output is byte-identical to the native core's.
//!
//! This guards the WIT boundary and the wasm build: same input, same config, same bytes out,
//! for every golden input, in every input shape, and for broken input.

use okta_normalizer_core::{Engine, InputFormat};
use okta_normalizer_tests::{
    Flat, batch, config, flatten_core, flatten_wit, golden_inputs, runtime, shapes, wit_batch, wit_config,
};

fn assert_same(label: &str, cfg: &okta_normalizer_core::Config, input: &[u8], format: InputFormat) {
    let native = Engine::new(cfg.clone()).expect("valid config").normalize(input, &batch(format));
    let mut component = runtime().instantiate(&wit_config(cfg)).expect("no trap").expect("valid config");
    let wasm = component.normalize(input, &wit_batch(format)).expect("the component does not trap");
    match (native, wasm) {
        (Ok(n), Ok(w)) => {
            let (n, w) = (flatten_core(&n), flatten_wit(&w));
            assert_eq!(n.len(), w.len(), "{label}: outcome counts differ");
            for (a, b) in n.iter().zip(&w) {
                assert_eq!(a, b, "{label}: native and component outputs differ");
            }
        }
        (Err(n), Err(w)) => {
            assert_eq!(
                (n.code, n.message.as_str()),
                (w.code.as_str(), w.message.as_str()),
                "{label}: batch errors differ"
            );
        }
        (n, w) => panic!("{label}: native gave {n:?}, component gave {w:?}"),
    }
}

#[test]
fn every_golden_input_is_byte_identical() {
    let cfg = config();
    for (name, input) in golden_inputs() {
        assert_same(&name, &cfg, &input, InputFormat::Auto);
    }
}

#[test]
fn every_shape_is_byte_identical_with_original_kept() {
    let inputs = golden_inputs();
    let texts: Vec<&str> = inputs.iter().map(|(_, b)| std::str::from_utf8(b).expect("utf-8 fixture")).collect();
    let mut cfg = config();
    cfg.output.preserve_original = true;
    for (format, bytes) in shapes(&texts) {
        assert_same(&format!("{format:?} shape"), &cfg, &bytes, format);
        assert_same(&format!("{format:?} shape, auto"), &cfg, &bytes, InputFormat::Auto);
    }
}

#[test]
fn broken_input_is_byte_identical() {
    let cfg = config();
    let cases: &[(&str, &[u8])] = &[
        ("invalid json", b"{\"uuid\": \"x\", "),
        ("not an object", b"[1, \"two\", null]"),
        ("mixed ndjson", b"{\"uuid\":\"a\",\"eventType\":\"user.session.start\"}\nnot json\n\n[]\n{\"uuid\":\"b\"}\n"),
        ("not utf-8", b"{\"uuid\":\"a\"}\n{\"uuid\":\"\xff\xfe\"}\n"),
        (
            "wrong types",
            br#"{"uuid": 7, "published": true, "actor": "nobody", "target": {"id": 1}, "client": {"ipAddress": 12}}"#,
        ),
        ("duplicate keys", br#"{"uuid":"a","uuid":"b","eventType":"user.session.start"}"#),
        ("empty", b"   \n "),
    ];
    for (label, input) in cases {
        assert_same(label, &cfg, input, InputFormat::Auto);
    }
    assert_same("named format mismatch", &cfg, b"[]", InputFormat::EventHook);
}

#[test]
fn the_component_imports_only_std_shims() {
    // Our world imports nothing; what std links in must stay harmless: no clocks, files,
    // sockets or real randomness.
    let imports = runtime().import_names();
    let allowed = ["wasi:cli/", "wasi:io/", "wasi:random/insecure-seed@"];
    for name in &imports {
        assert!(
            allowed.iter().any(|a| name.starts_with(a)),
            "unexpected import {name}; the guest must not reach the outside"
        );
    }
    assert!(!imports.iter().any(|n| n.starts_with("okta:")), "the okta:normalizer world imports nothing");
}

/// The acme directory fixture as a full load, in the core's and the WIT's types.
fn directory_updates() -> (okta_normalizer_core::DirectoryUpdate, okta_normalizer_host::guest::DirectoryUpdate) {
    use okta_normalizer_core as core;
    use okta_normalizer_host::guest as wit;
    let text = std::fs::read_to_string(okta_normalizer_tests::cases("directory").join("acme.json")).expect("fixture");
    let value: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let mut update = core::directory::snapshot(&value, 1_790_000_000_000).expect("a valid snapshot");
    update.reset = false; // into an empty engine: the same load, with entity documents
    let kind = |k: core::DirectoryKind| match k {
        core::DirectoryKind::User => wit::DirectoryKind::User,
        core::DirectoryKind::Group => wit::DirectoryKind::Group,
        core::DirectoryKind::Device => wit::DirectoryKind::Device,
        core::DirectoryKind::UserSchema => wit::DirectoryKind::UserSchema,
    };
    let wit = wit::DirectoryUpdate {
        reset: update.reset,
        objects: update
            .objects
            .iter()
            .map(|o| wit::DirectoryObject {
                kind: kind(o.kind),
                id: o.id.clone(),
                change: wit::DirectoryChange::Discovered,
                json: o.json.clone(),
            })
            .collect(),
        memberships: update
            .memberships
            .iter()
            .map(|m| wit::GroupMembers { group_id: m.group_id.clone(), user_ids: m.user_ids.clone() })
            .collect(),
        roles: update
            .roles
            .iter()
            .map(|r| wit::UserRoles { user_id: r.user_id.clone(), json: r.json.clone() })
            .collect(),
        observed_ms: update.observed_ms,
    };
    (update, wit)
}

#[test]
fn enrichment_and_entities_are_byte_identical() {
    let mut cfg = config();
    cfg.detection.builtin_rules = true;
    let custom =
        vec![("clearance".to_owned(), "clearance".to_owned()), ("costCenter".to_owned(), "cost_center".to_owned())];
    let enrichment =
        okta_normalizer_core::EnrichmentConfig { profile_fields: Vec::new(), custom_attributes: custom.clone() };
    let mut native = Engine::new(cfg.clone()).expect("valid config");
    native.set_enrichment(enrichment).expect("valid enrichment");
    let mut wcfg = wit_config(&cfg);
    wcfg.enrichment.custom_attributes = custom;
    let mut component = runtime().instantiate(&wcfg).expect("no trap").expect("valid config");

    let (core_update, wit_update) = directory_updates();
    let n = native.update_directory(core_update);
    let w = component.update_directory(&wit_update).expect("no trap");
    assert_eq!((n.users, n.groups, n.devices), (w.users, w.groups, w.devices));
    assert_eq!((n.users, n.groups, n.devices), (8, 4, 2));
    let n_problems: Vec<_> = n.problems.iter().map(|p| (p.code.to_owned(), p.message.clone())).collect();
    let w_problems: Vec<_> = w.problems.iter().map(|p| (p.code.clone(), p.message.clone())).collect();
    assert_eq!(n_problems, w_problems);
    assert_eq!(n_problems.len(), 1, "costCenter is not in the fixture's schema: {n_problems:?}");
    let n_docs: Vec<_> = n.entities.iter().map(|e| (e.id.clone(), e.document.clone())).collect();
    let w_docs: Vec<_> = w.entities.iter().map(|e| (e.id.clone(), e.document.clone())).collect();
    assert_eq!(n_docs.len(), 10);
    assert_eq!(n_docs, w_docs);

    let (mut enriched, mut by_admin) = (0, 0);
    for (name, input) in golden_inputs() {
        let a = native.normalize(&input, &batch(InputFormat::Auto)).expect("a batch");
        let b = component.normalize(&input, &wit_batch(InputFormat::Auto)).expect("no trap").expect("a batch");
        let (a, b) = (flatten_core(&a), flatten_wit(&b));
        assert_eq!(a, b, "{name}: native and component outputs differ with a directory loaded");
        enriched += a
            .iter()
            .filter(|f| matches!(f, Flat::Normalized { document, .. } if document.contains("\"okta\":{") && document.contains("\"enrichment\":{")))
            .count();
        by_admin += a
            .iter()
            .filter(|f| matches!(f, Flat::Normalized { document, .. } if document.contains(r#""roles":["ORG_ADMIN","SUPER_ADMIN"]"#)))
            .count();
    }
    assert!(enriched > 20, "most golden events have a User actor and are enriched ({enriched})");
    assert!(by_admin > 5, "Dana (super admin, org admin through a group) acts in golden events ({by_admin})");
}
