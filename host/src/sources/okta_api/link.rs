//! `Link` headers (RFC 8288), read the way Okta sends them: one header line per relation, though
//! a proxy may join them with commas. Every value is read; commas inside `<...>` do not split.

/// The URL with relation `rel` among all `Link` header values, if any.
pub fn find<'h>(values: impl IntoIterator<Item = &'h str>, rel: &str) -> Option<String> {
    values
        .into_iter()
        .flat_map(parse)
        .find(|(_, rels)| rels.iter().any(|r| r.eq_ignore_ascii_case(rel)))
        .map(|(url, _)| url)
}

/// Every (url, relations) in one header value.
fn parse(value: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = value.trim();
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else { break };
        let url = rest[open + 1..open + close].trim().to_owned();
        rest = &rest[open + close + 1..];
        // Parameters run to the next top-level comma (a quoted value may contain one).
        let mut in_quotes = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == ',' && !in_quotes
            })
            .map_or(rest.len(), |(i, _)| i);
        let params = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        let mut rels = Vec::new();
        for param in params.split(';') {
            let Some((key, val)) = param.split_once('=') else { continue };
            if key.trim().eq_ignore_ascii_case("rel") {
                rels.extend(val.trim().trim_matches('"').split_whitespace().map(str::to_owned));
            }
        }
        out.push((url, rels));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_lines_joined_values_and_quoting() {
        let lines = [
            r#"<https://acme.okta.com/api/v1/logs?limit=20&since=2026-11-20T00%3A00%3A00Z>; rel="self""#,
            r#"<https://acme.okta.com/api/v1/logs?limit=20&after=1627500044869_1>; rel="next""#,
        ];
        assert_eq!(
            find(lines, "next").as_deref(),
            Some("https://acme.okta.com/api/v1/logs?limit=20&after=1627500044869_1")
        );
        let joined = r#"<https://x/a?b=1,2>; rel=self, <https://x/next>; title="a, b"; rel="prev next""#;
        assert_eq!(find([joined], "next").as_deref(), Some("https://x/next"));
        assert_eq!(find([joined], "self").as_deref(), Some("https://x/a?b=1,2"));
        assert_eq!(find(["garbage", "<unterminated"], "next"), None);
        assert_eq!(find([lines[0]], "next"), None, "only self: no next");
    }
}
