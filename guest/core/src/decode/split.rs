//! Splits an API page (a JSON array) into its elements' text in one pass, checking the JSON as it
//! goes.
//!
//! It accepts exactly what `serde_json::from_str::<Vec<&RawValue>>` accepts and gives the same
//! slices (each element from its first byte to its last, without the whitespace around it), so
//! the rest of decoding cannot tell which one split the page. Both check the whole page: an
//! element that is not JSON makes the page not an array, and decoding then goes on as it always
//! has. Like serde_json's skipping of a value, it has no depth limit; the containers open at any
//! point are kept as bits in a growable stack.
//!
//! It is faster because it does less per token than a general parser: strings, most of an Okta
//! event's bytes, are skipped eight bytes at a time while none is a quote, a backslash or a
//! control character ([`first_special`]), and no error value is built for a page that fails (the
//! caller then asks serde_json all the same, and decoding goes on as it always has).

/// The elements of the JSON array `text`, or `None` when `text` is not exactly one JSON array
/// (with whitespace around it).
pub(crate) fn array(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut elements = Vec::new();
    let mut open = Stack::default();
    if b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            let start = i;
            i = value(b, i, &mut open)?;
            // Both ends fall on ASCII bytes (a value starts and ends with one), so on char
            // boundaries.
            elements.push(text.get(start..i)?);
            i = skip_ws(b, i);
            match b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b']' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(elements)
}

/// The containers open around the current position, innermost last: a set bit is an object.
#[derive(Default)]
struct Stack {
    words: Vec<u64>,
    depth: usize,
}

impl Stack {
    fn push(&mut self, object: bool) {
        let (word, bit) = (self.depth / 64, self.depth % 64);
        if word == self.words.len() {
            self.words.push(0);
        }
        if object {
            self.words[word] |= 1 << bit;
        } else {
            self.words[word] &= !(1 << bit);
        }
        self.depth += 1;
    }

    /// The innermost open container: `Some(true)` for an object.
    fn top(&self) -> Option<bool> {
        let d = self.depth.checked_sub(1)?;
        Some(self.words[d / 64] & (1 << (d % 64)) != 0)
    }

    fn pop(&mut self) {
        self.depth -= 1;
    }
}

/// One JSON value starting at `i` (no whitespace before it); returns where it ends.
fn value(b: &[u8], mut i: usize, open: &mut Stack) -> Option<usize> {
    loop {
        // A value is due at `i`.
        match *b.get(i)? {
            b'"' => i = string(b, i + 1)?.0,
            b'{' => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    open.push(true);
                    i = skip_ws(b, key(b, i)?);
                    continue;
                }
            }
            b'[' => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    open.push(false);
                    continue;
                }
            }
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => i = number(b, i)?,
            _ => return None,
        }
        // A value just ended: close the containers it ends, then go on after a comma.
        loop {
            let Some(object) = open.top() else {
                return Some(i);
            };
            i = skip_ws(b, i);
            match (*b.get(i)?, object) {
                (b',', true) => {
                    i = skip_ws(b, key(b, skip_ws(b, i + 1))?);
                    break;
                }
                (b',', false) => {
                    i = skip_ws(b, i + 1);
                    break;
                }
                (b'}', true) | (b']', false) => {
                    open.pop();
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

/// An object key and its colon, starting at `i` (the opening quote); returns where the colon ends.
#[inline(always)]
fn key(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(b, string(b, i + 1)?.0);
    (b.get(i) == Some(&b':')).then_some(i + 1)
}

/// The rest of a string whose opening quote is just before `i`: where it ends (after the closing
/// quote), and whether it holds an escape. As serde_json: no control character, and only JSON's
/// escapes (`\u` with four hex digits, whatever code point they name).
#[inline(always)]
pub(super) fn string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        i = skip_plain(b, i);
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                    escaped = true;
                    i += 2;
                }
                b'u' => {
                    let hex = b.get(i + 2..i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    escaped = true;
                    i += 6;
                }
                _ => return None,
            },
            0..0x20 => return None,
            _ => i += 1,
        }
    }
}

/// `true`, `false` or `null` at `i`.
pub(super) fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// A number at `i`: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
pub(super) fn number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: usize| i + b.get(i..).map_or(0, |rest| rest.iter().take_while(|c| c.is_ascii_digit()).count());
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => {
            i += 1;
            // Only one leading zero.
            if b.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
        b'1'..=b'9' => i = digits(i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

/// Past JSON's whitespace (space, tab, newline, carriage return) from `i`.
#[inline(always)]
pub(super) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// From `i`, past the bytes that are not special inside a JSON string ([`first_special`]), eight
/// at a time: where the first special byte sits, or where the last 1 to 7 bytes start (for the
/// caller to look at one by one), or the end.
#[inline(always)]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    while let Some(&word) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        match first_special(u64::from_le_bytes(word)) {
            None => i += 8,
            Some(at) => return i + at,
        }
    }
    i
}

