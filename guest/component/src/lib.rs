//! The `okta:normalizer` WebAssembly component: a thin wit-bindgen adapter over
//! `okta-normalizer-core`.
//!
//! All logic lives in the core crate. This crate only converts between the WIT types generated
//! from `wit/` and the core's types (see `convert.rs`). Build it with
//! `cargo build -p okta-normalizer-guest --target wasm32-wasip2 --profile component`; rustc emits
//! a component directly. On native targets the crate is empty, so `cargo build --workspace` works.
#![cfg(target_arch = "wasm32")]

mod convert;

use std::cell::RefCell;

use exports::okta::normalizer::normalizer as types;
use exports::okta::normalizer::normalizer::{Guest, GuestEngine};

wit_bindgen::generate!({
    world: "okta-normalizer",
    path: "../../wit",
});

struct Component;

/// The WIT `engine` resource. WIT methods take `&self`; the core engine keeps a cache, so it
/// sits in a `RefCell` (a component instance is single-threaded).
struct Engine(RefCell<okta_normalizer_core::Engine>);

impl Guest for Component {
    type Engine = Engine;

    fn builtin_rules() -> Vec<types::RuleSource> {
        okta_normalizer_core::builtin_rules().into_iter().map(convert::rule_source_out).collect()
    }

    fn lint_rules(source: types::RuleSource) -> Vec<types::RuleError> {
        okta_normalizer_core::lint_rules(&convert::rule_source_in(source))
            .into_iter()
            .map(convert::rule_error)
            .collect()
    }

    fn test_rules(
        sources: Vec<types::RuleSource>,
        builtin: bool,
    ) -> Result<Vec<types::TestResult>, Vec<types::RuleError>> {
        let sources: Vec<_> = sources.into_iter().map(convert::rule_source_in).collect();
        okta_normalizer_core::test_rules(&sources, builtin)
            .map(|results| results.into_iter().map(convert::test_result).collect())
            .map_err(|errors| errors.into_iter().map(convert::rule_error).collect())
    }
}

impl GuestEngine for Engine {
    fn create(config: types::Config) -> Result<exports::okta::normalizer::normalizer::Engine, types::ConfigError> {
        let (config, enrichment) = convert::config(config);
        let mut engine = okta_normalizer_core::Engine::new(config).map_err(convert::config_error)?;
        engine.set_enrichment(enrichment).map_err(convert::config_error)?;
        Ok(exports::okta::normalizer::normalizer::Engine::new(Engine(RefCell::new(engine))))
    }

    fn normalize(&self, input: Vec<u8>, options: types::BatchOptions) -> Result<types::BatchResult, types::BatchError> {
        self.0
            .borrow_mut()
            .normalize(&input, &convert::batch_options(options))
            .map(convert::batch_result)
            .map_err(convert::batch_error)
    }

    fn export_state(&self) -> Vec<u8> {
        self.0.borrow().export_state()
    }

    fn import_state(&self, state: Vec<u8>) -> Result<(), String> {
        self.0.borrow_mut().import_state(&state).map_err(|e| e.message)
    }

    fn export_state_changes(&self) -> types::StateChanges {
        convert::state_changes(self.0.borrow_mut().export_state_changes())
    }

    fn import_state_parts(&self, parts: Vec<types::StatePart>) -> Result<(), String> {
        let parts: Vec<_> = parts.into_iter().map(convert::state_part_in).collect();
        self.0.borrow_mut().import_state_parts(&parts).map_err(|e| e.message)
    }

    fn mark_seen(&self, uuids: Vec<String>) {
        self.0.borrow_mut().mark_seen(&uuids);
    }

    fn rules(&self) -> Vec<types::RuleInfo> {
        self.0.borrow().rules().into_iter().map(convert::rule_info).collect()
    }

    fn update_directory(&self, update: types::DirectoryUpdate) -> types::DirectoryResult {
        convert::directory_result(self.0.borrow_mut().update_directory(convert::directory_update(update)))
    }

    fn load_directory_snapshot(&self, snapshot: String) -> Result<types::DirectoryResult, String> {
        self.0.borrow_mut().load_directory_snapshot(&snapshot).map(convert::directory_result)
    }
}

export!(Component);
