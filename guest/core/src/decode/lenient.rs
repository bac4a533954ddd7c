//! Lenient JSON fields: a typed view of Okta JSON that never fails on a wrong type.
//!
//! Okta's payloads drift (`debugData` and `changeDetails` are "not a stable contract", numbers
//! arrive as strings and the reverse). A strict serde model would reject a whole event for one odd
//! field. Instead every field is a [`Field`]: absent, null, a value, or `Invalid` with the JSON kind
//! that was found. The normalizer turns `Invalid` into a diagnostic and carries on, which keeps
//! normalization total while still parsing in one borrowed, allocation-light pass.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The JSON kind of a value, used in "expected X, found Y" diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// One field of an Okta object, read leniently.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// The key was not there.
    #[default]
    Absent,
    /// The key was there with `null`.
    Null,
    /// A value of the expected kind (or one that converts losslessly, such as `"42"` for a number).
    Value(T),
    /// A value of another kind; it was skipped.
    Invalid(Kind),
}

impl<T> Field<T> {
    /// The value, if there is one of the expected kind.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// How a type reads itself from each JSON kind. Every method defaults to "not accepted".
pub trait Lenient<'de>: Sized {
    /// What the type expects, for diagnostics ("a string", "an object").
    const EXPECTED: &'static str;

    fn from_str(_v: Cow<'de, str>) -> Option<Self> {
        None
    }
    fn from_bool(_v: bool) -> Option<Self> {
        None
    }
    fn from_i64(_v: i64) -> Option<Self> {
        None
    }
    fn from_u64(_v: u64) -> Option<Self> {
        None
    }
    fn from_f64(_v: f64) -> Option<Self> {
        None
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

struct FieldVisitor<T>(PhantomData<T>);

fn wrap<T>(v: Option<T>, kind: Kind) -> Field<T> {
    v.map_or(Field::Invalid(kind), Field::Value)
}

impl<'de, T: Lenient<'de>> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Field::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(wrap(T::from_bool(v), Kind::Bool))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(wrap(T::from_i64(v), Kind::Number))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(wrap(T::from_u64(v), Kind::Number))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(wrap(T::from_f64(v), Kind::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(wrap(T::from_str(Cow::Borrowed(v)), Kind::String))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(wrap(T::from_str(Cow::Owned(v.to_owned())), Kind::String))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(wrap(T::from_str(Cow::Owned(v)), Kind::String))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(wrap(T::from_map(map)?, Kind::Object))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(wrap(T::from_seq(seq)?, Kind::Array))
    }
}

impl<'de, T: Lenient<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(PhantomData))
    }
}

/// Strings. Numbers and booleans are accepted and written as text, since Okta is inconsistent
/// about quoting them (`version: "0"` but sometimes `0`).
impl<'de: 'a, 'a> Lenient<'de> for Cow<'a, str> {
    const EXPECTED: &'static str = "a string";
    fn from_str(v: Cow<'de, str>) -> Option<Self> {
        Some(v)
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(Cow::Borrowed(if v { "true" } else { "false" }))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(Cow::Owned(v.to_string()))
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(Cow::Owned(v.to_string()))
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(Cow::Owned(v.to_string()))
    }
}

/// Integers. Integral strings such as `"13335"` are accepted.
impl Lenient<'_> for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_str(v: Cow<'_, str>) -> Option<Self> {
        v.trim().parse().ok()
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
    fn from_u64(v: u64) -> Option<Self> {
        i64::try_from(v).ok()
    }
    fn from_f64(v: f64) -> Option<Self> {
        // Only integral values in range; 1.5 is not an AS number.
        (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
    }
}

/// Floating-point numbers (latitude, longitude). Numeric strings are accepted.
impl Lenient<'_> for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_str(v: Cow<'_, str>) -> Option<Self> {
        v.trim().parse::<f64>().ok().filter(|f| f.is_finite())
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}

/// Booleans. `"true"`/`"false"` strings are accepted, case-insensitively.
impl Lenient<'_> for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
    fn from_str(v: Cow<'_, str>) -> Option<Self> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("true") {
            Some(true)
        } else if v.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
}

/// Arrays; each element is read leniently on its own.
impl<'de, T: Lenient<'de>> Lenient<'de> for Vec<Field<T>> {
    const EXPECTED: &'static str = "an array";
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(64));
        while let Some(item) = seq.next_element::<Field<T>>()? {
            out.push(item);
        }
        Ok(Some(out))
    }
}

/// Free-form objects (debugData, detailEntry, changeDetails): kept as JSON.
impl<'de> Lenient<'de> for serde_json::Map<String, serde_json::Value> {
    const EXPECTED: &'static str = "an object";
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        // A free-form map cannot fail on content, only on broken input.
        serde_json::Map::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

/// Any JSON value. Used where Okta documents "object or string" (Java-map strings).
impl<'de> Lenient<'de> for serde_json::Value {
    const EXPECTED: &'static str = "any JSON value";
    fn from_str(v: Cow<'_, str>) -> Option<Self> {
        Some(serde_json::Value::String(v.into_owned()))
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(serde_json::Value::Bool(v))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(v.into())
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v.into())
    }
    fn from_f64(v: f64) -> Option<Self> {
        serde_json::Number::from_f64(v).map(serde_json::Value::Number)
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        serde_json::Map::deserialize(MapAccessDeserializer::new(map)).map(|m| Some(serde_json::Value::Object(m)))
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Some)
    }
}

/// Implements [`Lenient`] for a `#[derive(Deserialize)]` struct whose fields are all lenient:
/// such a struct accepts any object, so only an object is valid for it.
macro_rules! lenient_struct {
    ($($name:ident),* $(,)?) => {$(
        impl<'de: 'a, 'a> $crate::decode::lenient::Lenient<'de> for $name<'a> {
            const EXPECTED: &'static str = "an object";
            fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
                <$name<'a> as serde::Deserialize<'de>>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )
                .map(Some)
            }
        }
    )*};
}
pub(crate) use lenient_struct;

/// Entries read in order, kept as a JSON map holds them: sorted by key, and only the last entry of
/// a repeated key (JSON's "last one wins"). The kept entries are moved to the front; returns how
/// many there are. Shared by debugData's map and detection's reading of Java maps.
pub(crate) fn last_of_each_key<T>(entries: &mut [T], key: impl Fn(&T) -> &str) -> usize {
    // Stable, so a repeated key's entries keep their order and the last one is kept.
    entries.sort_by(|a, b| key(a).cmp(key(b)));
    let mut kept = 0;
    for i in 0..entries.len() {
        if entries.get(i + 1).is_some_and(|next| key(next) == key(&entries[i])) {
            continue;
        }
        entries.swap(kept, i);
        kept += 1;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::event::{DebugMap, Loose};

    /// debugData's map is read as JSON reads a map: keys sorted, a repeated key's last value kept.
    #[test]
    fn a_repeated_debug_data_key_keeps_its_last_value() {
        let read: Field<DebugMap<'_>> = serde_json::from_str(r#"{"b":"2","a":"1","b":"3","c":"4","b":"5"}"#).unwrap();
        let Field::Value(DebugMap(entries)) = read else { panic!("not a map: {read:?}") };
        let want: Vec<(Cow<'_, str>, Loose<'_>)> =
            [("a", "1"), ("b", "5"), ("c", "4")].map(|(k, v)| (Cow::Borrowed(k), Loose::Str(Cow::Borrowed(v)))).into();
        assert_eq!(entries, want);
    }
}
