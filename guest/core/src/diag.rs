//! Diagnostics: non-fatal oddities found while decoding or normalizing one event.
//!
//! Codes are stable so hosts and tests can match on them: `D0xx` decode, `N0xx` normalize.
//! Messages are lowercase, without a trailing period, and say what to do when there is something
//! to do.

/// One oddity. The event is still normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    /// A JSON path into the Okta event, such as `client.ipAddress`, or empty.
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, path: path.into(), message: message.into() }
    }
}

/// The diagnostics of one event, in the order they were found.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn items(&self) -> &[Diagnostic] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}
