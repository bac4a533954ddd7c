//! One raw event as a light JSON tree, read from its text once, in an arena.
//!
//! Strings borrow from the text unless they hold escapes; arrays, objects and the strings that
//! held escapes are allocated in a [`Bump`] the caller resets between events, so building a tree
//! costs no allocator calls and dropping it costs nothing. Detection walks the tree (the field resolver
//! in `detect/field.rs`); when every event meets some rule (as with the built-in pack), the typed
//! [`LogEvent`] is read from the same tree through [`TreeDeserializer`] instead of from the text,
//! so the text is scanned once.
//!
//! [`LogEvent`]: super::event::LogEvent

use std::fmt;
use std::ops::Deref;

use bumpalo::Bump;
use serde::de::value::Error;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
#[cfg(test)]
use serde_json::Value;

use super::split;

/// A JSON value, its strings borrowed from the text it was read from where possible, its
/// arrays, objects and other strings in an arena.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tree<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Text<'a>),
    Arr(&'a [Tree<'a>]),
    Obj(&'a [(Text<'a>, Tree<'a>)]),
}

/// A string of a [`Tree`], and whether it is lent from the text (it held no escapes there), as
/// serde_json lends it: a typed read from the tree makes serde_json's visitor call for it.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Text<'a> {
    text: &'a str,
    lent: bool,
}

impl<'a> Text<'a> {
    /// A string not read from an event's text (a typed read copies it).
    pub(crate) fn new(text: &'a str) -> Text<'a> {
        Text { text, lent: false }
    }

    pub(crate) fn as_str(self) -> &'a str {
        self.text
    }
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.text
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lent { write!(f, "{:?}", self.text) } else { write!(f, "Owned({:?})", self.text) }
    }
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

impl<'a> Tree<'a> {
    /// A `serde_json` value as a tree in `arena`.
    #[cfg(test)]
    pub(crate) fn from_json(value: &Value, arena: &'a Bump) -> Tree<'a> {
        let text = |s: &str| Text::new(arena.alloc_str(s));
        match value {
            Value::Null => Tree::Null,
            Value::Bool(b) => Tree::Bool(*b),
            Value::Number(n) => Tree::Num(num_of(n)),
            Value::String(s) => Tree::Str(text(s)),
            Value::Array(items) => {
                Tree::Arr(arena.alloc_slice_fill_iter(items.iter().map(|item| Tree::from_json(item, arena))))
            }
            Value::Object(map) => {
                Tree::Obj(arena.alloc_slice_fill_iter(map.iter().map(|(k, v)| (text(k), Tree::from_json(v, arena)))))
            }
        }
    }
}

/// Reads `text` into a tree in `arena`: exactly the tree serde_json reads (the same values, the
/// same strings lent), and `None` for exactly the texts it refuses.
///
/// It shares the page splitter's scanner (`split.rs`) for strings, numbers and whitespace. The
/// rare parts whose value takes real work, numbers and strings with escapes, are handed to
/// serde_json itself, so they come out the same to the bit (a float's rounding, a `\u` surrogate
/// pair, an out-of-range number refused). Like serde_json, it refuses more than 127 nested
/// arrays and objects.
pub(crate) fn parse<'a>(text: &'a str, arena: &'a Bump) -> Option<Tree<'a>> {
    parse_in(text, arena, &mut Stacks::default())
}

/// [`parse`] with the reader's stacks of an earlier parse, so that reading one event after
/// another does not grow new ones each time.
pub(crate) fn parse_in<'a>(text: &'a str, arena: &'a Bump, stacks: &mut Stacks) -> Option<Tree<'a>> {
    let Stacks { items, entries } = std::mem::take(stacks);
    let mut reader = Reader {
        text,
        b: text.as_bytes(),
        depth: 0,
        arena,
        items: crate::relabel(items),
        entries: crate::relabel(entries),
    };
    let read = reader.value(split::skip_ws(reader.b, 0));
    *stacks = Stacks { items: crate::relabel(reader.items), entries: crate::relabel(reader.entries) };
    let (tree, end) = read?;
    (split::skip_ws(reader.b, end) == text.len()).then_some(tree)
}

/// The reader's stacks, kept empty between parses.
#[derive(Debug, Default)]
pub(crate) struct Stacks {
    items: Vec<Tree<'static>>,
    entries: Vec<(Text<'static>, Tree<'static>)>,
}

/// Empties `arena` for the next event. An arena an unusual event grew past
/// [`ARENA_KEEPS_AT_MOST`] is let go instead, so one huge event does not hold its memory for the
/// engine's life.
pub(crate) fn reset(arena: &mut Bump) {
    if arena.allocated_bytes() > ARENA_KEEPS_AT_MOST {
        *arena = Bump::new();
    } else {
        arena.reset();
    }
}

/// The most bytes an arena keeps from one event to the next (see [`reset`]).
pub(crate) const ARENA_KEEPS_AT_MOST: usize = 1 << 20;

/// serde_json refuses to enter a container when this many are open.
const MAX_DEPTH: u32 = 128;

struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    /// Arrays and objects open around the current position.
    depth: u32,
    arena: &'a Bump,
    /// The members read so far of the open arrays and objects, innermost last. A container
    /// copies its own off the top into the arena when it closes.
    items: Vec<Tree<'a>>,
    entries: Vec<(Text<'a>, Tree<'a>)>,
}

