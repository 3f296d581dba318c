//! The Markdown rendering and the Markdown helpers used by the book builder.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd, TextMergeStream};

use crate::fragment::{heading_shape, level_number, parser_options, shifted_level, Figures, HeadingShape, Target};
use crate::labels::Labels;
use crate::plan::{one_line, Plan, CONTENTS_ANCHOR, LABS_ANCHOR};
use crate::text::{find_tags, md_inline, segments, Segment};
use crate::Book;

/// Renders the whole book as one Markdown document.
pub(crate) fn render(book: &Book) -> String {
    let plan = Plan::new(book);
    let labels = plan.labels;
    let mut figures = Figures::new(&book.images, Target::Page);
    let mut out = String::new();

    out.push_str(&format!("# {}\n\n", md_inline(&plan.title)));
    if let Some(description) = book.description.as_deref() {
        for paragraph in paragraphs(description) {
            out.push_str(&md_inline(&paragraph));
            out.push_str("\n\n");
        }
    }
    if let Some(level) = book.level.as_deref().map(one_line).filter(|l| !l.is_empty()) {
        out.push_str(&format!("**{}:** {}\n\n", md_inline(labels.level), md_inline(&level)));
    }
    if let Some(notice) = book.notice.as_deref() {
        let parts = paragraphs(notice);
        if !parts.is_empty() {
            out.push_str(&format!("> **{}:** ", md_inline(labels.note)));
            out.push_str(&parts.iter().map(|p| md_inline(p)).collect::<Vec<_>>().join("\n>\n> "));
            out.push_str("\n\n");
        }
    }
    for (label, items) in &plan.lists {
        out.push_str(&format!("## {}\n\n", md_inline(label)));
        for item in items {
            out.push_str(&format!("- {}\n", md_inline(item)));
        }
        out.push('\n');
    }

    out.push_str(&format!("<a id=\"{CONTENTS_ANCHOR}\"></a>\n\n## {}\n\n", md_inline(labels.contents)));
    for module in &plan.modules {
        out.push_str(&format!("- [{}](#{})\n", md_inline(&module.heading), module.anchor));
        for lesson in &module.lessons {
            out.push_str(&format!("  - [{}](#{})\n", md_inline(&lesson.heading), lesson.anchor));
        }
    }
    if !plan.labs.is_empty() {
        out.push_str(&format!("- [{}](#{LABS_ANCHOR})\n", md_inline(labels.labs)));
        for lab in &plan.labs {
            out.push_str(&format!("  - [{}](#{})\n", md_inline(&lab.heading), lab.anchor));
        }
    }
    out.push('\n');

    for module in &plan.modules {
        out.push_str(&format!("<a id=\"{}\"></a>\n\n## {}\n\n", module.anchor, md_inline(&module.heading)));
        if let Some(summary) = module.module.summary.as_deref() {
            for paragraph in paragraphs(summary) {
                out.push_str(&md_inline(&paragraph));
                out.push_str("\n\n");
            }
        }
        for lesson in &module.lessons {
            out.push_str(&format!("<a id=\"{}\"></a>\n\n### {}\n\n", lesson.anchor, md_inline(&lesson.heading)));
            out.push_str(&rewrite_fragment(lesson.markdown, lesson.title, 4, labels, &mut figures));
            if let Some(quiz) = lesson.quiz {
                if !out.ends_with("\n\n") {
                    out.push('\n');
                }
                crate::quiz::push_markdown(&mut out, quiz, 4, labels);
            }
        }
        let quizzes: Vec<(&str, &str, &crate::BookQuiz)> =
            module.lessons.iter().filter_map(|l| l.quiz.map(|q| (l.anchor.as_str(), l.heading.as_str(), q))).collect();
        crate::quiz::push_markdown_key(&mut out, &quizzes, 3, labels);
    }
    if !plan.labs.is_empty() {
        out.push_str(&format!("<a id=\"{LABS_ANCHOR}\"></a>\n\n## {}\n\n", md_inline(labels.labs)));
        for lab in &plan.labs {
            out.push_str(&format!("<a id=\"{}\"></a>\n\n### {}\n\n", lab.anchor, md_inline(&lab.heading)));
            out.push_str(&rewrite_fragment(lab.markdown, lab.title, 4, labels, &mut figures));
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Plain-text paragraphs (separated by blank lines), each collapsed to one line.
pub(crate) fn paragraphs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in s.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(one_line(&current.join(" ")));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(one_line(&current.join(" ")));
    }
    out
}

/// A replacement of a byte range of the source.
struct Edit {
    range: Range<usize>,
    with: String,
}

/// Rewrites a lesson or lab for the book: headings shifted below `base`, a repeated title heading
/// dropped, visual tags replaced by images and captions, and an unclosed code fence closed.
fn rewrite_fragment(md: &str, title: &str, base: u8, labels: &Labels, figures: &mut Figures<'_>) -> String {
    let shape = heading_shape(md, title);
    let mut edits: Vec<Edit> = Vec::new();
    let mut literal: Vec<Range<usize>> = Vec::new();
    let mut unclosed_fence: Option<String> = None;

    for (index, (event, range)) in Parser::new_ext(md, parser_options()).into_offset_iter().enumerate() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                if index == 0 && shape.drop_first {
                    let mut end = range.end;
                    if md[end..].starts_with('\n') {
                        end += 1;
                    }
                    literal.push(range.start..end);
                    edits.push(Edit { range: range.start..end, with: String::new() });
                } else {
                    heading_edits(md, range, level_number(level), &shape, base, &mut edits);
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                if let CodeBlockKind::Fenced(_) = kind {
                    unclosed_fence = unclosed_fence_closer(md, range.clone()).or(unclosed_fence);
                }
                literal.push(range);
            }
            Event::Start(Tag::HtmlBlock | Tag::Image { .. } | Tag::MetadataBlock(_))
            | Event::Code(_)
            | Event::InlineHtml(_)
            | Event::Html(_)
            | Event::InlineMath(_)
            | Event::DisplayMath(_) => literal.push(range),
            _ => {}
        }
    }

    for (start, end, id) in find_tags(md) {
        if literal.iter().any(|r| start < r.end && end > r.start) {
            continue;
        }
        let line_start = md[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = md[end..].find('\n').map_or(md.len(), |i| end + i);
        let before = &md[line_start..start];
        let alone = before.trim().is_empty() && md[end..line_end].trim().is_empty();
        let with = match figures.resolve(id) {
            Some(fig) => {
                let caption = if fig.caption.is_empty() {
                    format!("{} {}.", labels.figure, fig.number)
                } else {
                    format!("{} {}. {}", labels.figure, fig.number, fig.caption)
                };
                let alt = if fig.alt.is_empty() { fig.caption.clone() } else { fig.alt.clone() };
                let image = format!("![{}](<{}>)", md_inline(&alt), fig.src.replace(['<', '>'], ""));
                if alone {
                    format!("{image}\n{before}\n{before}*{}*", md_inline(&caption))
                } else {
                    format!("{image} *{}*", md_inline(&caption))
                }
            }
            None => format!("**{}**", md_inline(&format!("[{} {id}]", labels.missing_visual))),
        };
        edits.push(Edit { range: start..end, with });
    }

    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(md.len() + 64);
    let mut pos = 0;
    for edit in edits {
        if edit.range.start < pos {
            continue;
        }
        out.push_str(&md[pos..edit.range.start]);
        out.push_str(&edit.with);
        pos = edit.range.end;
    }
    out.push_str(&md[pos..]);
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    if let Some(closer) = unclosed_fence {
        out.push('\n');
        out.push_str(&closer);
    }
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out
}

