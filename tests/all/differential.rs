//! The component's output is byte-identical to the native core's.
//!
//! This guards the WIT boundary and the wasm build: same input, same config, same bytes out,
//! for every golden input, in every input shape, and for broken input.

use okta_normalizer_core::{Engine, InputFormat};
use okta_normalizer_tests::{
    batch, config, flatten_core, flatten_wit, golden_inputs, runtime, shapes, wit_batch, wit_config,
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
