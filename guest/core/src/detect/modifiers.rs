//! Values and modifiers: `actor.alternateId|endswith|cased: '@okta.com'` compiled into a
//! [`FieldTest`] once, when the rules load, and evaluated per event against an [`EventView`].
//!
//! Modifiers come in three families, applied in this order:
//! - **value transforms**, in the order written: `expand` (placeholders), `windash`, `wide` /
//!   `utf16le` / `utf16be`, `base64`, `base64offset`;
//! - **one match type**: plain (Sigma wildcards `*` `?`, `\` escapes), `contains`, `startswith`,
//!   `endswith`, `re` (with `i`, `m`, `s`), `cidr`, `lt`/`lte`/`gt`/`gte`, `fieldref`, `exists`;
//! - **flags**: `all` (every value must match), `cased` (case-sensitive), `neq` (no value may match).
//!
//! Strings compare case-insensitively unless `cased`: patterns are lowercased here, values as
//! they are compared. Scalars compare loosely: `'42'` matches `42`, `'true'` matches `true`.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ipnet::IpNet;
use regex::{Regex, RegexBuilder};

use super::field::{EventView, FieldPath, Fold, Val};
use super::yaml::{Kind, Node};

/// Every modifier we know, for "did you mean".
pub(crate) const MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "cased",
    "exists",
    "neq",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "lt",
    "lte",
    "gt",
    "gte",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "windash",
    "expand",
    "fieldref",
];

/// What went wrong while compiling a field, and whether the key or the value is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompileError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// The offending node is the value (else the key).
    pub(crate) at_value: bool,
}

fn key_error(code: &'static str, message: String) -> CompileError {
    CompileError { code, message, at_value: false }
}

fn value_error(message: String) -> CompileError {
    CompileError { code: "R011", message, at_value: true }
}

/// One `field|modifiers: values` entry of a selection.
#[derive(Debug)]
pub(crate) struct FieldTest {
    pub(crate) path: FieldPath,
    test: Test,
    /// The rule set's number for this test: equal tests (the same path, matchers and flags) in
    /// different rules share one, so an event answers each once ([`FieldTest::share_key`]).
    /// `None` outside a rule set, and for tests it does not share (regexes, `fieldref`).
    pub(crate) shared: Option<u32>,
}

#[derive(Debug)]
enum Test {
    /// `|exists: true/false` (and a lone `null`, which is `exists: false`).
    Exists(bool),
    Values {
        matchers: Vec<Matcher>,
        /// `null` was among the values: a missing or null field matches.
        null: bool,
        all: bool,
        negate: bool,
    },
}

/// One compiled value.
#[derive(Debug)]
pub(crate) enum Matcher {
    Text {
        pattern: Pattern,
        cased: bool,
    },
    Regex(Regex),
    Cidr(IpNet),
    Compare(Op, f64),
    FieldRef {
        path: FieldPath,
        cased: bool,
    },
    /// An unset placeholder: matches nothing.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A string pattern, lowercased unless `cased`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pattern {
    /// The text, and its number when it is one (for loose numeric equality).
    Exact(String, Option<f64>),
    Prefix(String),
    Suffix(String),
    Contains(Needle),
    Any,
    /// Segments between `*`; the first is anchored at the start, the last at the end.
    Glob(Vec<Vec<Piece>>),
}

/// A `contains` text with its searcher, built once when the rule is compiled (wasm has no SIMD
/// `memmem`; `str::contains` would set up a two-way searcher for every value it tests).
#[derive(Debug, Clone)]
pub(crate) struct Needle(Box<memchr::memmem::Finder<'static>>);

impl Needle {
    pub(crate) fn new(text: &str) -> Needle {
        Needle(Box::new(memchr::memmem::Finder::new(text.as_bytes()).into_owned()))
    }

    fn is_in(&self, value: &str) -> bool {
        self.0.find(value.as_bytes()).is_some()
    }

    fn text(&self) -> &[u8] {
        self.0.needle()
    }
}

impl PartialEq for Needle {
    fn eq(&self, other: &Needle) -> bool {
        self.text() == other.text()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Lit(String),
    One,
}

/// Settings the compiler needs from the config.
#[derive(Debug, Default)]
pub(crate) struct Context<'c> {
    pub(crate) placeholders: &'c [(String, Vec<String>)],
    /// Placeholders that were used but are not configured (reported once at load).
    pub(crate) unset: Vec<String>,
}

/// Parsed modifier list.
#[derive(Debug, Default)]
struct Mods<'k> {
    kind: Option<&'k str>,
    /// `kind` is the `contains` that base64offset implies, not one written.
    implied: bool,
    transforms: Vec<&'k str>,
    all: bool,
    cased: bool,
    neq: bool,
    flags: String,
}

/// Compiles `key` (`field|mod|mod`) with `value` (a scalar or a list).
pub(crate) fn compile_field(key: &str, value: &Node, ctx: &mut Context<'_>) -> Result<FieldTest, CompileError> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    let path = FieldPath::parse(field).map_err(|m| key_error("R017", m))?;
    let mods = parse_mods(field, parts)?;
    let test = compile_values(&mods, value, ctx)?;
    Ok(FieldTest { path, test, shared: None })
}