/// Edits that move one heading to its level in the book (ATX headings keep their form; setext
/// headings become ATX headings, since setext cannot express levels 3–6).
fn heading_edits(md: &str, range: Range<usize>, level: u8, shape: &HeadingShape, base: u8, edits: &mut Vec<Edit>) {
    let new = usize::from(shifted_level(level, shape, base));
    let source = &md[range.clone()];
    let trimmed = source.trim_end();
    let Some(content_offset) = trimmed.find(|c: char| !c.is_whitespace()) else {
        return;
    };
    let content_start = range.start + content_offset;
    match trimmed.rfind('\n') {
        None => {
            // ATX: replace the run of `#`.
            let hashes = trimmed[content_offset..].chars().take_while(|&c| c == '#').count();
            edits.push(Edit { range: content_start..content_start + hashes, with: "#".repeat(new) });
        }
        Some(underline) => {
            let underline_start = range.start + underline;
            if underline_start < content_start {
                return;
            }
            edits.push(Edit { range: content_start..content_start, with: format!("{} ", "#".repeat(new)) });
            for (i, _) in md[content_start..underline_start].match_indices('\n') {
                let at = content_start + i;
                edits.push(Edit { range: at..at + 1, with: " ".into() });
            }
            edits.push(Edit { range: underline_start..range.start + trimmed.len(), with: String::new() });
        }
    }
}

