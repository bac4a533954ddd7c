//! The one end-to-end test binary (one binary, so wasmtime and friends are linked once).
//!
//! - `golden`: every fixture in `tests/cases/normalize/` against its expected ECS output.
//! - `differential`: the component in wasmtime gives byte-identical results to the native core.
//! - `decode`: the five input shapes, format detection and mismatch errors.
//! - `properties`: no panics on arbitrary bytes or JSON; normalization is total and deterministic.
//! - `catalog`: every event type in Okta's catalog is categorized from the table.
//! - `detect`: the built-in pack finds the simulator's attacks through `poll`, across restarts.
//! - `sync`: the directory sync against the simulator: equality after full and incremental syncs,
//!   membership refetches, budget sharing with the poller, a 10k-user org.
//! - `sigma_oracle`: rsigma (pinned, tests only) agrees with our evaluator on the pack's single-event rules.

mod catalog;
mod decode;
mod detect;
mod differential;
mod golden;
mod oauth;
mod opensearch;
mod poll;
mod properties;
mod serve;
mod sigma_oracle;
mod sim;
mod sim_push;
mod sync;