/// Compiles a keyword list (values without a field): each matches as `contains` anywhere.
pub(crate) fn compile_keywords(value: &Node, ctx: &mut Context<'_>) -> Result<Vec<Matcher>, CompileError> {
    let mods = Mods { kind: Some("contains"), ..Mods::default() };
    match compile_values(&mods, value, ctx)? {
        Test::Values { matchers, .. } => Ok(matchers),
        Test::Exists(_) => Err(value_error("a keyword list cannot be null".into())),
    }
}

fn parse_mods<'k>(field: &str, names: impl Iterator<Item = &'k str>) -> Result<Mods<'k>, CompileError> {
    let mut mods = Mods::default();
    for name in names {
        let set_kind = |mods: &mut Mods<'k>| {
            if let Some(old) = mods.kind.filter(|old| *old != name && !(mods.implied && *old == "contains")) {
                return Err(key_error(
                    "R011",
                    format!("'{field}' has both '{old}' and '{name}'; use one match type per field"),
                ));
            }
            mods.kind = Some(name);
            mods.implied = false;
            Ok(())
        };
        match name {
            "contains" | "startswith" | "endswith" | "re" | "cidr" | "lt" | "lte" | "gt" | "gte" | "exists"
            | "fieldref" => set_kind(&mut mods)?,
            "base64offset" => {
                mods.transforms.push(name);
                if mods.kind.is_none() {
                    mods.kind = Some("contains");
                    mods.implied = true;
                }
            }
            "all" => mods.all = true,
            "cased" => mods.cased = true,
            "neq" => mods.neq = true,
            "i" | "m" | "s" => mods.flags.push_str(name),
            "base64" | "utf16le" | "utf16be" | "utf16" | "wide" | "windash" | "expand" => mods.transforms.push(name),
            unknown => {
                let hint = suggest(unknown, MODIFIERS)
                    .map(|s| format!("; did you mean '{s}'?"))
                    .unwrap_or_else(|| format!("; known modifiers: {}", MODIFIERS.join(", ")));
                return Err(key_error("R010", format!("unknown modifier '{unknown}' on '{field}'{hint}")));
            }
        }
    }
    if let Some(at) = mods.transforms.iter().position(|t| matches!(*t, "wide" | "utf16le" | "utf16be" | "utf16"))
        && !mods.transforms[at..].iter().any(|t| t.starts_with("base64"))
    {
        return Err(key_error(
            "R011",
            format!("'{field}|{}' makes bytes, not text; follow it with base64 or base64offset", mods.transforms[at]),
        ));
    }
    if !mods.flags.is_empty() && mods.kind != Some("re") {
        return Err(key_error(
            "R011",
            format!("'{field}' uses regex flags ('{}') without 're'; write {field}|re|i", mods.flags),
        ));
    }
    Ok(mods)
}

/// The closest known name within two edits, if any.
pub(crate) fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(&word.to_lowercase(), k), *k))
        .filter(|(d, k)| *d <= 2.min(k.len().saturating_sub(1)).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A value on its way through the transforms: wildcard text, or bytes taken literally.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Pattern(String),
    Literal(Vec<u8>),
}

impl Raw {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Raw::Pattern(p) => unescape(p).into_bytes(),
            Raw::Literal(b) => b.clone(),
        }
    }
}

fn compile_values(mods: &Mods<'_>, value: &Node, ctx: &mut Context<'_>) -> Result<Test, CompileError> {
    if mods.kind == Some("exists") {
        return match value.kind {
            Kind::Bool(b) => Ok(Test::Exists(b)),
            _ => Err(value_error(format!("'exists' takes true or false, not {}", value.describe()))),
        };
    }
    let mut null = false;
    let mut raws = Vec::new();
    for item in value.items() {
        match &item.kind {
            Kind::Null => null = true,
            Kind::Seq(_) | Kind::Map(_) => {
                return Err(value_error(format!(
                    "a field's value must be a scalar or a list of scalars, not {}",
                    item.describe()
                )));
            }
            _ => raws.push(Raw::Pattern(item.scalar_text().unwrap_or_default())),
        }
    }
    if null && raws.is_empty() && !mods.neq && !mods.all {
        return Ok(Test::Exists(false));
    }
    let mut placeholder_unset = false;
    for transform in &mods.transforms {
        raws = match *transform {
            "expand" => expand(raws, ctx, &mut placeholder_unset),
            "windash" => raws.into_iter().flat_map(windash).collect(),
            "wide" | "utf16le" | "utf16" => raws.iter().map(|r| Raw::Literal(utf16(r, false))).collect(),
            "utf16be" => raws.iter().map(|r| Raw::Literal(utf16(r, true))).collect(),
            "base64" => raws.iter().map(|r| Raw::Literal(STANDARD.encode(r.bytes()).into_bytes())).collect(),
            "base64offset" => raws.iter().flat_map(|r| base64_offsets(&r.bytes())).map(Raw::Literal).collect(),
            _ => raws,
        };
    }
    let mut matchers = Vec::with_capacity(raws.len());
    for raw in raws {
        matchers.push(compile_one(mods, raw)?);
    }
    if matchers.is_empty() && placeholder_unset {
        matchers.push(Matcher::Never);
    }
    Ok(Test::Values { matchers, null, all: mods.all, negate: mods.neq })
}