/// Where the first byte of `word` (read little-endian) that is special inside a JSON string sits
/// (0 to 7): a control character (below 0x20), a quote or a backslash. These are also exactly
/// the bytes a JSON writer must escape (`normalize::json::write_str`). By the usual bit tricks: a
/// byte below `n` (for `n` ≤ 0x80) sets its high bit in `(x − n·ONES) & !x`, a zero byte does the
/// same in `(x − ONES) & !x`, and the quote and the backslash are the zero bytes of `x ^ c·ONES`.
/// A borrow between bytes only starts at a byte the test is looking for, so the lowest high bit
/// set is exact (bits above it may be false ones, and are not looked at).
pub(crate) const fn first_special(word: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const fn zero_byte(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x
    }
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = zero_byte(word ^ (ONES * b'"' as u64));
    let backslash = zero_byte(word ^ (ONES * b'\\' as u64));
    let found = (control | quote | backslash) & HIGH;
    if found == 0 { None } else { Some(found.trailing_zeros() as usize / 8) }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    use super::array;

    /// What serde_json makes of the same text.
    fn oracle(text: &str) -> Option<Vec<&str>> {
        serde_json::from_str::<Vec<&RawValue>>(text).ok().map(|v| v.iter().map(|r| r.get()).collect())
    }

    fn agrees(text: &str) {
        assert_eq!(array(text), oracle(text), "{text:?}");
    }

    #[test]
    fn splits_like_serde_json_on_hand_picked_pages() {
        let cases = [
            "[]",
            " [ ] ",
            "[1]",
            "[ 1 , 2 ]\n",
            r#"[{"a":1},{"b":[true,false,null]}]"#,
            r#"[{"a":{"b":{"c":[[],[{}],{"d":"e"}]}}}]"#,
            r#"["\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00", "tab	inside"]"#,
            r#"["\u12G4"]"#,
            r#"["\x"]"#,
            r#"["\u12"]"#,
            "[\"a\u{1}b\"]",
            "[\"é ü 日本 😀\"]",
            "[-0, 0.5, -1.25e+10, 1E-3, 10, 0e0]",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[1e+]",
            "[-]",
            "[--1]",
            "[+1]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[1]]",
            "[[1]",
            "[{]",
            "[{}",
            r#"[{"a"}]"#,
            r#"[{"a":}]"#,
            r#"[{"a":1,}]"#,
            r#"[{1:2}]"#,
            r#"[{"a" : 1 , "b" : 2}]"#,
            r#"[{"a":1]"#,
            r#"[["a"}]"#,
            "[tru]",
            "[nul]",
            "[truex]",
            "[true false]",
            "[NaN]",
            "[\"unterminated]",
            "[1]x",
            "[1] [2]",
            "{\"a\":1}",
            "",
            "   ",
            "[",
            "[\u{a0}1]",
            "[1\u{b}]",
            "\u{feff}[1]",
        ];
        for case in cases {
            agrees(case);
        }
        // Deeper than serde_json's recursion limit for values it parses (skipped values have none).
        let deep = format!("[{}{}]", "[".repeat(300), "]".repeat(300));
        agrees(&deep);
        assert!(array(&deep).is_some());
    }

    #[test]
    fn splits_every_case_event_page_like_serde_json() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/normalize");
        let mut events = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("the case directory") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|x| x == "json") {
                events.push(std::fs::read_to_string(&path).expect("a case"));
            }
        }
        assert!(events.len() > 50, "{} cases", events.len());
        let page = format!("[{}]", events.join(",\n  "));
        let split = array(&page).expect("the case events form a page");
        assert_eq!(Some(split.clone()), oracle(&page));
        assert_eq!(split.len(), events.len());
        // Every prefix of a page is refused, as serde_json refuses it.
        for cut in (0..page.len()).filter(|c| page.is_char_boundary(*c)).step_by(7) {
            assert_eq!(array(&page[..cut]), None, "cut at {cut}");
        }
    }

    /// JSON-like text: JSON's own tokens, some wrong ones, and whitespace, in any order.
    pub(crate) fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            " ",
            "\n",
            "\t",
            "\"a\"",
            "\"\\u00e9\"",
            "\"\\n\"",
            "\"\\q\"",
            "\"\u{1}\"",
            "\"",
            "\\",
            "0",
            "-1",
            "1.5",
            "2e9",
            "01",
            "1.",
            "-",
            "e5",
            "true",
            "false",
            "null",
            "nul",
            "x",
            "é",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn any_token_soup_splits_like_serde_json(tokens in prop::collection::vec(token(), 0..24)) {
            let text = format!("[{}]", tokens.concat());
            prop_assert_eq!(array(&text), oracle(&text));
        }

        #[test]
        fn any_json_array_splits_like_serde_json(values in prop::collection::vec(any_json(), 0..6), pretty in any::<bool>()) {
            let page = serde_json::Value::Array(values);
            let text = if pretty { serde_json::to_string_pretty(&page) } else { serde_json::to_string(&page) }
                .expect("serializes");
            prop_assert!(array(&text).is_some());
            prop_assert_eq!(array(&text), oracle(&text));
        }

        #[test]
        fn any_text_splits_like_serde_json(text in ".{0,64}") {
            prop_assert_eq!(array(&text), oracle(&text));
            let bracketed = format!("[{text}]");
            prop_assert_eq!(array(&bracketed), oracle(&bracketed));
        }
    }

    /// Any JSON value, with numbers of every kind and strings of any characters (escaped when written).
    pub(crate) fn any_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
