//! okta-normalizer-host: the `okta-normalizer` binary's library.
//!
//! It runs the normalizer component (`guest/`) in wasmtime and moves events between Okta and
//! sinks. It depends on the WIT contract in `wit/`, never on `okta-normalizer-core`: the component
//! is embedded at build time (`build.rs`). See ARCHITECTURE.md.

#![forbid(unsafe_code)]

pub mod auth;
pub mod budget;
pub mod cli;
pub mod commands;
pub mod config;
pub mod detection;
pub mod guest;
pub mod pipeline;
pub mod sim;
pub mod sinks;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod time;