fn compile_one(mods: &Mods<'_>, raw: Raw) -> Result<Matcher, CompileError> {
    let text = match raw {
        Raw::Pattern(p) => Ok(p),
        Raw::Literal(bytes) => String::from_utf8(bytes).map(|s| escape(&s)).map_err(|_| {
            value_error(
                "the value is not text after utf16le/utf16be/wide; follow them with base64 or base64offset".into(),
            )
        }),
    }?;
    let kind = mods.kind.unwrap_or("");
    Ok(match kind {
        "re" => {
            let regex = RegexBuilder::new(&text)
                .case_insensitive(mods.flags.contains('i'))
                .multi_line(mods.flags.contains('m'))
                .dot_matches_new_line(mods.flags.contains('s'))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| value_error(format!("the regular expression '{text}' is not valid: {e}")))?;
            Matcher::Regex(regex)
        }
        "cidr" => {
            let net = text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                value_error(format!("'{text}' is not a CIDR range; write it as 10.0.0.0/8 or 2001:db8::/32"))
            })?;
            Matcher::Cidr(net.trunc())
        }
        "lt" | "lte" | "gt" | "gte" => {
            let number = text
                .trim()
                .parse::<f64>()
                .map_err(|_| value_error(format!("'{kind}' compares numbers, and '{text}' is not one")))?;
            let op = match kind {
                "lt" => Op::Lt,
                "lte" => Op::Lte,
                "gt" => Op::Gt,
                _ => Op::Gte,
            };
            Matcher::Compare(op, number)
        }
        "fieldref" => {
            let path = FieldPath::parse(&text).map_err(value_error)?;
            Matcher::FieldRef { path, cased: mods.cased }
        }
        _ => Matcher::Text { pattern: pattern(&text, kind, mods.cased), cased: mods.cased },
    })
}

/// `%name%` → the configured values. An unset placeholder yields no value.
fn expand(raws: Vec<Raw>, ctx: &mut Context<'_>, unset: &mut bool) -> Vec<Raw> {
    let mut out = Vec::new();
    for raw in raws {
        let Raw::Pattern(text) = &raw else {
            out.push(raw);
            continue;
        };
        let Some((before, name, after)) = text.split_once('%').and_then(|(b, rest)| {
            let (name, after) = rest.split_once('%')?;
            Some((b, name, after))
        }) else {
            out.push(raw);
            continue;
        };
        match ctx.placeholders.iter().find(|(n, _)| n == name) {
            Some((_, values)) => out.extend(values.iter().map(|v| Raw::Pattern(format!("{before}{v}{after}")))),
            None => {
                *unset = true;
                if !ctx.unset.iter().any(|n| n == name) {
                    ctx.unset.push(name.to_owned());
                }
            }
        }
    }
    out
}

/// Windows command-line dashes: `-x` also as `/x`, `–x`, `—x`, `―x`.
fn windash(raw: Raw) -> Vec<Raw> {
    let Raw::Pattern(text) = &raw else {
        return vec![raw];
    };
    let mut out = vec![raw.clone()];
    for dash in ['/', '-', '–', '—', '―'] {
        let mut variant = String::with_capacity(text.len());
        let mut prev_space = true;
        for c in text.chars() {
            if prev_space && matches!(c, '-' | '/') {
                variant.push(dash);
            } else {
                variant.push(c);
            }
            prev_space = c.is_whitespace();
        }
        let variant = Raw::Pattern(variant);
        if !out.contains(&variant) {
            out.push(variant);
        }
    }
    out
}

fn utf16(raw: &Raw, big_endian: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(&raw.bytes()).into_owned();
    text.encode_utf16().flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
}

/// The three base64 forms of `value` at each offset in a longer encoded text, without the
/// characters that depend on its neighbours.
fn base64_offsets(value: &[u8]) -> Vec<Vec<u8>> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(value);
            let encoded = STANDARD.encode(&padded).into_bytes();
            let end = encoded.len().saturating_sub(END[(value.len() + i) % 3]);
            encoded.get(START[i]..end).map(<[u8]>::to_vec).unwrap_or_default()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// Escapes wildcards so literal text survives [`pattern`].
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Removes Sigma escapes (`\*`, `\?`, `\\`), keeping other backslashes.
fn unescape(text: &str) -> String {
    tokens(text)
        .into_iter()
        .map(|t| match t {
            Token::Char(c) => c,
            Token::Star => '*',
            Token::One => '?',
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    One,
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(Token::Char(n));
                }
                _ => out.push(Token::Char('\\')),
            },
            '*' => out.push(Token::Star),
            '?' => out.push(Token::One),
            c => out.push(Token::Char(c)),
        }
    }
    out
}

