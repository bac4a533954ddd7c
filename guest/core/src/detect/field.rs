//! The field resolver: how a rule's dotted path finds values in an Okta event.
//!
//! - Keys compare case-insensitively on both sides (`eventType` = `EVENTTYPE` = `eventtype`).
//! - The raw LogEvent is looked up first; only when the path finds nothing there is the ECS
//!   document the normalizer made parsed (lazily, once per event) and looked up.
//! - Arrays are transparent: a path through an array visits every element.
//!   `target[type=User].alternateId` keeps only the elements whose `type` is `User`.
//! - A string met where the path goes on (`debugData.behaviors.New IP`) is read as a map when it
//!   is Okta's `{k=v, ...}` form or a JSON object (`logOnlySecurityData`); each such string is
//!   parsed at most once per event.
//!
//! Events are held as a light borrowed [`Tree`] (strings borrow from the event text), built only
//! for events that some rule could match.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::fmt;
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::normalize::debug_data::parse_java_map;

/// A JSON value, with strings borrowed from the text it was read from where possible.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tree<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    Arr(Vec<Tree<'a>>),
    Obj(Vec<(Cow<'a, str>, Tree<'a>)>),
}

/// A JSON number as it was read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Num::I(i) => i as f64,
            #[allow(clippy::cast_precision_loss)]
            Num::U(u) => u as f64,
            Num::F(f) => f,
        }
    }

    /// The number as JSON text.
    pub(crate) fn text(self) -> String {
        match self {
            Num::I(i) => i.to_string(),
            Num::U(u) => u.to_string(),
            Num::F(f) => serde_json::Number::from_f64(f).map_or_else(|| "null".to_owned(), |n| n.to_string()),
        }
    }
}

impl Tree<'_> {
    pub(crate) fn into_owned(self) -> Tree<'static> {
        match self {
            Tree::Null => Tree::Null,
            Tree::Bool(b) => Tree::Bool(b),
            Tree::Num(n) => Tree::Num(n),
            Tree::Str(s) => Tree::Str(Cow::Owned(s.into_owned())),
            Tree::Arr(items) => Tree::Arr(items.into_iter().map(Tree::into_owned).collect()),
            Tree::Obj(entries) => {
                Tree::Obj(entries.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned())).collect())
            }
        }
    }

    pub(crate) fn from_json(value: &Value) -> Tree<'static> {
        match value {
            Value::Null => Tree::Null,
            Value::Bool(b) => Tree::Bool(*b),
            Value::Number(n) => Tree::Num(if let Some(i) = n.as_i64() {
                Num::I(i)
            } else if let Some(u) = n.as_u64() {
                Num::U(u)
            } else {
                Num::F(n.as_f64().unwrap_or(f64::NAN))
            }),
            Value::String(s) => Tree::Str(Cow::Owned(s.clone())),
            Value::Array(items) => Tree::Arr(items.iter().map(Tree::from_json).collect()),
            Value::Object(map) => {
                Tree::Obj(map.iter().map(|(k, v)| (Cow::Owned(k.clone()), Tree::from_json(v))).collect())
            }
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Tree<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor(std::marker::PhantomData))
    }
}

