//! YAML loading with positions: rule text → one [`Node`] tree per document, every node with the
//! 1-based line and column where it starts, so rule errors can point at the offending key or value.
//!
//! `saphyr` does the parsing (YAML 1.2, core schema, duplicate keys refused); this module only
//! copies its marked tree into a small owned one that keeps mapping entries in document order.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::Value;

/// A YAML value with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order: (key, value).
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) message: String,
}

/// Every document of `text`, in order. Empty documents are skipped.
pub(crate) fn load(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| SyntaxError {
        line: to_u32(e.marker().line()),
        column: to_u32(e.marker().col() + 1),
        message: format!("the YAML is not valid: {}", e.info()),
    })?;
    Ok(docs.iter().map(|d| convert(d, text)).filter(|n| n.kind != Kind::Null).collect())
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn convert(node: &MarkedYaml<'_>, source: &str) -> Node {
    let start = node.span.start;
    let kind = match &node.data {
        // A digit string such as `005e5000` (a dtHash) reads as an infinite float; keep its text.
        YamlData::Value(Scalar::FloatingPoint(f)) if !f.is_finite() => {
            let text: String =
                source.chars().skip(start.index()).take(node.span.end.index().saturating_sub(start.index())).collect();
            if text.trim().trim_start_matches(['+', '-']).eq_ignore_ascii_case(".inf") {
                Kind::Float(f.into_inner())
            } else {
                Kind::Str(text.trim().to_owned())
            }
        }
        YamlData::Value(scalar) => scalar_kind(scalar),
        YamlData::Representation(text, _, _) => Kind::Str(text.to_string()),
        YamlData::Sequence(items) => Kind::Seq(items.iter().map(|i| convert(i, source)).collect()),
        YamlData::Mapping(map) => {
            Kind::Map(map.iter().map(|(k, v)| (convert(k, source), convert(v, source))).collect())
        }
        YamlData::Tagged(_, inner) => return convert(inner, source),
        YamlData::Alias(_) | YamlData::BadValue => Kind::Null,
    };
    Node { line: to_u32(start.line()), column: to_u32(start.col() + 1), kind }
}

fn scalar_kind(scalar: &Scalar<'_>) -> Kind {
    match scalar {
        Scalar::Null => Kind::Null,
        Scalar::Boolean(b) => Kind::Bool(*b),
        Scalar::Integer(i) => Kind::Int(*i),
        Scalar::FloatingPoint(f) => Kind::Float(f.into_inner()),
        Scalar::String(s) => Kind::Str(s.to_string()),
    }
}

impl Node {
    /// The entries of a mapping (empty for anything else).
    pub(crate) fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The value under `key` (exact, as YAML keys are) and its key node.
    pub(crate) fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.entries().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, v)| (k, v))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    /// A scalar's text as a rule value: strings as they are, numbers and booleans as YAML wrote
    /// them in their canonical form; `None` for null and collections.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// The items of a sequence, or the node itself as a one-item list.
    pub(crate) fn items(&self) -> Vec<&Node> {
        match &self.kind {
            Kind::Seq(items) => items.iter().collect(),
            _ => vec![self],
        }
    }

    /// What the node is, for messages ("a mapping").
    pub(crate) fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The node as JSON (mapping keys as their text).
    pub(crate) fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json())).collect())
            }
        }
    }

    /// The node at a path of mapping keys (or list indexes), for pointing at a place an error
    /// was found by code that only saw JSON. Stops at the deepest node that exists.
    pub(crate) fn locate(&self, path: &[String]) -> &Node {
        let mut node = self;
        for step in path {
            let next = match &node.kind {
                Kind::Map(_) => node.entry(step).map(|(k, v)| if path.last() == Some(step) { k } else { v }),
                Kind::Seq(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = load("title: x\ndetection:\n  sel:\n    eventType: a\n---\ntitle: y\n").unwrap();
        assert_eq!(docs.len(), 2);
        let (k, v) = docs[0].get("detection").unwrap().get("sel").unwrap().entry("eventType").unwrap();
        assert_eq!((k.line, k.column), (4, 5));
        assert_eq!((v.line, v.column), (4, 16));
        assert_eq!(docs[1].get("title").unwrap().line, 6);
    }

    #[test]
    fn scalars_and_json() {
        let doc = &load("a: 'true'\nb: true\nc: 42\nd: ~\ne: [1, x]\n").unwrap()[0];
        assert_eq!(doc.get("a").unwrap().kind, Kind::Str("true".into()));
        assert_eq!(doc.get("b").unwrap().kind, Kind::Bool(true));
        assert_eq!(doc.get("c").unwrap().scalar_text().as_deref(), Some("42"));
        assert_eq!(doc.to_json(), serde_json::json!({"a": "true", "b": true, "c": 42, "d": null, "e": [1, "x"]}));
        let hashes = &load("h: {d: 0005e5000}\nf: .inf\n").unwrap()[0];
        assert_eq!(hashes.get("h").unwrap().get("d").unwrap().kind, Kind::Str("0005e5000".into()));
        assert_eq!(hashes.get("f").unwrap().kind, Kind::Float(f64::INFINITY));
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let err = load("a: b\n  c: d\n").unwrap_err();
        assert_eq!(err.line, 2);
        let dup = load("a: 1\na: 2\n").unwrap_err();
        assert!(dup.message.contains("duplicated key"), "{dup:?}");
    }
}