/// Builds the pattern for a Sigma value with the given match type.
pub(crate) fn pattern(text: &str, kind: &str, cased: bool) -> Pattern {
    let mut toks = tokens(text);
    if matches!(kind, "contains" | "endswith") {
        toks.insert(0, Token::Star);
    }
    if matches!(kind, "contains" | "startswith") {
        toks.push(Token::Star);
    }
    // Segments between stars, each a list of pieces.
    let mut segments: Vec<Vec<Piece>> = vec![Vec::new()];
    for tok in toks {
        match tok {
            Token::Star => {
                if segments.len() > 1 && segments.last().is_some_and(Vec::is_empty) {
                    continue; // `**` is `*`
                }
                segments.push(Vec::new());
            }
            Token::One => segments.last_mut().expect("never empty").push(Piece::One),
            Token::Char(c) => {
                let seg = segments.last_mut().expect("never empty");
                if let Some(Piece::Lit(s)) = seg.last_mut() {
                    s.push(c);
                } else {
                    seg.push(Piece::Lit(c.to_string()));
                }
            }
        }
    }
    if !cased {
        for piece in segments.iter_mut().flatten() {
            if let Piece::Lit(s) = piece {
                *s = s.to_lowercase();
            }
        }
    }
    let lit = |seg: &[Piece]| match seg {
        [] => Some(String::new()),
        [Piece::Lit(s)] => Some(s.clone()),
        _ => None,
    };
    match segments.as_slice() {
        [only] => match lit(only) {
            Some(s) => {
                let number = s.trim().parse::<f64>().ok();
                Pattern::Exact(s, number)
            }
            None => Pattern::Glob(segments),
        },
        [a, b] if a.is_empty() && b.is_empty() => Pattern::Any,
        [a, b] if a.is_empty() => lit(b).map_or_else(|| Pattern::Glob(segments.clone()), Pattern::Suffix),
        [a, b] if b.is_empty() => lit(a).map_or_else(|| Pattern::Glob(segments.clone()), Pattern::Prefix),
        [a, b, c] if a.is_empty() && c.is_empty() => {
            lit(b).map_or_else(|| Pattern::Glob(segments.clone()), |s| Pattern::Contains(Needle::new(&s)))
        }
        _ => Pattern::Glob(segments),
    }
}

impl Pattern {
    /// Matches `value`, which is already lowercased when the pattern is case-insensitive.
    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(s, _) => value == s,
            Pattern::Prefix(s) => value.starts_with(s.as_str()),
            Pattern::Suffix(s) => value.ends_with(s.as_str()),
            Pattern::Contains(needle) => needle.is_in(value),
            Pattern::Any => true,
            Pattern::Glob(segments) => glob(segments, value),
        }
    }
}

/// Where `pieces` end when matched at byte `at` of `value`.
fn match_at(pieces: &[Piece], value: &str, at: usize) -> Option<usize> {
    let mut pos = at;
    for piece in pieces {
        match piece {
            Piece::Lit(s) => {
                if !value.get(pos..)?.starts_with(s.as_str()) {
                    return None;
                }
                pos += s.len();
            }
            Piece::One => pos += value.get(pos..)?.chars().next()?.len_utf8(),
        }
    }
    Some(pos)
}

/// Star-separated segments: the first anchored at the start, the last at the end, the middle
/// ones matched leftmost (each segment has a fixed length in characters, so leftmost is safe).
fn glob(segments: &[Vec<Piece>], value: &str) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return value.is_empty();
    };
    let Some(mut pos) = match_at(first, value, 0) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return pos == value.len();
    };
    for segment in middle {
        let found =
            (pos..=value.len()).filter(|i| value.is_char_boundary(*i)).find_map(|i| match_at(segment, value, i));
        match found {
            Some(end) => pos = end,
            None => return false,
        }
    }
    (pos..=value.len()).filter(|i| value.is_char_boundary(*i)).any(|i| match_at(last, value, i) == Some(value.len()))
}

/// `value` lowercased, borrowed when it already is.
fn fold(value: &str) -> std::borrow::Cow<'_, str> {
    if value.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        std::borrow::Cow::Borrowed(value)
    } else {
        std::borrow::Cow::Owned(value.to_lowercase())
    }
}

/// One field value as the matchers see it: its text and its case-folded text are made at most
/// once, however many matchers (a list of 40 user agents, say) test it.
struct Seen<'v> {
    val: Val<'v>,
    text: std::cell::OnceCell<Option<std::borrow::Cow<'v, str>>>,
    /// The lowercased text; `None` inside when the text has no uppercase (it is its own fold).
    folded: std::cell::OnceCell<Option<String>>,
    /// The event's own fold of this string, shared with the other tests of its path.
    shared: Option<&'v Fold>,
}

impl<'v> Seen<'v> {
    fn new(val: Val<'v>) -> Seen<'v> {
        Seen::sharing(val, None)
    }

    fn sharing(val: Val<'v>, shared: Option<&'v Fold>) -> Seen<'v> {
        Seen { val, text: std::cell::OnceCell::new(), folded: std::cell::OnceCell::new(), shared }
    }

