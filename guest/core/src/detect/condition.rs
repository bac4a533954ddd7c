//! The `condition:` grammar of a detection, compiled to a tree over search indexes.
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | primary
//! primary := "(" expr ")" | ("1" | "any" | "all" | N) "of" ("them" | name-pattern) | name
//! ```
//! Keywords are case-insensitive; a name pattern may use `*`. `them` means every search whose
//! name does not start with `_`.

use std::collections::BTreeSet;

/// A compiled condition. Indexes point into the detection's searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    Search(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// At least `min` of the searches (`min == len` for `all of`).
    Of {
        min: usize,
        searches: Vec<usize>,
    },
}

/// A condition that does not parse: the byte offset in the condition text and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CondError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'t> {
    Word(&'t str),
    Open,
    Close,
}

fn lex(text: &str) -> Result<Vec<(usize, Tok<'_>)>, CondError> {
    let mut out = Vec::new();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push((i, Tok::Open)),
            ')' => out.push((i, Tok::Close)),
            c if is_word_char(c) => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = iter.peek() {
                    if !is_word_char(d) {
                        break;
                    }
                    end = j + d.len_utf8();
                    iter.next();
                }
                out.push((i, Tok::Word(&text[i..end])));
            }
            c => {
                return Err(CondError {
                    offset: i,
                    message: format!(
                        "the condition has '{c}', which is not allowed; use names, and, or, not, parentheses and 'of'"
                    ),
                });
            }
        }
    }
    Ok(out)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '*')
}

