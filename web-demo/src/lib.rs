//! The browser playground: a thin wasm-bindgen adapter over `okta-normalizer-core`.
//!
//! All logic lives in the core crate (the same code the `okta:normalizer` component runs). This
//! crate only converts: JSON text in (options) and JSON text out (results), which the page's
//! worker parses. Build it with `scripts/web`, which runs
//! `cargo build -p okta-normalizer-web --target wasm32-unknown-unknown --profile web` and
//! `wasm-bindgen --target web`. On native targets the crate is empty, so
//! `cargo build --workspace` works.
#![cfg(target_arch = "wasm32")]

mod convert;

use okta_normalizer_core as core;
use wasm_bindgen::prelude::*;

/// One engine (config and rules) and the last batch it normalized, so the page can ask about
/// one event of it without sending the input again.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Playground {
    engine: core::Engine,
    last: Option<(Vec<u8>, core::BatchResult)>,
}

#[wasm_bindgen]
impl Playground {
    /// `options` is JSON: `{"tenant", "tenantDomain", "preserveOriginal", "keepSecrets",
    /// "builtinRules", "rules": [{"name", "text"}]}` (every key optional). A refused config
    /// throws JSON text: `{"field", "message", "ruleErrors": [...]}`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str) -> Result<Playground, JsValue> {
        let config = convert::config(options).map_err(|message| {
            JsValue::from_str(&convert::config_error(&core::ConfigError {
                field: "options",
                message,
                rule_errors: Vec::new(),
            }))
        })?;
        core::Engine::new(config)
            .map(|engine| Playground { engine, last: None })
            .map_err(|e| JsValue::from_str(&convert::config_error(&e)))
    }

    /// Normalizes `input` (`format`: `auto`, `log-event`, `api-page`, `ndjson`, `event-hook`
    /// or `eventbridge`; `ingested`: RFC 3339, or empty). Returns JSON text: the batch result, or
    /// `{"error": {"code", "message"}}`.
    pub fn normalize(&mut self, input: &str, format: &str, ingested: &str) -> String {
        let Some(format) = core::InputFormat::NAMES.iter().find(|(n, _)| *n == format).map(|(_, f)| *f) else {
            return convert::batch_error(&core::BatchError {
                code: "B000",
                message: format!("unknown format '{format}'"),
            });
        };
        let options = core::BatchOptions { format, ingested: (!ingested.is_empty()).then(|| ingested.to_owned()) };
        match self.engine.normalize(input.as_bytes(), &options) {
            Ok(result) => {
                let text = convert::batch_result(&result);
                self.last = Some((input.as_bytes().to_vec(), result));
                text
            }
            Err(e) => {
                self.last = None;
                convert::batch_error(&e)
            }
        }
    }

    /// Where each ECS field of event `index` of the last batch came from, and the rules it
    /// matches: JSON text, or `null` when there is no such normalized event.
    pub fn inspect(&self, index: u32) -> String {
        let insight = self.last.as_ref().and_then(|(input, result)| self.engine.inspect(input, result, index));
        insight.map_or_else(|| "null".to_owned(), |i| convert::insight(&i))
    }

    /// The loaded rules: JSON text, an array.
    pub fn rules(&self) -> String {
        convert::rule_infos(&self.engine.rules())
    }
}

/// Checks one rule file on its own: JSON text, an array of problems with line and column.
#[wasm_bindgen(js_name = lintRule)]
pub fn lint_rule(name: &str, text: &str) -> String {
    let errors = core::lint_rules(&core::RuleSource { name: name.to_owned(), text: text.to_owned() });
    convert::rule_errors(&errors)
}
