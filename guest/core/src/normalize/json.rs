//! A small JSON writer for the ECS document types.
//!
//! Documents are written field by field with keys that are known at compile time, so keys are
//! copied, not escaped, and nothing is built in between. Strings are escaped exactly as serde_json
//! escapes them, and free-form JSON (`serde_json::Value`) is written by serde_json itself, so the
//! output is the same bytes serde would give, at a fraction of the cost.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::decode::split::first_special;

/// "Nothing worth writing": such fields are left out of the document.
pub trait Empty {
    fn is_empty(&self) -> bool;
}

/// Writes `self` as JSON onto `out`.
pub trait WriteJson {
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A value of a typed document as the field resolver reads it (`detect/field.rs`), so rules read
/// the ECS document we built without it being written out and parsed again. What [`AsNode`]
/// gives is exactly what [`WriteJson`] writes: empty fields are absent, non-finite numbers null.
#[derive(Clone, Copy)]
pub(crate) enum Node<'n> {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    /// A string that lives as long as the document.
    Str(&'n str),
    /// A string made for this call only (it may not be remembered by its address).
    Temp(&'n str),
    /// A non-negative integer beyond `i64` (only free-form JSON has them).
    U64(u64),
    Object(&'n dyn Members),
    Array(&'n dyn Items),
}

/// The members of an object, in written order: `f(key, value)` until it returns `true`.
pub(crate) trait Members {
    fn members(&self, f: &mut dyn FnMut(&str, Node<'_>) -> bool) -> bool;
}

/// The elements of an array: `f(value)` until it returns `true`.
pub(crate) trait Items {
    fn items(&self, f: &mut dyn FnMut(Node<'_>) -> bool) -> bool;
}

/// A value as a [`Node`]; `None` when it would not be written.
pub(crate) trait AsNode {
    fn as_node(&self) -> Option<Node<'_>>;
}

impl<T: AsNode> AsNode for Option<T> {
    fn as_node(&self) -> Option<Node<'_>> {
        self.as_ref().and_then(AsNode::as_node)
    }
}

impl<T: AsNode> Items for Vec<T> {
    fn items(&self, f: &mut dyn FnMut(Node<'_>) -> bool) -> bool {
        self.iter().any(|item| f(item.as_node().unwrap_or(Node::Null)))
    }
}

impl<T: AsNode> AsNode for Vec<T> {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Array(self))
    }
}

impl<T: AsNode> Items for &[T] {
    fn items(&self, f: &mut dyn FnMut(Node<'_>) -> bool) -> bool {
        self.iter().any(|item| f(item.as_node().unwrap_or(Node::Null)))
    }
}

impl<T: AsNode> AsNode for &[T] {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Array(self))
    }
}

impl AsNode for Cow<'_, str> {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Str(self))
    }
}

impl AsNode for String {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Str(self))
    }
}

impl AsNode for &str {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Str(self))
    }
}

impl AsNode for bool {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Bool(*self))
    }
}

impl AsNode for i64 {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::I64(*self))
    }
}

impl AsNode for f64 {
    fn as_node(&self) -> Option<Node<'_>> {
        // serde_json writes NaN and the infinities as null.
        Some(if self.is_finite() { Node::F64(*self) } else { Node::Null })
    }
}

/// Free-form JSON (`serde_json::Value`) as a [`Node`].
fn json_node(value: &Value) -> Node<'_> {
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Node::I64(i),
            (None, Some(u)) => Node::U64(u),
            (None, None) => n.as_f64().map_or(Node::Null, Node::F64),
        },
        Value::String(s) => Node::Str(s),
        Value::Array(items) => Node::Array(items),
        Value::Object(map) => Node::Object(map),
    }
}

impl Members for Map<String, Value> {
    fn members(&self, f: &mut dyn FnMut(&str, Node<'_>) -> bool) -> bool {
        self.iter().any(|(k, v)| f(k, json_node(v)))
    }
}

impl AsNode for Map<String, Value> {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Object(self))
    }
}

impl AsNode for Value {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(json_node(self))
    }
}

impl<T> Empty for Option<T> {
    fn is_empty(&self) -> bool {
        self.is_none()
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T> Empty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_slice().write_json(out);
    }
}

impl<T> Empty for &[T] {
    fn is_empty(&self) -> bool {
        <[T]>::is_empty(self)
    }
}

impl<T: WriteJson> WriteJson for &[T] {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out);
        }
        out.push(b']');
    }
}

impl WriteJson for Cow<'_, str> {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl WriteJson for &str {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl WriteJson for i64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("writing to a Vec cannot fail");
    }
}

impl WriteJson for f64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("writing to a Vec cannot fail");
    }
}

impl Empty for Map<String, Value> {
    fn is_empty(&self) -> bool {
        Map::is_empty(self)
    }
}

impl WriteJson for Map<String, Value> {
    fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("writing to a Vec cannot fail");
    }
}

impl WriteJson for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("writing to a Vec cannot fail");
    }
}

