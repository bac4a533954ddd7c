//! Sources: where Okta events come from. `okta_api` polls the System Log API, `push` receives
//! event hooks and EventBridge API destinations over HTTP(S), `sqs` reads Log Streaming from an
//! SQS queue.

pub mod okta_api;
pub mod push;
pub mod sqs;