struct TreeVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TreeVisitor<'a> {
    type Value = Tree<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Tree<'a>, E> {
        Ok(Tree::Null)
    }
    fn visit_none<E>(self) -> Result<Tree<'a>, E> {
        Ok(Tree::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Tree<'a>, E> {
        Ok(Tree::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Tree<'a>, E> {
        Ok(Tree::Num(Num::I(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Tree<'a>, E> {
        Ok(Tree::Num(Num::U(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Tree<'a>, E> {
        Ok(Tree::Num(Num::F(v)))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Tree<'a>, E> {
        Ok(Tree::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Tree<'a>, E> {
        Ok(Tree::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Tree<'a>, E> {
        Ok(Tree::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree<'a>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        // Keys borrow from the text too (`Cow<str>`'s own `Deserialize` always copies).
        while let Some(Key(key)) = map.next_key::<Key<'a>>()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Tree::Obj(entries))
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
    type Value = Key<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'a>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// One value a path reached.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'v> {
    Null,
    Bool(bool),
    Num(Num),
    Str(&'v str),
    /// An object (present, but not a scalar).
    Object,
}

impl Val<'_> {
    /// The scalar as text (numbers and booleans as JSON writes them); `None` for null and objects.
    pub(crate) fn text(&self) -> Option<Cow<'_, str>> {
        match *self {
            Val::Str(s) => Some(Cow::Borrowed(s)),
            Val::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Val::Num(n) => Some(Cow::Owned(n.text())),
            Val::Null | Val::Object => None,
        }
    }
}

/// A parsed field path such as `target[type=User].alternateId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    /// As written in the rule.
    pub(crate) text: String,
    segments: Vec<Segment>,
    /// Whether the ECS document may hold it: not when it starts with a key only the raw
    /// LogEvent has (`actor`, `debugContext`, ...), which saves parsing the document.
    in_ecs: bool,
}

/// Top-level LogEvent keys (lowercased) that the ECS document does not have.
const RAW_ONLY: &[&str] = &[
    "actor",
    "authenticationcontext",
    "debugcontext",
    "displaymessage",
    "eventtype",
    "legacyeventtype",
    "outcome",
    "published",
    "request",
    "securitycontext",
    "severity",
    "target",
    "transaction",
    "uuid",
    "version",
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// Lowercased.
    key: String,
    /// Whether `key` is ASCII (then a key of another length never equals it).
    ascii: bool,
    /// `[key=value]`: lowercased key and value.
    select: Option<(String, String)>,
}

impl FieldPath {
    /// Parses a dotted path; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<FieldPath, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        loop {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.trim().is_empty() {
                return Err(format!(
                    "the field name '{text}' has an empty part; write it as a dotted path such as actor.alternateId"
                ));
            }
            rest = &rest[end..];
            let mut select = None;
            if let Some(inner) = rest.strip_prefix('[') {
                let Some(close) = inner.find(']') else {
                    return Err(format!("'{text}' opens '[' without closing it; write key[type=User].field"));
                };
                let Some((k, v)) = inner[..close].split_once('=') else {
                    return Err(format!("'{text}' needs key=value inside [...], for example target[type=User]"));
                };
                if k.trim().is_empty() {
                    return Err(format!("'{text}' has an empty key inside [...]"));
                }
                select = Some((k.trim().to_lowercase(), v.trim().to_lowercase()));
                rest = &inner[close + 1..];
            }
            let key = key.to_lowercase();
            segments.push(Segment { ascii: key.is_ascii(), key, select });
            if rest.is_empty() {
                break;
            }
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => return Err(format!("'{text}' has text after ']' that does not start with '.'")),
            }
        }
        let in_ecs = !RAW_ONLY.contains(&segments[0].key.as_str());
        Ok(FieldPath { text: text.to_owned(), segments, in_ecs })
    }

    /// The lowercased key, when the path is a single plain key.
    pub(crate) fn single_key(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [s] if s.select.is_none() => Some(&s.key),
            _ => None,
        }
    }
}

/// `key` equals the lowercased `lower`, ignoring case.
fn key_eq(key: &str, lower: &str) -> bool {
    key_eq_known(key, lower, lower.is_ascii())
}

/// [`key_eq`], with whether `lower` is ASCII already known.
#[inline]
fn key_eq_known(key: &str, lower: &str, lower_ascii: bool) -> bool {
    if key.len() == lower.len() && key.eq_ignore_ascii_case(lower) {
        return true;
    }
    // Unicode case folding can change lengths; only then is the slow path needed.
    !lower_ascii && key.to_lowercase() == lower
}

/// Strings already parsed as maps, keyed by their address in the event.
type Embedded = RefCell<Vec<(usize, usize, Option<Rc<Tree<'static>>>)>>;

/// One event as the rules see it: the raw LogEvent, and the ECS document on demand.
#[derive(Debug)]
pub(crate) struct EventView<'a> {
    raw: Tree<'a>,
    ecs_text: &'a str,
    ecs: OnceCell<Tree<'a>>,
    embedded: Embedded,
}

impl<'a> EventView<'a> {
    /// `raw` is the LogEvent's JSON text, `ecs` the document the normalizer wrote for it.
    pub(crate) fn new(raw: &'a str, ecs: &'a str) -> EventView<'a> {
        EventView::from_tree(serde_json::from_str(raw).unwrap_or(Tree::Null), ecs)
    }

    pub(crate) fn from_tree(raw: Tree<'a>, ecs: &'a str) -> EventView<'a> {
        EventView { raw, ecs_text: ecs, ecs: OnceCell::new(), embedded: RefCell::default() }
    }

    fn ecs(&self) -> &Tree<'a> {
        self.ecs.get_or_init(|| serde_json::from_str(self.ecs_text).unwrap_or(Tree::Null))
    }

    /// Calls `f` with every value `path` reaches (raw event first, else the ECS document) until
    /// it returns `true`. Returns whether the path reached anything at all.
    pub(crate) fn visit(&self, path: &FieldPath, f: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
        let mut walker = Walker { f, found: false, done: false, embedded: &self.embedded };
        walker.walk(&self.raw, &path.segments);
        if !walker.found && path.in_ecs {
            walker.walk(self.ecs(), &path.segments);
        }
        walker.found
    }

    /// Whether `path` reaches a value that is not null.
    pub(crate) fn exists(&self, path: &FieldPath) -> bool {
        let mut present = false;
        self.visit(path, &mut |v| {
            present = !matches!(v, Val::Null);
            present
        });
        present
    }

    /// Every scalar value of `path`, as text.
    pub(crate) fn texts(&self, path: &FieldPath) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(path, &mut |v| {
            if let Some(t) = v.text() {
                out.push(t.into_owned());
            }
            false
        });
        out
    }

    /// Calls `f` with every string in the raw event (keyword search) until it returns `true`.
    pub(crate) fn any_string(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        fn walk(node: &Tree<'_>, f: &mut dyn FnMut(&str) -> bool) -> bool {
            match node {
                Tree::Str(s) => f(s),
                Tree::Arr(items) => items.iter().any(|i| walk(i, f)),
                Tree::Obj(entries) => entries.iter().any(|(_, v)| walk(v, f)),
                Tree::Null | Tree::Bool(_) | Tree::Num(_) => false,
            }
        }
        walk(&self.raw, f)
    }
}