    fn text(&self) -> Option<&str> {
        self.text
            .get_or_init(|| match self.val {
                Val::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
                other => other.text().map(|t| std::borrow::Cow::Owned(t.into_owned())),
            })
            .as_deref()
    }

    /// The text lowercased; borrowed when it has no uppercase (the common case: no copy).
    fn folded(&self) -> Option<&str> {
        let text = self.text()?;
        if let (Some(shared), Val::Str(s)) = (self.shared, self.val) {
            return Some(
                shared.get_or_init(|| needs_fold(s).then(|| s.to_lowercase().into_boxed_str())).as_deref().unwrap_or(s),
            );
        }
        // Decided once per value: a list of 40 patterns asks 40 times.
        Some(self.folded.get_or_init(|| needs_fold(text).then(|| text.to_lowercase())).as_deref().unwrap_or(text))
    }

    /// A case-insensitive exact, prefix or suffix test without a lowercased copy, when the value
    /// is ASCII and its lowercased form is not made yet: such a value lowercases byte by byte
    /// (keeping its length), and the pattern is lowercased already. `None`: test the lowercased
    /// text (a value that is not ASCII may change length when lowercased).
    fn ascii_fold_free(&self, pattern: &Pattern) -> Option<bool> {
        if self.folded.get().is_some() || self.shared.is_some_and(|f| f.get().is_some()) {
            return None;
        }
        let t = self.text()?.as_bytes();
        let (want, part) = match pattern {
            Pattern::Exact(want, _) => (want, (t.len() == want.len()).then_some(t)),
            Pattern::Prefix(want) => (want, t.get(..want.len())),
            Pattern::Suffix(want) => (want, t.len().checked_sub(want.len()).and_then(|at| t.get(at..))),
            _ => return None,
        };
        if !t.is_ascii() {
            return None;
        }
        Some(part.is_some_and(|part| part.eq_ignore_ascii_case(want.as_bytes())))
    }
}

/// Whether lowercasing changes `text`.
fn needs_fold(text: &str) -> bool {
    !text.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase())
}

