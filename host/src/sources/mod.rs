//! Sources: where Okta events come from. `okta_api` polls the System Log API.

pub mod okta_api;