struct Walker<'w, 'f> {
    f: &'f mut dyn FnMut(Val<'_>) -> bool,
    found: bool,
    done: bool,
    embedded: &'w Embedded,
}

impl Walker<'_, '_> {
    fn walk(&mut self, node: &Tree<'_>, segments: &[Segment]) {
        if self.done {
            return;
        }
        match (node, segments.split_first()) {
            (Tree::Arr(items), _) => {
                for item in items {
                    self.walk(item, segments);
                }
            }
            (_, None) => {
                self.found = true;
                let val = match node {
                    Tree::Null => Val::Null,
                    Tree::Bool(b) => Val::Bool(*b),
                    Tree::Num(n) => Val::Num(*n),
                    Tree::Str(s) => Val::Str(s),
                    Tree::Arr(_) | Tree::Obj(_) => Val::Object,
                };
                self.done = (self.f)(val);
            }
            (Tree::Obj(entries), Some((segment, rest))) => {
                for (key, value) in entries {
                    if key_eq_known(key, &segment.key, segment.ascii) {
                        match &segment.select {
                            Some((k, v)) => self.walk_selected(value, k, v, rest),
                            None => self.walk(value, rest),
                        }
                    }
                }
            }
            (Tree::Str(text), Some(_)) => {
                if let Some(parsed) = self.embedded_map(text) {
                    self.walk(&parsed, segments);
                }
            }
            (Tree::Null | Tree::Bool(_) | Tree::Num(_), Some(_)) => {}
        }
    }

    /// `[key=value]`: only the elements (or the object) whose `key` equals `value`.
    fn walk_selected(&mut self, node: &Tree<'_>, key: &str, want: &str, rest: &[Segment]) {
        match node {
            Tree::Arr(items) => {
                for item in items {
                    self.walk_selected(item, key, want, rest);
                }
            }
            Tree::Obj(entries) => {
                let selected = entries.iter().any(|(k, v)| {
                    key_eq(k, key)
                        && match v {
                            Tree::Str(s) => key_eq(s, want),
                            Tree::Num(n) => n.text() == want,
                            Tree::Bool(b) => b.to_string() == want,
                            _ => false,
                        }
                });
                if selected {
                    self.walk(node, rest);
                }
            }
            _ => {}
        }
    }

    /// A string that holds a map, parsed once per event.
    fn embedded_map(&self, text: &str) -> Option<Rc<Tree<'static>>> {
        let trimmed = text.trim();
        if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
            return None;
        }
        let key = (text.as_ptr() as usize, text.len());
        if let Some((_, _, parsed)) = self.embedded.borrow().iter().find(|(p, l, _)| (*p, *l) == key) {
            return parsed.clone();
        }
        let parsed = parse_embedded(trimmed).map(Rc::new);
        self.embedded.borrow_mut().push((key.0, key.1, parsed.clone()));
        parsed
    }
}

