//! Decode: input bytes → the raw text of each LogEvent, with where it came from.
//!
//! Okta events reach us in five shapes: one LogEvent, an API page (JSON array), NDJSON, an
//! event-hook delivery (`data.events[]`) and an EventBridge envelope (`detail`). This stage finds
//! the shape (or checks the one the caller named), unwraps envelopes, and yields each event's raw
//! JSON text, borrowed from the input. It parses each event only as far as needed to split and
//! unwrap (`split.rs` for API pages, `RawValue` for envelopes), so each event is read in full
//! once: the normalizer's typed read, or the tree that detection walks and the typed event is
//! read from (`tree.rs`).

pub mod event;
pub mod lenient;
pub(crate) mod split;
pub(crate) mod tree;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{BatchError, InputFormat};

/// One event's raw text, or why it could not even be split out.
#[derive(Debug)]
pub struct RawItem<'a> {
    /// 1-based line of the input where the item starts.
    pub line: u32,
    pub body: RawBody<'a>,
}

#[derive(Debug)]
pub enum RawBody<'a> {
    /// JSON text that should be a LogEvent.
    Event(&'a str),
    /// Text that is not a usable event.
    Broken { code: &'static str, message: String, raw: Cow<'a, str> },
}

/// The decoded batch: what format it had, and its items in input order.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub format: InputFormat,
    pub items: Vec<RawItem<'a>>,
}

/// Splits `input` into raw events. An `Err` only when the caller named a format the input does
/// not have; with [`InputFormat::Auto`] every input decodes (bad parts become broken items).
pub fn decode(input: &[u8], format: InputFormat) -> Result<Decoded<'_>, BatchError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let Some(text) = utf8(input) else {
        return Ok(decode_non_utf8(input, format));
    };
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Decoded {
            format: if format == InputFormat::Auto { InputFormat::Ndjson } else { format },
            items: Vec::new(),
        });
    }
    match format {
        InputFormat::Ndjson => Ok(decode_ndjson(text)),
        InputFormat::ApiPage => decode_array(text).ok_or_else(|| BatchError {
            code: "B001",
            message: "the input is not a JSON array, so it is not an API page; \
                      use format auto to detect it"
                .into(),
        }),
        InputFormat::Auto => Ok(decode_auto(text)),
        InputFormat::LogEvent | InputFormat::EventHook | InputFormat::Eventbridge => {
            // Text that is not one JSON document reports its own error, as an event.
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
                return Ok(Decoded { format, ..broken_document(text) });
            }
            let decoded = decode_document(text);
            let found = if trimmed.starts_with('[') { InputFormat::ApiPage } else { decoded.format };
            if found == format {
                return Ok(decoded);
            }
            Err(BatchError {
                code: "B001",
                message: format!(
                    "the input was named {} but looks like {}; use format auto to detect it",
                    format.describe(),
                    found.describe()
                ),
            })
        }
    }
}

fn decode_auto(text: &str) -> Decoded<'_> {
    let first = text.trim_start().as_bytes()[0];
    if first == b'['
        && let Some(decoded) = decode_array(text)
    {
        return decoded;
    }
    // One JSON document, unless there is more after it: then NDJSON, line by line.
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    match stream.next() {
        Some(Ok(_)) if text[stream.byte_offset()..].trim().is_empty() => decode_document(text),
        _ if first == b'[' && count_content_lines(text) <= 1 => broken_document(text),
        _ if count_content_lines(text) > 1 => decode_ndjson(text),
        _ => decode_document(text),
    }
}

/// Classifies and unwraps one JSON document (LogEvent, event hook, or EventBridge envelope).
fn decode_document(text: &str) -> Decoded<'_> {
    let body = text.trim();
    match serde_json::from_str::<Probe<'_>>(body) {
        Ok(probe) => {
            if let Some(events) = probe.hook_events() {
                let items = elements(text, events.iter().map(|e| e.get()));
                return Decoded { format: InputFormat::EventHook, items };
            }
            if probe.is_eventbridge() {
                let detail = probe.detail.expect("is_eventbridge checks detail");
                return Decoded {
                    format: InputFormat::Eventbridge,
                    items: vec![RawItem { line: line_of(text, detail.get()), body: event_body(detail.get()) }],
                };
            }
            Decoded {
                format: InputFormat::LogEvent,
                items: vec![RawItem { line: line_of(text, body), body: event_body(body) }],
            }
        }
        Err(_) => broken_document(text),
    }
}

fn broken_document(text: &str) -> Decoded<'_> {
    let body = text.trim();
    Decoded {
        format: InputFormat::LogEvent,
        items: vec![RawItem { line: line_of(text, body), body: event_body(body) }],
    }
}

/// An API page's elements. `split::array` accepts exactly what serde_json accepts, faster; its
/// `None` goes to serde_json all the same, so a page is refused only when both refuse it.
fn decode_array(text: &str) -> Option<Decoded<'_>> {
    let items = match split::array(text) {
        Some(raws) => elements(text, raws.into_iter()),
        None => {
            let raws: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            elements(text, raws.iter().map(|e| e.get()))
        }
    };
    Some(Decoded { format: InputFormat::ApiPage, items })
}

