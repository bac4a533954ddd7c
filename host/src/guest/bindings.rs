//! Host bindings generated from `wit/`: the types and calls of the `okta:normalizer` contract.
//!
//! Nothing but the `bindgen!` expansion lives here; `guest/mod.rs` wraps it.
#![allow(missing_docs, missing_debug_implementations, unreachable_pub, reason = "generated code")]

wasmtime::component::bindgen!({
    world: "okta-normalizer",
    path: "../wit",
});