impl Matcher {
    /// Whether one field value matches. `refs` holds the referenced field's values for
    /// `fieldref` (folded unless cased).
    fn matches(&self, value: &Seen<'_>, refs: &[String]) -> bool {
        match self {
            Matcher::Text { pattern, cased } => {
                if let (Pattern::Exact(_, Some(want)), Val::Num(n)) = (pattern, value.val) {
                    #[allow(clippy::float_cmp)]
                    return n.as_f64() == *want;
                }
                if !*cased && let Some(fits) = value.ascii_fold_free(pattern) {
                    return fits;
                }
                let text = if *cased { value.text() } else { value.folded() };
                text.is_some_and(|t| pattern.matches(t))
            }
            Matcher::Regex(re) => value.text().is_some_and(|t| re.is_match(t)),
            Matcher::Cidr(net) => {
                value.text().and_then(|t| t.trim().parse::<IpAddr>().ok()).is_some_and(|ip| net.contains(&ip))
            }
            Matcher::Compare(op, want) => {
                let number = match value.val {
                    Val::Num(n) => Some(n.as_f64()),
                    Val::Str(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                number.is_some_and(|n| match op {
                    Op::Lt => n < *want,
                    Op::Lte => n <= *want,
                    Op::Gt => n > *want,
                    Op::Gte => n >= *want,
                })
            }
            Matcher::FieldRef { cased, .. } => {
                let text = if *cased { value.text() } else { value.folded() };
                text.is_some_and(|t| refs.iter().any(|r| r == t))
            }
            Matcher::Never => false,
        }
    }
}

impl FieldTest {
    /// Whether the event satisfies this field entry. A shared test is answered once per event,
    /// for every rule that has it.
    pub(crate) fn eval(&self, event: &EventView<'_>) -> bool {
        let Some(id) = self.shared else {
            return self.eval_here(event);
        };
        if let Some(known) = event.verdict(id) {
            return known;
        }
        let verdict = self.eval_here(event);
        event.set_verdict(id, verdict);
        verdict
    }

    /// What makes two tests answer alike on every event, as text: the path's lowercased segments,
    /// the flags and each matcher in full. `None` for tests not worth the risk of a key that
    /// misses a difference: regexes (their flags are not part of their text) and `fieldref`.
    pub(crate) fn share_key(&self) -> Option<String> {
        use std::fmt::Write as _;
        let mut key = self.path.key();
        match &self.test {
            Test::Exists(want) => write!(key, "|exists={want}").ok()?,
            Test::Values { matchers, null, all, negate } => {
                write!(key, "|null={null}|all={all}|negate={negate}").ok()?;
                for m in matchers {
                    match m {
                        Matcher::Text { pattern, cased } => {
                            let pattern = match pattern {
                                Pattern::Exact(s, n) => format!("exact {s:?} {n:?}"),
                                Pattern::Prefix(s) => format!("prefix {s:?}"),
                                Pattern::Suffix(s) => format!("suffix {s:?}"),
                                Pattern::Contains(needle) => format!("contains {:?}", needle.text()),
                                Pattern::Any => "any".to_owned(),
                                Pattern::Glob(segments) => format!("glob {segments:?}"),
                            };
                            write!(key, "|text cased={cased} {pattern}").ok()?;
                        }
                        Matcher::Cidr(net) => write!(key, "|cidr {net}").ok()?,
                        Matcher::Compare(op, want) => write!(key, "|compare {op:?} {want:?}").ok()?,
                        Matcher::Never => key.push_str("|never"),
                        Matcher::Regex(_) | Matcher::FieldRef { .. } => return None,
                    }
                }
            }
        }
        Some(key)
    }

    fn eval_here(&self, event: &EventView<'_>) -> bool {
        let (matchers, null, all, negate) = match &self.test {
            Test::Exists(want) => return event.exists(&self.path) == *want,
            Test::Values { matchers, null, all, negate } => (matchers, *null, *all, *negate),
        };
        let refs = field_refs(matchers, event);
        let mut non_null = false;
        let result = if all && matchers.len() > 1 {
            let mut seen = vec![false; matchers.len()];
            event.visit_folding(&self.path, &mut |v, fold| {
                non_null |= !matches!(v, Val::Null);
                let v = Seen::sharing(v, fold);
                for (m, s) in matchers.iter().zip(seen.iter_mut()) {
                    *s = *s || m.matches(&v, &refs);
                }
                seen.iter().all(|s| *s)
            });
            !matchers.is_empty() && seen.iter().all(|s| *s)
        } else {
            let mut hit = false;
            event.visit_folding(&self.path, &mut |v, fold| {
                non_null |= !matches!(v, Val::Null);
                let v = Seen::sharing(v, fold);
                hit = matchers.iter().any(|m| m.matches(&v, &refs));
                hit
            });
            hit
        };
        let result = result || (null && !non_null);
        result != negate
    }

    /// The field paths this test resolves (its own and any `fieldref`'s), for numbering.
    pub(crate) fn paths_mut(&mut self) -> Vec<&mut FieldPath> {
        let mut out = vec![&mut self.path];
        if let Test::Values { matchers, .. } = &mut self.test {
            for m in matchers {
                if let Matcher::FieldRef { path, .. } = m {
                    out.push(path);
                }
            }
        }
        out
    }

    /// The values a plain, case-insensitive equality on this field accepts (for indexing
    /// rules by `eventType`); `None` when the test is anything else.
    pub(crate) fn exact_values(&self) -> Option<Vec<String>> {
        let Test::Values { matchers, null: false, all: false, negate: false } = &self.test else {
            return None;
        };
        matchers
            .iter()
            .map(|m| match m {
                Matcher::Text { pattern: Pattern::Exact(s, _), .. } => Some(s.to_lowercase()),
                _ => None,
            })
            .collect()
    }
}

/// The values of every `fieldref` target, folded unless cased.
fn field_refs(matchers: &[Matcher], event: &EventView<'_>) -> Vec<String> {
    let mut refs = Vec::new();
    for m in matchers {
        if let Matcher::FieldRef { path, cased } = m {
            refs.extend(event.texts(path).into_iter().map(|t| if *cased { t } else { fold(&t).into_owned() }));
        }
    }
    refs
}

/// Keyword matchers against every string of the event.
pub(crate) fn keywords_match(matchers: &[Matcher], all: bool, event: &EventView<'_>) -> bool {
    let any_of = |m: &Matcher| event.any_string(&mut |s| m.matches(&Seen::new(Val::Str(s)), &[]));
    if all { matchers.iter().all(any_of) } else { matchers.iter().any(any_of) }
}

#[cfg(test)]
mod tests {
    use bumpalo::Bump;

    use super::*;
    use crate::detect::yaml;

    fn test(key: &str, value: &str) -> FieldTest {
        let node = &yaml::load(&format!("v: {value}\n")).unwrap()[0];
        compile_field(key, node.get("v").unwrap(), &mut Context::default()).unwrap()
    }

    fn err(key: &str, value: &str) -> CompileError {
        let node = &yaml::load(&format!("v: {value}\n")).unwrap()[0];
        compile_field(key, node.get("v").unwrap(), &mut Context::default()).unwrap_err()
    }

    fn on(event: &str, key: &str, value: &str) -> bool {
        let arena = Bump::new();
        let view = EventView::new(&arena, event, "{}");
        test(key, value).eval(&view)
    }

    /// Two tests share an answer only when they answer alike: the key sees every flag, every
    /// value and each kind of pattern, and a regex or a `fieldref` is never shared.
    #[test]
    fn tests_share_a_key_only_when_they_answer_alike() {
        let key = |k: &str, v: &str| test(k, v).share_key();
        assert_eq!(key("outcome.result", "FAILURE"), key("Outcome.Result", "failure"));
        assert_eq!(key("a|contains", "[x, y]"), key("a|contains", "[x, y]"));
        let distinct = [
            ("outcome.result", "FAILURE"),
            ("outcome.reason", "FAILURE"),
            ("outcome.result|cased", "FAILURE"),
            ("outcome.result|neq", "FAILURE"),
            ("outcome.result", "[FAILURE, SUCCESS]"),
            ("outcome.result", "[FAILURE, null]"),
            ("outcome.result|all", "[FAILURE, SUCCESS]"),
            ("outcome.result|startswith", "FAILURE"),
            ("outcome.result|endswith", "FAILURE"),
            ("outcome.result|contains", "FAILURE"),
            ("outcome.result", "FAIL*"),
            ("outcome.result", "FAIL?RE"),
            ("outcome.result|exists", "true"),
            ("outcome.result|exists", "false"),
            ("outcome.result|gt", "5"),
            ("outcome.result|gte", "5"),
            ("outcome.result|cidr", "10.0.0.0/8"),
            ("outcome.result", "5"),
        ];
        let keys: Vec<String> = distinct.iter().map(|(k, v)| key(k, v).expect("shared")).collect();
        for (i, a) in keys.iter().enumerate() {
            for (j, b) in keys.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "{:?} and {:?}", distinct[i], distinct[j]);
            }
        }
        assert_eq!(key("a|re", "x"), None);
        assert_eq!(key("a|re|i", "x"), None);
        assert_eq!(key("a|fieldref", "b"), None);
    }