/// Items from array elements, each unwrapped if it is an envelope. `raws` are slices of `text`:
/// when `text` holds no sign of an envelope, none of them does, and they are not looked at again.
fn elements<'a>(text: &'a str, raws: impl Iterator<Item = &'a str>) -> Vec<RawItem<'a>> {
    let mut lines = LineCounter::new(text);
    let mut items = Vec::new();
    let envelopes = may_hold_envelopes(text);
    for raw in raws {
        let line = lines.line_of(raw);
        if envelopes {
            push_unwrapped(&mut items, line, raw);
        } else {
            items.push(RawItem { line, body: event_body(raw) });
        }
    }
    items
}

fn decode_ndjson(text: &str) -> Decoded<'_> {
    let mut items = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line_text = line.trim();
        if line_text.is_empty() {
            continue;
        }
        push_unwrapped(&mut items, line_number(n), line_text);
    }
    Decoded { format: InputFormat::Ndjson, items }
}

fn decode_non_utf8(input: &[u8], format: InputFormat) -> Decoded<'_> {
    // Keep every line that is valid on its own; report the rest with their raw text.
    let mut items = Vec::new();
    for (n, line) in input.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(text) => push_unwrapped(&mut items, line_number(n), text),
            Err(line_err) => items.push(RawItem {
                line: line_number(n),
                body: RawBody::Broken {
                    code: "D004",
                    message: format!(
                        "the line is not valid UTF-8 (bad byte at column {}); Okta sends UTF-8, \
                     so the file was likely re-encoded",
                        line_err.valid_up_to() + 1
                    ),
                    raw: String::from_utf8_lossy(line),
                },
            }),
        }
    }
    Decoded { format: if format == InputFormat::Auto { InputFormat::Ndjson } else { format }, items }
}

/// An element or line: unwraps an EventBridge envelope or an event-hook delivery found there;
/// anything else goes on as a LogEvent.
fn push_unwrapped<'a>(items: &mut Vec<RawItem<'a>>, line: u32, raw: &'a str) {
    // A cheap check first, so LogEvents are not parsed an extra time.
    if may_hold_envelopes(raw)
        && let Ok(probe) = serde_json::from_str::<Probe<'_>>(raw)
    {
        if probe.is_eventbridge() {
            let detail = probe.detail.expect("is_eventbridge checks detail");
            items.push(RawItem { line, body: event_body(detail.get()) });
            return;
        }
        if let Some(events) = probe.hook_events() {
            items.extend(events.iter().map(|e| RawItem { line, body: event_body(e.get()) }));
            return;
        }
    }
    items.push(RawItem { line, body: event_body(raw) });
}

/// Whether `text` may contain an EventBridge envelope or an event-hook delivery. `false` means it
/// certainly does not: an envelope names `detail-type` or Okta's partner source, a hook delivery
/// has `data` and `events`. (Every LogEvent has a `"detail"` key, in `transaction`, so that word
/// proves nothing.)
///
/// It scans whole pages, so it uses `memchr`'s `memmem` (SIMD natively and in wasm with simd128)
/// rather than `str::contains`.
pub fn may_hold_envelopes(text: &str) -> bool {
    let has = |needle: &str| memchr::memmem::find(text.as_bytes(), needle.as_bytes()).is_some();
    has("\"detail-type\"") || has("aws.partner/okta.com/") || (has("\"events\"") && has("\"data\""))
}

/// The input as text when it is valid UTF-8. simdutf8 checks a whole page with SIMD (natively
/// and in wasm with simd128); where it is not, [`decode_non_utf8`] finds the bad lines.
pub fn utf8(input: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(input).ok()
}

fn event_body(raw: &str) -> RawBody<'_> {
    RawBody::Event(raw)
}

/// The top-level keys that tell the shapes apart.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(rename = "detail-type", default)]
    detail_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
}

impl<'a> Probe<'a> {
    /// An event-hook delivery: `data.events` is an array.
    fn hook_events(&self) -> Option<Vec<&'a RawValue>> {
        serde_json::from_str::<HookData<'a>>(self.data?.get()).ok()?.events
    }

    /// EventBridge: a `detail` object plus `detail-type` or an Okta partner `source`.
    fn is_eventbridge(&self) -> bool {
        let Some(detail) = self.detail else {
            return false;
        };
        if !detail.get().starts_with('{') {
            return false;
        }
        self.detail_type.is_some()
            || self
                .source
                .and_then(|s| serde_json::from_str::<Cow<'_, str>>(s.get()).ok())
                .is_some_and(|s| s.starts_with("aws.partner/okta.com/"))
    }
}

#[derive(Deserialize)]
struct HookData<'a> {
    #[serde(borrow, default)]
    events: Option<Vec<&'a RawValue>>,
}

fn count_content_lines(text: &str) -> usize {
    text.split('\n').filter(|l| !l.trim().is_empty()).take(2).count()
}

fn line_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// The 1-based line at which `part` (a slice of `text`) starts.
fn line_of(text: &str, part: &str) -> u32 {
    LineCounter::new(text).line_of(part)
}

/// Counts newlines incrementally for slices that come in increasing order.
struct LineCounter<'a> {
    text: &'a str,
    offset: usize,
    line: u32,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, offset: 0, line: 1 }
    }

    fn line_of(&mut self, part: &str) -> u32 {
        let start = (part.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        if start > self.text.len() || start < self.offset {
            return self.line;
        }
        // memchr skips the (usually newline-free) bytes between elements with SIMD.
        let newlines = memchr::memchr_iter(b'\n', &self.text.as_bytes()[self.offset..start]).count();
        self.line = self.line.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
        self.offset = start;
        self.line
    }
}