/// `{"a":1}` (JSON) or `{New IP=POSITIVE, ...}` (Java's map form) as a tree.
fn parse_embedded(text: &str) -> Option<Tree<'static>> {
    if text[1..].trim_start().starts_with('"') {
        return serde_json::from_str::<Tree<'_>>(text).ok().map(Tree::into_owned);
    }
    parse_java_map(text).map(|m| Tree::from_json(&Value::Object(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(view: &EventView<'_>, path: &str) -> Vec<String> {
        view.texts(&FieldPath::parse(path).unwrap())
    }

    const EVENT: &str = r#"{"eventType":"user.session.start","Actor":{"alternateId":"a@example.com"},
        "target":[{"type":"User","alternateId":"u@example.com","displayName":"U"},
                  {"type":"AppInstance","alternateId":"app","displayName":"Okta Admin Console"}],
        "debugContext":{"debugData":{"behaviors":"{New IP=POSITIVE, New Device=NEGATIVE}",
            "logOnlySecurityData":"{\"behaviors\":{\"New Device\":\"POSITIVE\"},\"risk\":{\"level\":\"HIGH\"}}"}},
        "securityContext":{"isProxy":true,"asNumber":42}}"#;
    const ECS: &str =
        r#"{"event":{"action":"user.session.start"},"source":{"ip":"203.0.113.9"},"user":{"name":"a@example.com"}}"#;

    #[test]
    fn keys_are_case_insensitive_on_both_sides() {
        let view = EventView::new(EVENT, ECS);
        assert_eq!(texts(&view, "EVENTTYPE"), ["user.session.start"]);
        assert_eq!(texts(&view, "actor.AlternateId"), ["a@example.com"]);
    }

    #[test]
    fn arrays_any_element_and_selection() {
        let view = EventView::new(EVENT, ECS);
        assert_eq!(texts(&view, "target.alternateId"), ["u@example.com", "app"]);
        assert_eq!(texts(&view, "target[type=user].alternateId"), ["u@example.com"]);
        assert_eq!(texts(&view, "target[Type=AppInstance].displayName"), ["Okta Admin Console"]);
        assert!(texts(&view, "target[type=Group].alternateId").is_empty());
    }

    #[test]
    fn ecs_is_the_fallback() {
        let view = EventView::new(EVENT, ECS);
        assert_eq!(texts(&view, "source.ip"), ["203.0.113.9"]);
        assert_eq!(texts(&view, "event.action"), ["user.session.start"]);
        assert!(view.ecs.get().is_some());
        let view = EventView::new(EVENT, ECS);
        texts(&view, "eventType");
        texts(&view, "actor.nothing");
        assert!(view.ecs.get().is_none(), "raw-only paths never parse the ECS document");
    }

    #[test]
    fn debug_data_strings_are_maps() {
        let view = EventView::new(EVENT, ECS);
        assert_eq!(texts(&view, "debugContext.debugData.behaviors.New IP"), ["POSITIVE"]);
        assert_eq!(texts(&view, "debugcontext.debugdata.behaviors.new device"), ["NEGATIVE"]);
        assert_eq!(texts(&view, "debugContext.debugData.logOnlySecurityData.risk.level"), ["HIGH"]);
        assert_eq!(texts(&view, "debugContext.debugData.logOnlySecurityData.behaviors.New Device"), ["POSITIVE"]);
        assert_eq!(view.embedded.borrow().len(), 2);
    }

    #[test]
    fn scalars_as_text() {
        let view = EventView::new(EVENT, ECS);
        assert_eq!(texts(&view, "securityContext.isProxy"), ["true"]);
        assert_eq!(texts(&view, "securityContext.asNumber"), ["42"]);
        assert!(view.exists(&FieldPath::parse("securityContext").unwrap()));
        assert!(!view.exists(&FieldPath::parse("securityContext.nope").unwrap()));
    }

    #[test]
    fn bad_paths_say_why() {
        assert!(FieldPath::parse("a..b").unwrap_err().contains("empty part"));
        assert!(FieldPath::parse("target[type=User").unwrap_err().contains("without closing"));
        assert!(FieldPath::parse("target[User].x").unwrap_err().contains("key=value"));
        assert_eq!(FieldPath::parse("eventType").unwrap().single_key(), Some("eventtype"));
    }
}