/// The closing fence line for a fenced code block that runs to the end of the fragment unclosed.
fn unclosed_fence_closer(md: &str, range: Range<usize>) -> Option<String> {
    let line_start = md[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let block = &md[range.start..range.end];
    let fence_at = block.find(['`', '~'])?;
    let fence_char = block[fence_at..].chars().next()?;
    let fence_len = block[fence_at..].chars().take_while(|&c| c == fence_char).count();
    let lines: Vec<&str> = block.trim_end().lines().collect();
    let closed = lines.len() > 1
        && lines.last().is_some_and(|last| {
            let last = last.trim_start_matches(|c: char| c == '>' || c.is_whitespace()).trim_end();
            last.len() >= fence_len && last.chars().all(|c| c == fence_char)
        });
    if closed {
        return None;
    }
    let prefix = &md[line_start..range.start + fence_at];
    let prefix: String = prefix.chars().map(|c| if c == '>' || c == '\t' { c } else { ' ' }).collect();
    Some(format!("{prefix}{}", fence_char.to_string().repeat(fence_len)))
}

/// The events of `markdown` (adjacent text merged), each with whether it lies inside a literal
/// part: a code block, raw HTML, an image description or a metadata block.
fn events_with_literal(markdown: &str) -> impl Iterator<Item = (Event<'_>, bool)> {
    let mut depth = 0usize;
    TextMergeStream::new(Parser::new_ext(markdown, parser_options())).map(move |event| {
        match &event {
            Event::Start(tag) if is_literal(tag) => depth += 1,
            Event::End(tag) if is_literal_end(*tag) => depth = depth.saturating_sub(1),
            _ => {}
        }
        (event, depth > 0)
    })
}

/// Ids of the visual tags in `markdown` (outside code and raw HTML), each once, in order of first use.
pub(crate) fn visual_ids(markdown: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (event, literal) in events_with_literal(markdown) {
        if let (Event::Text(t), false) = (event, literal) {
            for (_, _, id) in find_tags(&t) {
                if !ids.iter().any(|known| known == id) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

/// Words of prose in `markdown`: text, headings, list items, table cells and inline code count;
/// code blocks, raw HTML, image descriptions, link destinations, Markdown syntax and visual tags do not.
pub(crate) fn word_count(markdown: &str) -> u64 {
    let mut prose = String::with_capacity(markdown.len());
    for (event, literal) in events_with_literal(markdown) {
        match event {
            Event::Start(tag) if is_literal(&tag) => {}
            Event::End(tag) if is_literal_end(tag) => prose.push(' '),
            Event::Text(t) | Event::Code(t) if !literal => prose.push_str(&t),
            Event::SoftBreak | Event::HardBreak | Event::Rule => prose.push(' '),
            Event::Start(tag) if !is_inline(&tag) => prose.push(' '),
            Event::End(tag) if !is_inline_end(tag) => prose.push(' '),
            _ => {}
        }
    }
    let mut count = 0u64;
    for segment in segments(&prose) {
        if let Segment::Text(s) = segment {
            let words = s.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count();
            count = count.saturating_add(u64::try_from(words).unwrap_or(u64::MAX));
        }
    }
    count
}

fn is_literal(tag: &Tag<'_>) -> bool {
    matches!(tag, Tag::CodeBlock(_) | Tag::HtmlBlock | Tag::Image { .. } | Tag::MetadataBlock(_))
}

fn is_literal_end(tag: TagEnd) -> bool {
    matches!(tag, TagEnd::CodeBlock | TagEnd::HtmlBlock | TagEnd::Image | TagEnd::MetadataBlock(_))
}

fn is_inline(tag: &Tag<'_>) -> bool {
    matches!(
        tag,
        Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Superscript | Tag::Subscript | Tag::Link { .. }
    )
}

fn is_inline_end(tag: TagEnd) -> bool {
    matches!(
        tag,
        TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_headings_and_drops_repeated_title() {
        let images = Default::default();
        let mut figures = Figures::new(&images, Target::Page);
        let labels = crate::labels::labels_for("en");
        let md = "# Lesson 1.1: Intro\n\nText.\n\n## Part\n\nSetext\n------\n\n```\n# not a heading\n```\n";
        let out = rewrite_fragment(md, "Intro", 4, labels, &mut figures);
        assert!(!out.contains("Intro"), "{out}");
        assert!(out.contains("#### Part\n"), "{out}");
        assert!(out.contains("\n#### Setext\n"), "{out}");
        assert!(out.contains("# not a heading"), "{out}");
        assert!(!out.contains("------"), "{out}");
    }

    #[test]
    fn closes_unclosed_fences() {
        let images = Default::default();
        let mut figures = Figures::new(&images, Target::Page);
        let labels = crate::labels::labels_for("en");
        let out = rewrite_fragment("Text\n\n```rust\nfn main() {}\n", "", 4, labels, &mut figures);
        assert!(out.trim_end().ends_with("```"), "{out}");
        let out = rewrite_fragment("- item\n\n  ~~~~\n  code\n", "", 4, labels, &mut figures);
        assert!(out.trim_end().ends_with("  ~~~~"), "{out}");
        let closed = rewrite_fragment("```\ncode\n```\n", "", 4, labels, &mut figures);
        assert_eq!(closed, "```\ncode\n```\n\n");
    }

    #[test]
    fn splits_paragraphs() {
        assert_eq!(paragraphs("a\nb\n\n\nc  d\n"), vec!["a b".to_string(), "c d".to_string()]);
    }
}
