//! URL policy and visual-tag scanning shared by every renderer.

pub(crate) use crate::escape::{attr, push_attr, push_text, text};

use std::fmt::Write as _;

/// What a link or image destination points at, after the safety policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Url {
    /// `http:`, `https:` (or protocol-relative) and `mailto:` URLs.
    Absolute(String),
    /// A path relative to the document.
    Relative(String),
    /// A fragment within the document (`#...`).
    Fragment(String),
    /// Any other scheme (`javascript:`, `data:`, `vbscript:`, `file:` ...): never emitted.
    Unsafe,
}

/// Classifies and normalises a destination from untrusted Markdown.
///
/// Browsers ignore ASCII tab and newline inside URLs and trim control characters and spaces at
/// both ends, so the scheme is read only after doing the same. The returned URL is
/// percent-encoded where needed but not yet attribute-escaped.
pub(crate) fn classify_url(raw: &str) -> Url {
    let cleaned: String = raw
        .trim_matches(|c: char| c <= ' ' || c.is_whitespace())
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let end = cleaned.find([':', '/', '?', '#']);
    if let Some(idx) = end {
        if cleaned[idx..].starts_with(':') {
            let scheme = &cleaned[..idx];
            let well_formed = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if !well_formed {
                // `:` before any `/`, `?`, `#` without a valid scheme: browsers may still read it as one.
                return Url::Unsafe;
            }
            return match scheme.to_ascii_lowercase().as_str() {
                "http" | "https" | "mailto" => Url::Absolute(percent_encode(&cleaned)),
                _ => Url::Unsafe,
            };
        }
    }
    if cleaned.chars().any(|c| c.is_control()) {
        return Url::Unsafe;
    }
    if cleaned.starts_with("//") {
        return Url::Absolute(percent_encode(&cleaned));
    }
    if cleaned.starts_with('#') {
        return Url::Fragment(percent_encode(&cleaned));
    }
    Url::Relative(percent_encode(&cleaned))
}

/// Percent-encodes bytes that are not allowed verbatim in a URL (spaces, quotes, non-ASCII ...).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~!*'();:@&=+$,/?#[]%".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Escapes text so that Markdown shows it literally (titles, captions, list items from outlines).
pub(crate) fn md_inline(s: &str) -> String {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(collapsed.len() + 8);
    for (i, c) in collapsed.chars().enumerate() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' | '=' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    // `1. text` or `1) text` at the start would become an ordered list.
    let digits = out.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && matches!(out[digits..].chars().next(), Some('.' | ')')) {
        out.insert(digits, '\\');
    }
    out
}

/// A piece of text: either plain text or a visual tag's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Text(&'a str),
    Visual(&'a str),
}

/// Finds `[VISUAL: id]` tags (case-insensitive keyword, optional spaces) in `s`, as byte ranges and ids.
pub(crate) fn find_tags(s: &str) -> Vec<(usize, usize, &str)> {
    let bytes = s.as_bytes();
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(off) = s[pos..].find('[') {
        let start = pos + off;
        if let Some((end, id)) = parse_tag(s, start) {
            found.push((start, end, id));
            pos = end;
        } else {
            pos = start + 1;
        }
        if pos >= bytes.len() {
            break;
        }
    }
    found
}

/// Parses a tag starting at the `[` at `start`; returns the end (exclusive) and the id.
fn parse_tag(s: &str, start: usize) -> Option<(usize, &str)> {
    let b = s.as_bytes();
    let skip_spaces = |mut i: usize| {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        i
    };
    let mut i = skip_spaces(start + 1);
    let keyword = b.get(i..i + 6)?;
    if !keyword.eq_ignore_ascii_case(b"visual") {
        return None;
    }
    i = skip_spaces(i + 6);
    if b.get(i) != Some(&b':') {
        return None;
    }
    i = skip_spaces(i + 1);
    let id_start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'_' | b'.')) {
        i += 1;
    }
    if i == id_start {
        return None;
    }
    let id_end = i;
    i = skip_spaces(i);
    if b.get(i) != Some(&b']') {
        return None;
    }
    Some((i + 1, &s[id_start..id_end]))
}

/// Splits text into plain pieces and visual tags, in order.
pub(crate) fn segments(s: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    for (start, end, id) in find_tags(s) {
        if start > pos {
            out.push(Segment::Text(&s[pos..start]));
        }
        out.push(Segment::Visual(id));
        pos = end;
    }
    if pos < s.len() {
        out.push(Segment::Text(&s[pos..]));
    }
    out
}

/// Lower-cased alphanumeric words joined by single spaces, for loose title comparison.
pub(crate) fn normalise_words(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` reduced to characters safe in ids and file names (`[A-Za-z0-9_-]`).
pub(crate) fn slug(s: &str) -> String {
    let mut out: String =
        s.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).collect();
    if out.is_empty() {
        out.push('x');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(text("<a & b>"), "&lt;a &amp; b&gt;");
        assert_eq!(attr("\"x' onerror=1"), "&quot;x&#39; onerror=1");
        assert_eq!(text("a\u{1}b\u{FFFF}c"), "abc");
    }

    #[test]
    fn url_policy() {
        assert_eq!(classify_url("javascript:alert(1)"), Url::Unsafe);
        assert_eq!(classify_url(" JaVa\tScRiPt:alert(1)"), Url::Unsafe);
        assert_eq!(classify_url("data:text/html,<b>x</b>"), Url::Unsafe);
        assert_eq!(classify_url("vbscript:msgbox"), Url::Unsafe);
        assert_eq!(classify_url("\u{1}javascript:x"), Url::Unsafe);
        assert_eq!(classify_url("https://example.com/a b"), Url::Absolute("https://example.com/a%20b".into()));
        assert_eq!(classify_url("mailto:a@b.c"), Url::Absolute("mailto:a@b.c".into()));
        assert_eq!(classify_url("../images/x.svg"), Url::Relative("../images/x.svg".into()));
        assert_eq!(classify_url("#m01"), Url::Fragment("#m01".into()));
        assert_eq!(classify_url("a/b:c"), Url::Relative("a/b:c".into()));
    }

    #[test]
    fn finds_visual_tags() {
        let s = "a [VISUAL: 01-02-03] b [visual:04-05-06 ] [VISUAL] [VISUAL: ] [x]";
        let ids: Vec<_> = find_tags(s).into_iter().map(|t| t.2).collect();
        assert_eq!(ids, ["01-02-03", "04-05-06"]);
        assert_eq!(segments("x[VISUAL: 1]y"), vec![Segment::Text("x"), Segment::Visual("1"), Segment::Text("y")]);
    }

    #[test]
    fn markdown_escaping() {
        assert_eq!(md_inline("<b>*x*</b>"), "\\<b\\>\\*x\\*\\</b\\>");
        assert_eq!(md_inline("1. One"), "1\\. One");
        assert_eq!(md_inline("- item"), "\\- item");
    }
}