    /// A shared test is answered once per event, and the answer is the test's own.
    #[test]
    fn a_shared_test_is_answered_once_per_event() {
        let mut failing = test("outcome.result", "FAILURE");
        failing.shared = Some(3);
        let arena = Bump::new();
        let view = EventView::new(&arena, r#"{"outcome":{"result":"FAILURE"}}"#, "{}");
        assert_eq!(view.verdict(3), None);
        assert!(failing.eval(&view));
        assert_eq!(view.verdict(3), Some(true));
        let arena = Bump::new();
        let other = EventView::new(&arena, r#"{"outcome":{"result":"SUCCESS"}}"#, "{}");
        assert!(!failing.eval(&other));
        assert_eq!(other.verdict(3), Some(false));
        // The stored answer is what the next rule with the same test gets.
        other.set_verdict(3, true);
        assert!(failing.eval(&other));
    }

    const E: &str = r#"{"displayMessage":"User login to Okta","n":42,"f":"4.5","b":true,"ip":"10.1.2.3",
        "list":["a","B"],"nul":null,"cmd":"run -x now","other":"user login to okta","b64":"aGVsbG8gd29ybGQ="}"#;

    #[test]
    fn plain_wildcards_and_case() {
        assert!(on(E, "displayMessage", "user login to okta"));
        assert!(!on(E, "displayMessage|cased", "user login to okta"));
        assert!(on(E, "displayMessage|cased", "User login to Okta"));
        assert!(on(E, "displayMessage", "'User*Okta'"));
        assert!(on(E, "displayMessage", "'User login t? Okta'"));
        assert!(!on(E, "displayMessage", "'User login t?? Okta'"));
        assert!(on(E, "displayMessage", "'*login*'"));
        assert!(on(E, "displayMessage|contains", "LOGIN"));
        assert!(on(E, "displayMessage|startswith", "user"));
        assert!(on(E, "displayMessage|endswith", "okta"));
        assert!(!on(E, "displayMessage|endswith", "user"));
        assert!(on(E, "displayMessage|contains|all", "[login, okta]"));
        assert!(!on(E, "displayMessage|contains|all", "[login, nope]"));
        assert!(on(E, "displayMessage|contains", "[nope, okta]"));
    }

    #[test]
    fn escapes() {
        let arena = Bump::new();
        let view = EventView::new(&arena, r#"{"a":"x*y","b":"x\\y"}"#, "{}");
        assert!(test("a", r"'x\*y'").eval(&view));
        assert!(!test("a", r"'x\*z'").eval(&view));
        assert!(test("b", r"'x\\y'").eval(&view));
        assert!(test("b", r"'x\y'").eval(&view), "a backslash before a plain character is literal");
        assert_eq!(pattern(r"a\*b*", "", false), Pattern::Prefix("a*b".into()));
    }

    #[test]
    fn loose_equality_null_and_exists() {
        assert!(on(E, "n", "'42'") && on(E, "n", "42") && on(E, "n", "42.0"));
        assert!(on(E, "b", "'true'") && on(E, "b", "true") && !on(E, "b", "false"));
        assert!(on(E, "list", "b"), "any element");
        assert!(on(E, "nul", "null") && on(E, "missing", "null") && !on(E, "n", "null"));
        assert!(on(E, "missing|exists", "false") && on(E, "n|exists", "true") && !on(E, "nul|exists", "true"));
        assert!(on(E, "n", "[null, 42]") && on(E, "missing", "[null, 42]"));
    }

    #[test]
    fn neq_numbers_cidr_regex() {
        assert!(on(E, "n|neq", "41") && !on(E, "n|neq", "[41, 42]"));
        assert!(on(E, "n|gt", "41") && on(E, "n|gte", "42") && !on(E, "n|lt", "42") && on(E, "n|lte", "42"));
        assert!(on(E, "f|lt", "5") && !on(E, "displayMessage|lt", "5"));
        assert!(on(E, "ip|cidr", "10.0.0.0/8") && !on(E, "ip|cidr", "192.168.0.0/16") && on(E, "ip|cidr", "10.1.2.3"));
        assert!(on(E, "displayMessage|re", "'^User .* Okta$'"));
        assert!(!on(E, "displayMessage|re", "'^user'") && on(E, "displayMessage|re|i", "'^user'"));
    }

    #[test]
    fn encodings() {
        assert!(on(E, "b64|base64", "hello world"));
        assert!(on(E, "b64|base64offset|contains", "world"));
        let enc = STANDARD.encode("xxhello");
        let text = format!(r#"{{"v":"{enc}"}}"#);
        let arena = Bump::new();
        let view = EventView::new(&arena, &text, "{}");
        assert!(test("v|base64offset", "hello").eval(&view));
        let wide = STANDARD.encode("h\0i\0");
        let text = format!(r#"{{"v":"{wide}"}}"#);
        let arena = Bump::new();
        let view = EventView::new(&arena, &text, "{}");
        assert!(test("v|wide|base64", "hi").eval(&view));
        assert!(test("v|utf16le|base64", "hi").eval(&view));
        assert!(!test("v|utf16be|base64", "hi").eval(&view));
        assert!(err("v|wide", "hi").message.contains("base64"));
        assert!(on(E, "cmd|windash|contains", "' /x '") && on(E, "cmd|windash|contains", "' -x '"));
    }

    #[test]
    fn fieldref_and_expand() {
        assert!(on(E, "other|fieldref", "displayMessage"));
        assert!(!on(E, "other|fieldref|cased", "displayMessage"));
        let node = &yaml::load("v: '%admins%'\nw: '%nope%'\n").unwrap()[0];
        let placeholders = vec![("admins".to_owned(), vec!["root@x".to_owned(), "*@ops.example".to_owned()])];
        let mut ctx = Context { placeholders: &placeholders, unset: Vec::new() };
        let t = compile_field("a|expand", node.get("v").unwrap(), &mut ctx).unwrap();
        assert!(t.eval(&EventView::new(&Bump::new(), r#"{"a":"ROOT@x"}"#, "{}")));
        assert!(t.eval(&EventView::new(&Bump::new(), r#"{"a":"bob@ops.example"}"#, "{}")));
        let never = compile_field("a|expand", node.get("w").unwrap(), &mut ctx).unwrap();
        assert!(!never.eval(&EventView::new(&Bump::new(), r#"{"a":"%nope%"}"#, "{}")));
        assert_eq!(ctx.unset, ["nope"]);
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = err("displayMessage|contians", "x");
        assert_eq!(e.code, "R010");
        assert_eq!(e.message, "unknown modifier 'contians' on 'displayMessage'; did you mean 'contains'?");
        assert!(err("a|contains|startswith", "x").message.contains("one match type"));
        assert!(err("a|re", "'('").message.contains("not valid"));
        assert!(err("a|cidr", "nope").message.contains("CIDR"));
        assert!(err("a|gt", "ten").message.contains("not one"));
        assert!(err("a|i", "x").message.contains("without 're'"));
        assert!(err("a|exists", "maybe").message.contains("true or false"));
        assert!(err("a..b", "x").code == "R017");
    }

    /// The ASCII shortcut of case-insensitive exact, prefix and suffix tests agrees with testing
    /// the lowercased text, for ASCII values and for values that change length when lowercased
    /// (the Kelvin sign lowercases to an ASCII `k`).
    #[test]
    fn case_insensitive_tests_agree_with_the_lowercased_text() {
        use proptest::prelude::*;
        const TEXT: &str = "[aAbBkK\u{212A}\u{130}é.-]{0,6}";
        let kinds = prop_oneof![Just("".to_owned()), Just("startswith".to_owned()), Just("endswith".to_owned())];
        proptest!(ProptestConfig::with_cases(4000), |(value in TEXT, want in TEXT, kind in kinds)| {
            let kind = kind.as_str();
            let p = pattern(&want, kind, false);
            let m = Matcher::Text { pattern: p.clone(), cased: false };
            let expected = p.matches(&value.to_lowercase());
            prop_assert_eq!(m.matches(&Seen::new(Val::Str(&value)), &[]), expected, "{:?} {} {:?}", value, kind, want);
        });
        let m = Matcher::Text { pattern: pattern("kelvin", "", false), cased: false };
        assert!(m.matches(&Seen::new(Val::Str("\u{212A}elvin")), &[]));
        assert!(m.matches(&Seen::new(Val::Str("KELVIN")), &[]));
    }

    #[test]
    fn glob_edges() {
        let p = pattern("a*b*c", "", false);
        assert!(p.matches("abc") && p.matches("axxbyyc") && !p.matches("acb"));
        let p = pattern("*é?", "", false);
        assert!(p.matches("café!") && !p.matches("café"));
        assert_eq!(pattern("*", "", false), Pattern::Any);
        assert_eq!(pattern("x", "contains", false), Pattern::Contains(Needle::new("x")));
        assert!(pattern("a?", "", false).matches("ab"));
        assert_eq!(crate::decode::tree::Num::I(3).text(), "3");
    }
}