/// What each byte needs when written inside a JSON string: 0 for nothing, else the escape letter
/// (`u` for `\u00XX`). The same escapes serde_json writes.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes `s` as a JSON string.
///
/// Most strings need no escape at all, so it skips eight bytes at a time while none of them does
/// (a word test, the same natively and in wasm, that also tells where the first one that does
/// sits), and looks at single bytes only at escapes and in the last few bytes.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // As `decode::split::skip_plain`, written out: the call form compiles to a slower loop
        // here (4 k more instructions per event).
        if let Some(&word) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            match first_special(u64::from_le_bytes(word)) {
                None => {
                    i += 8;
                    continue;
                }
                Some(at) => i += at,
            }
        }
        let b = bytes[i];
        let escape = ESCAPE[b as usize];
        if escape != 0 {
            out.extend_from_slice(&bytes[start..i]);
            if escape == b'u' {
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
            } else {
                out.extend_from_slice(&[b'\\', escape]);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes a JSON object member by member, for documents with a fixed shape written by hand (the
/// alert document). Keys given as `&'static str` are written as they are (they must need no
/// escape); values, and the keys of [`ObjectWriter::pairs`], are escaped by [`write_str`].
pub(crate) struct ObjectWriter<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    /// Writes `{`, then `fill`'s members, then `}`.
    pub(crate) fn write(out: &'o mut Vec<u8>, fill: impl FnOnce(&mut ObjectWriter<'_>)) {
        out.push(b'{');
        let mut object = ObjectWriter { out, first: true };
        fill(&mut object);
        object.out.push(b'}');
    }

    fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        debug_assert!(!key.bytes().any(|b| ESCAPE[usize::from(b)] != 0), "key {key:?} needs an escape");
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub(crate) fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        write_str(self.key(key), value);
        self
    }

    pub(crate) fn int(&mut self, key: &'static str, value: impl itoa::Integer) -> &mut Self {
        self.key(key).extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// An array of strings.
    pub(crate) fn strs<'s>(&mut self, key: &'static str, values: impl IntoIterator<Item = &'s str>) -> &mut Self {
        let out = self.key(key);
        out.push(b'[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, value);
        }
        out.push(b']');
        self
    }

    /// An object of string members, in the order given.
    pub(crate) fn pairs<'s>(
        &mut self,
        key: &'static str,
        pairs: impl IntoIterator<Item = (&'s str, &'s str)>,
    ) -> &mut Self {
        let out = self.key(key);
        out.push(b'{');
        for (i, (name, value)) in pairs.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, name);
            out.push(b':');
            write_str(out, value);
        }
        out.push(b'}');
        self
    }

    /// A nested object.
    pub(crate) fn object(&mut self, key: &'static str, fill: impl FnOnce(&mut ObjectWriter<'_>)) -> &mut Self {
        ObjectWriter::write(self.key(key), fill);
        self
    }
}

/// Declares an ECS object: a struct with `Default`, written as a JSON object whose keys are the
/// field names (or the `as "key"` given), skipping empty fields; the object is itself empty when
/// all its fields are.
macro_rules! ecs_object {
    ($(#[$meta:meta])* pub struct $name:ident $(<$lt:lifetime>)? {
        $($(#[$fmeta:meta])* pub $field:ident $(as $key:literal)? : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default)]
        pub struct $name $(<$lt>)? {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $(<$lt>)? $crate::normalize::json::Empty for $name $(<$lt>)? {
            fn is_empty(&self) -> bool {
                true $(&& $crate::normalize::json::Empty::is_empty(&self.$field))*
            }
        }

        impl $(<$lt>)? $crate::normalize::json::Members for $name $(<$lt>)? {
            fn members(
                &self,
                f: &mut dyn FnMut(&str, $crate::normalize::json::Node<'_>) -> bool,
            ) -> bool {
                $(
                    if !$crate::normalize::json::Empty::is_empty(&self.$field)
                        && let Some(node) = $crate::normalize::json::AsNode::as_node(&self.$field)
                        && f($crate::normalize::json::ecs_key!($field $(, $key)?), node)
                    {
                        return true;
                    }
                )*
                false
            }
        }

        impl $(<$lt>)? $crate::normalize::json::AsNode for $name $(<$lt>)? {
            fn as_node(&self) -> Option<$crate::normalize::json::Node<'_>> {
                Some($crate::normalize::json::Node::Object(self))
            }
        }

        impl $(<$lt>)? $crate::normalize::json::WriteJson for $name $(<$lt>)? {
            fn write_json(&self, out: &mut Vec<u8>) {
                out.push(b'{');
                let mut first = true;
                $(
                    if !$crate::normalize::json::Empty::is_empty(&self.$field) {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        out.extend_from_slice(
                            concat!("\"", $crate::normalize::json::ecs_key!($field $(, $key)?), "\":").as_bytes(),
                        );
                        $crate::normalize::json::WriteJson::write_json(&self.$field, out);
                    }
                )*
                let _ = first;
                out.push(b'}');
            }
        }
    };
}
pub(crate) use ecs_object;

/// The JSON key of a field: its name, or the literal it was given.
macro_rules! ecs_key {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $key:literal) => {
        $key
    };
}
pub(crate) use ecs_key;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in ["plain", "quote \" and \\ back", "tab\tnew\nline\r\u{8}\u{c}", "\u{1}\u{1f}", "é € 😀", ""] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(s).unwrap());
        }
    }

    /// The word test finds the first byte the table escapes, for every byte at every place in a word.
    #[test]
    fn the_word_test_finds_exactly_the_bytes_that_need_escaping() {
        for b in 0..=255u8 {
            for place in 0..8 {
                let mut word = [b'a'; 8];
                word[place] = b;
                let want = (ESCAPE[b as usize] != 0).then_some(place);
                assert_eq!(first_special(u64::from_le_bytes(word)), want, "byte {b:#04x} at {place}");
            }
        }
        // Bytes that sit next to each other must not mask or fake one another (borrows).
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let word = [a, b, 0x80, 0xff, 0x21, 0x5d, b' ', 0x7f];
                let want = if ESCAPE[a as usize] != 0 { Some(0) } else { (ESCAPE[b as usize] != 0).then_some(1) };
                assert_eq!(first_special(u64::from_le_bytes(word)), want, "bytes {a:#04x} {b:#04x}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_escapes_like_serde_json(s in "(\\PC|[\\x00-\\x1f\"\\\\])*") {
            let mut out = Vec::new();
            write_str(&mut out, &s);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }
}