impl<'a> Reader<'a> {
    /// The value at `i` (no whitespace before it), and where it ends.
    fn value(&mut self, i: usize) -> Option<(Tree<'a>, usize)> {
        match *self.b.get(i)? {
            b'"' => self.string(i).map(|(s, end)| (Tree::Str(s), end)),
            b'{' => self.object(i),
            b'[' => self.array(i),
            b't' => Some((Tree::Bool(true), split::literal(self.b, i, b"true")?)),
            b'f' => Some((Tree::Bool(false), split::literal(self.b, i, b"false")?)),
            b'n' => Some((Tree::Null, split::literal(self.b, i, b"null")?)),
            b'-' | b'0'..=b'9' => {
                let end = split::number(self.b, i)?;
                let number: serde_json::Number = serde_json::from_str(self.text.get(i..end)?).ok()?;
                Some((Tree::Num(num_of(&number)), end))
            }
            _ => None,
        }
    }

    /// The string whose opening quote is at `i`, lent from the text unless it holds escapes.
    #[inline(always)]
    fn string(&self, i: usize) -> Option<(Text<'a>, usize)> {
        let (end, escaped) = split::string(self.b, i + 1)?;
        let s = if escaped {
            let unescaped = serde_json::from_str::<String>(self.text.get(i..end)?).ok()?;
            Text { text: self.arena.alloc_str(&unescaped), lent: false }
        } else {
            Text { text: self.text.get(i + 1..end - 1)?, lent: true }
        };
        Some((s, end))
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth < MAX_DEPTH).then_some(())
    }

    fn array(&mut self, i: usize) -> Option<(Tree<'a>, usize)> {
        self.enter()?;
        let base = self.items.len();
        let mut i = split::skip_ws(self.b, i + 1);
        if self.b.get(i) != Some(&b']') {
            loop {
                let (item, end) = self.value(i)?;
                self.items.push(item);
                i = split::skip_ws(self.b, end);
                match *self.b.get(i)? {
                    b',' => i = split::skip_ws(self.b, i + 1),
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        let items = self.arena.alloc_slice_copy(&self.items[base..]);
        self.items.truncate(base);
        Some((Tree::Arr(items), i + 1))
    }

    fn object(&mut self, i: usize) -> Option<(Tree<'a>, usize)> {
        self.enter()?;
        let base = self.entries.len();
        let mut i = split::skip_ws(self.b, i + 1);
        if self.b.get(i) != Some(&b'}') {
            loop {
                if self.b.get(i) != Some(&b'"') {
                    return None;
                }
                let (key, end) = self.string(i)?;
                i = split::skip_ws(self.b, end);
                if self.b.get(i) != Some(&b':') {
                    return None;
                }
                let (value, end) = self.value(split::skip_ws(self.b, i + 1))?;
                self.entries.push((key, value));
                i = split::skip_ws(self.b, end);
                match *self.b.get(i)? {
                    b',' => i = split::skip_ws(self.b, i + 1),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        let entries = self.arena.alloc_slice_copy(&self.entries[base..]);
        self.entries.truncate(base);
        Some((Tree::Obj(entries), i + 1))
    }
}

/// A number as serde_json hands it to a visitor: `u64` when it is a non-negative integer, `i64`
/// when a negative one, `f64` otherwise.
fn num_of(n: &serde_json::Number) -> Num {
    if let Some(u) = n.as_u64() {
        Num::U(u)
    } else if let Some(i) = n.as_i64() {
        Num::I(i)
    } else {
        Num::F(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Reads a type from a [`Tree`] exactly as serde_json reads it from the text the tree was read
/// from: the same visitor calls in the same order (strings the text held unescaped are lent with
/// the text's lifetime, numbers keep their kind, repeated keys stay repeated). So a type reads alike
/// either way, and whatever serde_json would refuse at this level (a repeated field, an array a
/// visitor leaves half read) is refused here too, and the caller falls back to the text.
pub(crate) struct TreeDeserializer<'t, 'a>(pub(crate) &'t Tree<'a>);

impl<'a> Deserializer<'a> for TreeDeserializer<'_, 'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Tree::Null => visitor.visit_unit(),
            Tree::Bool(b) => visitor.visit_bool(*b),
            Tree::Num(Num::I(i)) => visitor.visit_i64(*i),
            Tree::Num(Num::U(u)) => visitor.visit_u64(*u),
            Tree::Num(Num::F(f)) => visitor.visit_f64(*f),
            Tree::Str(s) => visit_text(*s, visitor),
            Tree::Arr(items) => {
                let mut access = Items { rest: items.iter() };
                let value = visitor.visit_seq(&mut access)?;
                match access.rest.len() {
                    0 => Ok(value),
                    left => Err(serde::de::Error::invalid_length(items.len() - left, &"every element read")),
                }
            }
            Tree::Obj(entries) => {
                let mut access = Entries { rest: entries.iter(), value: None };
                let value = visitor.visit_map(&mut access)?;
                match access.rest.len() {
                    0 => Ok(value),
                    left => Err(serde::de::Error::invalid_length(entries.len() - left, &"every entry read")),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Tree::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// Skipped values need no walk: the tree is already read.
    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct enum identifier
    }
}

/// A string as serde_json hands it over: lent when the text held it unescaped, copied otherwise.
fn visit_text<'a, V: Visitor<'a>>(s: Text<'a>, visitor: V) -> Result<V::Value, Error> {
    if s.lent { visitor.visit_borrowed_str(s.text) } else { visitor.visit_str(s.text) }
}

struct Items<'t, 'a> {
    rest: std::slice::Iter<'t, Tree<'a>>,
}

impl<'a> SeqAccess<'a> for Items<'_, 'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.rest.next().map(|item| seed.deserialize(TreeDeserializer(item))).transpose()
    }
}

struct Entries<'t, 'a> {
    rest: std::slice::Iter<'t, (Text<'a>, Tree<'a>)>,
    value: Option<&'t Tree<'a>>,
}

impl<'a> MapAccess<'a> for Entries<'_, 'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.rest.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(KeyDeserializer(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(TreeDeserializer(value)),
            None => Err(serde::de::Error::custom("a value was asked for before its key")),
        }
    }
}

/// An object key: always a string.
struct KeyDeserializer<'t, 'a>(&'t Text<'a>);

impl<'a> Deserializer<'a> for KeyDeserializer<'_, 'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visit_text(*self.0, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;

    use serde::Deserialize;

    use super::*;
    use crate::decode::event::LogEvent;
    use crate::decode::lenient::Field;

    /// How a text reads as `T`: from the text, and from the tree read from that text. `None` for
    /// a refusal (the caller then takes the text path, so only agreement on success matters, and
    /// that the tree refuses whatever the text refuses).
    fn both<'a, T: Deserialize<'a> + fmt::Debug>(text: &'a str, arena: &'a Bump) -> (Option<String>, Option<String>) {
        let direct = serde_json::from_str::<T>(text).ok().map(|v| format!("{v:?}"));
        let tree = oracle(text, arena).expect("the tests' texts are JSON");
        let via_tree = T::deserialize(TreeDeserializer(&tree)).ok().map(|v| format!("{v:?}"));
        (direct, via_tree)
    }

    fn golden_texts() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/normalize");
        let mut texts: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        texts.sort();
        texts
    }

    /// Every golden event's text, then the same events with their top-level keys lowercased
    /// (as Sigma's older Okta rules and some pipelines have them); for the tests of the readers.
    pub(crate) fn golden_events_also_lowercased() -> Vec<String> {
        let mut texts = golden_texts();
        let lowered: Vec<String> = texts
            .iter()
            .filter_map(|text| match serde_json::from_str::<Value>(text).ok()? {
                Value::Object(map) => {
                    Some(Value::Object(map.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect()).to_string())
                }
                _ => None,
            })
            .collect();
        texts.extend(lowered);
        texts
    }

    /// Every golden event, the same with lowercased top-level keys, and hand-made oddities read
    /// into the same `LogEvent` from the tree as from the text: every field, its value, and
    /// whether it was converted or refused. Strings without escapes still borrow from the text.
    #[test]
    fn a_log_event_reads_alike_from_its_tree_and_from_its_text() {
        let mut texts = golden_events_also_lowercased();
        texts.extend(
            [
                // Escapes (owned strings), numbers of every kind where strings are expected and
                // the reverse, wrong kinds everywhere, unknown keys at every level.
                r#"{"uuid":"a\"b\u00e9","published":17,"eventType":true,"version":-3,"severity":1.5e3,
                    "actor":{"id":null,"type":["x"],"alternateId":{"a":1},"detailEntry":{"k":[1,-2,3.25,"\n"]},"extra":{"deep":[{}]}},
                    "client":{"geographicalContext":{"geolocation":{"lat":"37.5","lon":-122}},"ipAddress":18446744073709551615,"zone":"z\/y"},
                    "securityContext":{"asNumber":"13335","isProxy":"TRUE","risk":"{level=HIGH}","ipDetails":[1]},
                    "authenticationContext":{"authenticationStep":2.0,"issuer":"nope"},
                    "debugContext":{"debugData":{"b":"2","a":"1","b":"3","n":4,"o":{"x":[null]}}},
                    "outcome":{"result":"SUCCESS","reason":9223372036854775807},
                    "target":[{"id":"t1","detailEntry":null},7,null,[{"id":"nested"}],{"alternateId":"\u0041"}],
                    "device":{"id":"d","name":"n","nested":{"a":[true,false]}},
                    "transaction":"x","request":{"ipChain":[{"ip":"1.2.3.4","geographicalContext":{"city":"\u00c9vry"}},"odd"]}}"#,
                r#"{"target":{"id":"not an array"},"actor":[],"client":"str","outcome":null,"debugContext":{"debugData":"str"}}"#,
                r#"{}"#,
                r#"{"eventType":"x","eventType":"y"}"#,
                r#"{"actor":{"id":"a","id":"b"}}"#,
                r#"{"target":[{"id":"a","id":"b"}]}"#,
            ]
            .map(String::from),
        );
        let mut refused = 0;
        let arena = Bump::new();
        for text in &texts {
            let (direct, via_tree) = both::<LogEvent<'_>>(text, &arena);
            assert_eq!(direct, via_tree, "{text}");
            refused += usize::from(direct.is_none());
        }
        assert_eq!(refused, 3, "the three texts with a repeated struct field are refused both ways");

        let text = r#"{"eventType":"user.session.start","uuid":"a\u0062"}"#;
        let tree = parse(text, &arena).unwrap();
        let event = LogEvent::deserialize(TreeDeserializer(&tree)).unwrap();
        assert!(matches!(event.event_type, Field::Value(Cow::Borrowed("user.session.start"))));
        assert!(matches!(event.uuid, Field::Value(Cow::Owned(ref s)) if s == "ab"));

        // A page: the array of events, as the compact page path reads it.
        let page = format!("[{}]", golden_texts().join(","));
        let (direct, via_tree) = both::<Vec<Field<LogEvent<'_>>>>(&page, &arena);
        assert!(direct.is_some());
        assert_eq!(direct, via_tree);
    }

    /// The free-form parts are `serde_json` values; they read alike, numbers' kinds included.
    #[test]
    fn json_values_read_alike_from_a_tree() {
        for text in [
            r#"[1,-1,1.0,-0.0,1e308,18446744073709551615,-9223372036854775808,"s","\u00e9\"",null,true,{"a":{"b":[]},"a":2}]"#,
            r#"{"k":{"nested":[{"x":1}]},"e":{}}"#,
        ] {
            let (direct, via_tree) = both::<Value>(text, &Bump::new());
            assert!(direct.is_some(), "{text}");
            assert_eq!(direct, via_tree, "{text}");
        }
    }

    /// serde_json's own read of a text as a tree in `arena`, which [`parse`] must match: its
    /// visitor calls, with what they lend kept lent.
    fn oracle<'a>(text: &'a str, arena: &'a Bump) -> Option<Tree<'a>> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let tree = Oracle(arena).deserialize(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        Some(tree)
    }

    #[derive(Clone, Copy)]
    struct Oracle<'a>(&'a Bump);

    impl<'de: 'a, 'a> DeserializeSeed<'de> for Oracle<'a> {
        type Value = Tree<'a>;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tree<'a>, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de: 'a, 'a> Visitor<'de> for Oracle<'a> {
        type Value = Tree<'a>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_unit<E>(self) -> Result<Tree<'a>, E> {
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
            Ok(Tree::Str(Text { text: v, lent: true }))
        }
        fn visit_str<E>(self, v: &str) -> Result<Tree<'a>, E> {
            Ok(Tree::Str(Text { text: self.0.alloc_str(v), lent: false }))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree<'a>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(self)? {
                items.push(item);
            }
            Ok(Tree::Arr(self.0.alloc_slice_copy(&items)))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree<'a>, A::Error> {
            let mut entries = Vec::new();
            while let Some(Tree::Str(key)) = map.next_key_seed(KeyOracle(self))? {
                entries.push((key, map.next_value_seed(self)?));
            }
            Ok(Tree::Obj(self.0.alloc_slice_copy(&entries)))
        }
    }

    /// An object key, read by [`Oracle`] as a string.
    struct KeyOracle<'a>(Oracle<'a>);

    impl<'de: 'a, 'a> DeserializeSeed<'de> for KeyOracle<'a> {
        type Value = Tree<'a>;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tree<'a>, D::Error> {
            deserializer.deserialize_str(self.0)
        }
    }

    /// Same tree, and the same strings lent from the text.
    fn same(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let arena = Bump::new();
        let (ours, theirs) = (parse(text, &arena), oracle(text, &arena));
        proptest::prop_assert_eq!(&ours, &theirs, "{:?}", text);
        Ok(())
    }

    #[test]
    fn parse_reads_every_golden_event_as_serde_json_does() {
        for text in golden_events_also_lowercased() {
            assert!(parse(&text, &Bump::new()).is_some(), "{text}");
            same(&text).unwrap();
        }
        let cut = &golden_texts()[0];
        for end in (0..cut.len()).filter(|e| cut.is_char_boundary(*e)) {
            same(&cut[..end]).unwrap();
        }
    }

    #[test]
    fn parse_refuses_what_serde_json_refuses_and_keeps_its_numbers() {
        for text in [
            "",
            " ",
            "1",
            "-0",
            "-0.0",
            "0.1",
            "1e308",
            "1e309",
            "-1e400",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "1.7976931348623157e308",
            "2.2250738585072011e-308",
            "4.9e-324",
            "0.30000000000000004",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "[\"\\ud800\"]",
            "[\"\\udc00\\ud800\"]",
            "[\"\\ud83d\\ude00\"]",
            "\"\\u0000\"",
            "\"tab\tin\"",
            "[\"\u{1}\"]",
            "{\"k\":\"v\",\"k\":\"w\"}",
            "[] x",
            "[]]",
            "{}}",
            "nul",
            "truee",
            "[01]",
            "[1.e3]",
        ] {
            same(text).unwrap();
        }
        // serde_json refuses the 128th open container.
        for depth in [126, 127, 128, 129, 300] {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            same(&arrays).unwrap();
            let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            same(&objects).unwrap();
            assert_eq!(parse(&arrays, &Bump::new()).is_some(), depth <= 127, "{depth}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn parse_reads_any_json_as_serde_json_does(value in crate::decode::split::tests::any_json(), pretty in proptest::prelude::any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
            proptest::prop_assert!(parse(&text, &Bump::new()).is_some());
            same(&text)?;
        }

        #[test]
        fn parse_reads_any_token_soup_as_serde_json_does(tokens in proptest::collection::vec(crate::decode::split::tests::token(), 0..24)) {
            same(&tokens.concat())?;
            same(&format!("{{\"k\":[{}]}}", tokens.concat()))?;
        }

        #[test]
        fn parse_reads_any_text_as_serde_json_does(text in ".{0,48}") {
            same(&text)?;
        }
    }

    /// An event's arena keeps its memory for the next event, unless the event grew it past the
    /// cap; and a tree read after a reset reads as one read in a new arena.
    #[test]
    fn an_arena_is_kept_up_to_the_cap_and_reads_alike_after_a_reset() {
        let text = &golden_texts()[0];
        let mut arena = Bump::new();
        let first = format!("{:?}", parse(text, &arena).unwrap());
        // Reset keeps the newest chunk, which soon holds a whole event.
        let mut kept = Vec::new();
        for _ in 0..4 {
            reset(&mut arena);
            kept.push(arena.allocated_bytes());
            assert_eq!(format!("{:?}", parse(text, &arena).unwrap()), first);
        }
        assert!(kept[0] > 0, "a small arena keeps memory");
        assert_eq!(kept[2..], [kept[1]; 2], "the same event fits in the kept chunk: {kept:?}");

        let huge = format!("[{}]", vec![text.as_str(); 1 + ARENA_KEEPS_AT_MOST / text.len()].join(","));
        assert!(parse(&huge, &arena).is_some());
        assert!(arena.allocated_bytes() > ARENA_KEEPS_AT_MOST);
        reset(&mut arena);
        assert_eq!(arena.allocated_bytes(), 0, "an arena grown past the cap is let go");
        assert_eq!(format!("{:?}", parse(text, &arena).unwrap()), first);
    }

    /// A visitor that stops before the end of an array or object is refused, as serde_json
    /// refuses it (it would be left with unread input).
    #[test]
    fn a_half_read_array_or_object_is_refused() {
        assert!(serde_json::from_str::<(i64,)>("[1,2]").is_err());
        let arena = Bump::new();
        let tree = oracle("[1,2]", &arena).unwrap();
        assert!(<(i64,)>::deserialize(TreeDeserializer(&tree)).is_err());
        let tree = oracle("[1]", &arena).unwrap();
        assert_eq!(<(i64,)>::deserialize(TreeDeserializer(&tree)).unwrap(), (1,));
    }
}