struct Parser<'t, 'n> {
    toks: Vec<(usize, Tok<'t>)>,
    pos: usize,
    end: usize,
    names: &'n [String],
}

/// Parses `text` against the detection's search `names`.
pub(crate) fn parse(text: &str, names: &[String]) -> Result<Cond, CondError> {
    let mut p = Parser { toks: lex(text)?, pos: 0, end: text.len(), names };
    if p.toks.is_empty() {
        return Err(CondError {
            offset: 0,
            message: "the condition is empty; write for example 'selection and not filter'".into(),
        });
    }
    let cond = p.expr()?;
    if let Some((offset, tok)) = p.toks.get(p.pos) {
        let what = match tok {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Open => "'('".into(),
            Tok::Close => "')' without a matching '('".into(),
        };
        return Err(CondError {
            offset: *offset,
            message: format!("unexpected {what} in the condition; join terms with 'and' or 'or'"),
        });
    }
    Ok(cond)
}

fn keyword(tok: Option<&(usize, Tok<'_>)>, word: &str) -> bool {
    matches!(tok, Some((_, Tok::Word(w))) if w.eq_ignore_ascii_case(word))
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&(usize, Tok<'_>)> {
        self.toks.get(self.pos)
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.end, |(o, _)| *o)
    }

    fn expr(&mut self) -> Result<Cond, CondError> {
        let mut terms = vec![self.and()?];
        while keyword(self.peek(), "or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Cond::Or(terms) })
    }

    fn and(&mut self) -> Result<Cond, CondError> {
        let mut terms = vec![self.not()?];
        while keyword(self.peek(), "and") {
            self.pos += 1;
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Cond::And(terms) })
    }

    fn not(&mut self) -> Result<Cond, CondError> {
        if keyword(self.peek(), "not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, CondError> {
        let offset = self.offset();
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return Err(CondError { offset, message: "the condition ends too early; a search name is missing".into() });
        };
        self.pos += 1;
        match tok {
            Tok::Open => {
                let inner = self.expr()?;
                if !matches!(self.peek(), Some((_, Tok::Close))) {
                    return Err(CondError { offset: self.offset(), message: "a '(' is not closed; add ')'".into() });
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Close => Err(CondError { offset, message: "')' where a search name should be".into() }),
            Tok::Word(word) if keyword(self.peek(), "of") => {
                self.pos += 1;
                self.quantified(word, offset)
            }
            Tok::Word(word) => {
                if ["and", "or", "of", "them"].iter().any(|k| word.eq_ignore_ascii_case(k)) {
                    return Err(CondError { offset, message: format!("'{word}' where a search name should be") });
                }
                match self.names.iter().position(|n| n == word) {
                    Some(i) => Ok(Cond::Search(i)),
                    None => Err(CondError {
                        offset,
                        message: format!(
                            "condition refers to '{word}', which is not defined; defined: {}",
                            self.names.join(", ")
                        ),
                    }),
                }
            }
        }
    }

    fn quantified(&mut self, quantity: &str, offset: usize) -> Result<Cond, CondError> {
        let target_offset = self.offset();
        let Some((_, Tok::Word(target))) = self.toks.get(self.pos).cloned() else {
            return Err(CondError {
                offset: target_offset,
                message: "'of' needs 'them' or a name pattern such as selection_*".into(),
            });
        };
        self.pos += 1;
        let searches: Vec<usize> = if target.eq_ignore_ascii_case("them") {
            (0..self.names.len()).filter(|&i| !self.names[i].starts_with('_')).collect()
        } else {
            (0..self.names.len()).filter(|&i| wildcard(target, &self.names[i])).collect()
        };
        if searches.is_empty() {
            return Err(CondError {
                offset: target_offset,
                message: format!("'{quantity} of {target}' matches no search; defined: {}", self.names.join(", ")),
            });
        }
        let min = if quantity.eq_ignore_ascii_case("all") {
            searches.len()
        } else if quantity.eq_ignore_ascii_case("any") {
            1
        } else {
            match quantity.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(CondError {
                        offset,
                        message: format!("'{quantity} of' is not a quantity; write '1 of', 'all of' or a number"),
                    });
                }
            }
        };
        Ok(Cond::Of { min, searches })
    }
}

/// `*` matches any run of characters; everything else literally.
fn wildcard(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

impl Cond {
    /// Evaluates with `search(i)` giving each search's result (asked at most once each).
    pub(crate) fn eval(&self, search: &mut dyn FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Search(i) => search(*i),
            Cond::Not(inner) => !inner.eval(search),
            Cond::And(terms) => terms.iter().all(|t| t.eval(search)),
            Cond::Or(terms) => terms.iter().any(|t| t.eval(search)),
            Cond::Of { min, searches } => {
                let mut n = 0;
                for &i in searches {
                    if search(i) {
                        n += 1;
                        if n >= *min {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }

    /// The values one field must take for the condition to hold, given what each search
    /// requires (`None`: no requirement known). Used to index rules by `eventType`.
    pub(crate) fn required(&self, search: &dyn Fn(usize) -> Option<BTreeSet<String>>) -> Option<BTreeSet<String>> {
        let union = |sets: Vec<Option<BTreeSet<String>>>| -> Option<BTreeSet<String>> {
            let mut all = BTreeSet::new();
            for set in sets {
                all.extend(set?);
            }
            Some(all)
        };
        let narrowest = |sets: Vec<Option<BTreeSet<String>>>| sets.into_iter().flatten().min_by_key(BTreeSet::len);
        match self {
            Cond::Search(i) => search(*i),
            Cond::Not(_) => None,
            Cond::And(terms) => narrowest(terms.iter().map(|t| t.required(search)).collect()),
            Cond::Or(terms) => union(terms.iter().map(|t| t.required(search)).collect()),
            Cond::Of { min, searches } if *min >= searches.len() => {
                narrowest(searches.iter().map(|&i| search(i)).collect())
            }
            Cond::Of { searches, .. } => union(searches.iter().map(|&i| search(i)).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["selection", "filter", "sel_a", "sel_b", "_hidden"].iter().map(|s| (*s).to_owned()).collect()
    }

    fn p(text: &str) -> Result<Cond, CondError> {
        parse(text, &names())
    }

    fn truth(text: &str, true_ones: &[usize]) -> bool {
        p(text).unwrap().eval(&mut |i| true_ones.contains(&i))
    }

    #[test]
    fn precedence_and_parentheses() {
        assert_eq!(
            p("selection and not filter").unwrap(),
            Cond::And(vec![Cond::Search(0), Cond::Not(Box::new(Cond::Search(1)))])
        );
        assert!(truth("selection or filter and sel_a", &[0]));
        assert!(!truth("(selection or filter) and sel_a", &[0]));
        assert!(truth("NOT filter", &[]));
        assert!(truth("not not selection", &[0]));
    }

    #[test]
    fn quantifiers() {
        assert_eq!(p("1 of sel_*").unwrap(), Cond::Of { min: 1, searches: vec![2, 3] });
        assert_eq!(p("all of sel_*").unwrap(), Cond::Of { min: 2, searches: vec![2, 3] });
        assert_eq!(p("1 of them").unwrap(), Cond::Of { min: 1, searches: vec![0, 1, 2, 3] });
        assert!(truth("all of sel_* and not filter", &[2, 3]));
        assert!(!truth("all of sel_*", &[2]));
        assert!(truth("any of them", &[3]));
    }

    #[test]
    fn errors_point_at_the_word() {
        let e = p("selectoin and not filter").unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(
            e.message,
            "condition refers to 'selectoin', which is not defined; defined: selection, filter, sel_a, sel_b, _hidden"
        );
        assert_eq!(p("selection and filtre").unwrap_err().offset, 14);
        assert!(p("(selection").unwrap_err().message.contains("not closed"));
        assert!(p("selection filter").unwrap_err().message.contains("unexpected 'filter'"));
        assert!(p("1 of nothing_*").unwrap_err().message.contains("matches no search"));
        assert!(p("selection and").unwrap_err().message.contains("ends too early"));
        assert!(p("").unwrap_err().message.contains("empty"));
        assert!(p("selection | count() > 5").unwrap_err().message.contains("'|'"));
    }

    #[test]
    fn required_values() {
        let req = |i: usize| (i == 0).then(|| BTreeSet::from(["a".to_owned()]));
        assert_eq!(p("selection and not filter").unwrap().required(&req), Some(BTreeSet::from(["a".to_owned()])));
        assert_eq!(p("selection or filter").unwrap().required(&req), None);
        assert_eq!(p("not selection").unwrap().required(&req), None);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("sel_*", "sel_a") && wildcard("*a", "sel_a") && wildcard("s*_*a", "sel_a"));
        assert!(!wildcard("sel_*", "selection") && !wildcard("x*", "sel_a"));
    }
}
