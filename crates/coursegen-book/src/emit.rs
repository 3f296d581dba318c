//! Markdown → XHTML-compatible HTML, with visual tags resolved and untrusted markup neutralised.
//!
//! The emitter writes markup that is both valid HTML5 and well-formed XHTML: void elements are
//! self-closed, only the five XML entities are used, raw HTML from the Markdown is shown as text,
//! and link/image destinations pass the URL policy in [`crate::text::classify_url`].
//!
//! Paragraphs, headings, lists, quotes, code, emphasis, breaks and text are written by
//! pulldown-cmark's HTML writer; the emitter adds the book's rules on top: headings moved to their
//! level in the book, visual tags turned into figures, a paragraph's `<p>` written only once it has
//! content, and its own markup where the writer's differs (tables, links, images, raw HTML).

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, LinkType, Parser, Tag, TagEnd};

use crate::escape::xml_chars;
use crate::fragment::{
    heading_shape, level_number, parser_options, shifted_level, Figures, HeadingShape, Placement, Target,
};
use crate::labels::Labels;
use crate::text::{self, classify_url, push_attr, push_text, segments, Segment, Url};

/// What an open element is; a figure may only be written directly in a paragraph or list item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Paragraph,
    Item,
    Block,
    Inline,
    /// A link that is written (an unsafe destination leaves only its text).
    Link,
    Cell,
}

/// How an open element is closed.
#[derive(Debug)]
enum Close {
    /// By pulldown-cmark's writer, from this end event.
    Writer(TagEnd),
    /// With the book's own markup.
    Markup(String),
}

#[derive(Debug)]
struct Frame {
    kind: FrameKind,
    close: Close,
}

/// A paragraph's `<p>` is written only once it has content, so that a paragraph holding nothing
/// but a figure leaves no empty `<p></p>` around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Para {
    None,
    Pending,
    Open,
}

/// A Markdown image being read: its description is collected as plain text for `alt`.
#[derive(Debug)]
struct ImageCapture {
    dest: String,
    title: String,
    alt: String,
    depth: usize,
}

struct Emitter<'o, 'f, 'a> {
    out: &'o mut String,
    figures: &'f mut Figures<'a>,
    labels: &'static Labels,
    target: Target<'a>,
    shape: HeadingShape,
    base: u8,
    frames: Vec<Frame>,
    para: Para,
    in_code: bool,
    in_html_block: bool,
    aligns: Vec<Alignment>,
    cell: usize,
    in_head: bool,
    tbody_open: bool,
    image: Option<ImageCapture>,
    skip: Option<usize>,
}

/// Renders one Markdown fragment into `out`.
pub(crate) fn render_fragment(
    md: &str,
    placement: Placement<'_>,
    labels: &'static Labels,
    figures: &mut Figures<'_>,
    out: &mut String,
) {
    let shape = heading_shape(md, placement.title);
    let target = figures.target();
    let mut emitter = Emitter {
        out,
        figures,
        labels,
        target,
        shape,
        base: placement.heading_base,
        frames: Vec::new(),
        para: Para::None,
        in_code: false,
        in_html_block: false,
        aligns: Vec::new(),
        cell: 0,
        in_head: false,
        tbody_open: false,
        image: None,
        skip: None,
    };
    let parser = Parser::new_ext(md, parser_options());
    for (index, event) in pulldown_cmark::TextMergeStream::new(parser).enumerate() {
        emitter.event(index == 0, event);
    }
    // Balanced by the parser; close anything left open defensively.
    while let Some(frame) = emitter.frames.pop() {
        emitter.close_frame(frame);
    }
}

impl Emitter<'_, '_, '_> {
    /// Writes one event with pulldown-cmark's HTML writer.
    ///
    /// Every event gets a fresh writer. Pulldown's writer puts a newline before a block element
    /// that does not start a line (`<li>\n<p>`, `<li>a\n<ul>`), while the book's markup never
    /// does (`<li><p>`); a fresh writer always starts at the beginning of a line.
    fn write(&mut self, event: Event<'_>) {
        pulldown_cmark::html::push_html(self.out, std::iter::once(event));
    }

    /// Writes text through the writer, without the characters XML forbids.
    fn write_text(&mut self, t: &str) {
        self.write(Event::Text(xml_chars(t).into()));
    }

    fn event(&mut self, first: bool, event: Event<'_>) {
        if let Some(depth) = self.skip.as_mut() {
            match event {
                Event::Start(_) => *depth += 1,
                Event::End(_) if *depth == 0 => self.skip = None,
                Event::End(_) => *depth -= 1,
                _ => {}
            }
            return;
        }
        if let Some(capture) = self.image.as_mut() {
            match event {
                Event::Start(Tag::Image { .. }) => capture.depth += 1,
                Event::End(TagEnd::Image) if capture.depth == 0 => {
                    if let Some(capture) = self.image.take() {
                        self.finish_image(capture);
                    }
                }
                Event::End(TagEnd::Image) => capture.depth -= 1,
                Event::Text(t) | Event::Code(t) => capture.alt.push_str(&t),
                Event::SoftBreak | Event::HardBreak => capture.alt.push(' '),
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(first, tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) if self.in_code || self.in_html_block => self.write_text(&t),
            Event::Text(t) => self.inline_text(&t),
            Event::Code(t) => {
                self.open_para();
                self.write(Event::Code(xml_chars(&t).into()));
            }
            // Raw HTML is shown as text, never passed through.
            Event::Html(t) | Event::InlineHtml(t) => {
                if !self.in_html_block {
                    self.open_para();
                }
                self.write_text(&t);
            }
            Event::SoftBreak | Event::HardBreak if self.para == Para::Pending => {}
            event @ (Event::SoftBreak | Event::HardBreak | Event::Rule) => self.write(event),
            // Not produced with the parser options in use; written as plain, well-formed markup
            // rather than the writer's (which links footnotes and uses spans for math).
            Event::InlineMath(t) | Event::DisplayMath(t) => {
                self.open_para();
                self.out.push_str("<code class=\"math\">");
                push_text(self.out, &t);
                self.out.push_str("</code>");
            }
            Event::FootnoteReference(name) => {
                self.open_para();
                self.out.push_str("<sup class=\"footnote-ref\">[");
                push_text(self.out, &name);
                self.out.push_str("]</sup>");
            }
            // The writer's checkbox has empty attribute values and no trailing space.
            Event::TaskListMarker(checked) => {
                self.open_para();
                self.out.push_str(if checked {
                    "<input type=\"checkbox\" disabled=\"disabled\" checked=\"checked\" /> "
                } else {
                    "<input type=\"checkbox\" disabled=\"disabled\" /> "
                });
            }
        }
    }

    /// Opens an element the writer renders (and later closes).
    fn open(&mut self, kind: FrameKind, start: Tag<'_>) {
        let end = start.to_end();
        self.write(Event::Start(start));
        self.frames.push(Frame { kind, close: Close::Writer(end) });
    }

    /// Opens an element in the book's own markup.
    fn open_markup(&mut self, kind: FrameKind, open: &str, close: impl Into<String>) {
        self.out.push_str(open);
        self.frames.push(Frame { kind, close: Close::Markup(close.into()) });
    }

    fn open_para(&mut self) {
        if self.para == Para::Pending {
            self.write(Event::Start(Tag::Paragraph));
            self.para = Para::Open;
        }
    }

    fn start(&mut self, first: bool, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {
                self.frames.push(Frame { kind: FrameKind::Paragraph, close: Close::Markup(String::new()) });
                self.para = Para::Pending;
            }
            Tag::Heading { .. } if first && self.shape.drop_first => self.skip = Some(0),
            Tag::Heading { level, .. } => {
                let n = shifted_level(level_number(level), &self.shape, self.base);
                let level = HeadingLevel::try_from(usize::from(n)).unwrap_or(HeadingLevel::H6);
                let heading = Tag::Heading { level, id: None, classes: Vec::new(), attrs: Vec::new() };
                self.open(FrameKind::Cell, heading);
            }
            tag @ (Tag::BlockQuote(_) | Tag::List(_) | Tag::DefinitionList) => self.open(FrameKind::Block, tag),
            tag @ (Tag::Item | Tag::DefinitionListDefinition) => self.open(FrameKind::Item, tag),
            tag @ Tag::DefinitionListTitle => self.open(FrameKind::Cell, tag),
            tag @ (Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Superscript | Tag::Subscript) => {
                self.open_para();
                self.open(FrameKind::Inline, tag);
            }
            Tag::CodeBlock(kind) => {
                // Only the language's first word, reduced to characters safe in a class name.
                let lang: String = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
                        .next()
                        .unwrap_or("")
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#' | '.'))
                        .collect(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.in_code = true;
                self.open(FrameKind::Block, Tag::CodeBlock(CodeBlockKind::Fenced(lang.into())));
            }
            Tag::HtmlBlock => {
                self.in_html_block = true;
                self.open_markup(FrameKind::Block, "<pre class=\"raw-html\"><code>", "</code></pre>\n");
            }
            Tag::FootnoteDefinition(name) => {
                let open = format!("<div class=\"footnote-definition\"><sup>[{}]</sup> ", text::text(&name));
                self.open_markup(FrameKind::Block, &open, "</div>\n");
            }
            // Tables are the book's own markup: the writer has no scrolling wrapper and puts
            // `<table>`, `<thead>` and `<tr>` on one line.
            Tag::Table(aligns) => {
                self.aligns = aligns;
                self.tbody_open = false;
                self.open_markup(FrameKind::Block, "<div class=\"table-wrap\">\n<table>\n", "</table>\n</div>\n");
            }
            Tag::TableHead => {
                self.in_head = true;
                self.cell = 0;
                self.open_markup(FrameKind::Block, "<thead>\n<tr>", "</tr>\n</thead>\n");
            }
            Tag::TableRow => {
                if !self.tbody_open {
                    self.out.push_str("<tbody>\n");
                    self.tbody_open = true;
                }
                self.cell = 0;
                self.open_markup(FrameKind::Block, "<tr>", "</tr>\n");
            }
            Tag::TableCell => {
                let name = if self.in_head { "th" } else { "td" };
                let style = match self.aligns.get(self.cell) {
                    Some(Alignment::Left) => " style=\"text-align: left\"",
                    Some(Alignment::Center) => " style=\"text-align: center\"",
                    Some(Alignment::Right) => " style=\"text-align: right\"",
                    _ => "",
                };
                self.cell += 1;
                self.open_markup(FrameKind::Cell, &format!("<{name}{style}>"), format!("</{name}>"));
            }
            Tag::Link { link_type, dest_url, title, .. } => self.link(link_type, &dest_url, &title),
            Tag::Image { link_type: _, dest_url, title, .. } => {
                self.image = Some(ImageCapture {
                    dest: dest_url.to_string(),
                    title: title.to_string(),
                    alt: String::new(),
                    depth: 0,
                });
            }
            Tag::MetadataBlock(_) => self.skip = Some(0),
        }
    }

    /// Links are the book's own markup: the URL policy decides whether there is a link at all,
    /// and the writer escapes URLs differently (`'` as `&#x27;`, brackets percent-encoded).
    fn link(&mut self, link_type: LinkType, dest_url: &str, title: &str) {
        self.open_para();
        let dest = if link_type == LinkType::Email { format!("mailto:{dest_url}") } else { dest_url.to_string() };
        let href = match (classify_url(&dest), self.target) {
            (Url::Absolute(u), _) => Some(u),
            (Url::Relative(u) | Url::Fragment(u), Target::Page) => Some(u),
            _ => None,
        };
        let Some(href) = href else {
            self.frames.push(Frame { kind: FrameKind::Inline, close: Close::Markup(String::new()) });
            return;
        };
        self.out.push_str("<a href=\"");
        push_attr(self.out, &href);
        self.out.push('"');
        if !title.is_empty() {
            self.out.push_str(" title=\"");
            push_attr(self.out, title);
            self.out.push('"');
        }
        self.out.push('>');
        self.frames.push(Frame { kind: FrameKind::Link, close: Close::Markup("</a>".into()) });
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::CodeBlock => self.in_code = false,
            TagEnd::HtmlBlock => self.in_html_block = false,
            TagEnd::TableHead => self.in_head = false,
            TagEnd::Table if self.tbody_open => {
                self.out.push_str("</tbody>\n");
                self.tbody_open = false;
            }
            _ => {}
        }
        if let Some(frame) = self.frames.pop() {
            self.close_frame(frame);
        }
    }

    fn close_frame(&mut self, frame: Frame) {
        if frame.kind == FrameKind::Paragraph {
            if self.para == Para::Open {
                self.write(Event::End(TagEnd::Paragraph));
            }
            self.para = Para::None;
            return;
        }
        match frame.close {
            Close::Writer(end) => self.write(Event::End(end)),
            Close::Markup(close) => self.out.push_str(&close),
        }
    }

    fn inline_text(&mut self, t: &str) {
        for segment in segments(t) {
            match segment {
                Segment::Text(s) => {
                    let s = if self.para == Para::Pending { s.trim_start() } else { s };
                    if s.is_empty() {
                        continue;
                    }
                    self.open_para();
                    self.write_text(s);
                }
                Segment::Visual(id) => self.visual(id),
            }
        }
    }

    fn in_link(&self) -> bool {
        self.frames.iter().any(|f| f.kind == FrameKind::Link)
    }

    /// True when a block (figure) may be written here: directly in a paragraph or list item.
    fn block_allowed(&self) -> bool {
        !self.in_link() && matches!(self.frames.last().map(|f| f.kind), Some(FrameKind::Paragraph | FrameKind::Item))
    }

    fn suspend_para(&mut self) {
        if self.para == Para::Open {
            let kept = self.out.trim_end_matches([' ', '\n', '\t']).len();
            self.out.truncate(kept);
            self.write(Event::End(TagEnd::Paragraph));
            self.para = Para::Pending;
        }
    }

    fn visual(&mut self, id: &str) {
        let block = self.block_allowed();
        let figure_label = self.labels.figure;
        let Some(fig) = self.figures.resolve(id) else {
            let note = format!("{} {id}", self.labels.missing_visual);
            if block {
                self.suspend_para();
                self.out.push_str("<p class=\"missing-visual\" role=\"note\">");
                push_text(self.out, &note);
                self.out.push_str("</p>\n");
            } else {
                self.open_para();
                self.out.push_str("<span class=\"missing-visual\">");
                push_text(self.out, &note);
                self.out.push_str("</span>");
            }
            return;
        };
        let label = format!("{figure_label} {}.", fig.number);
        let alt = if !fig.alt.is_empty() {
            fig.alt.clone()
        } else if !fig.caption.is_empty() {
            fig.caption.clone()
        } else {
            format!("{figure_label} {}", fig.number)
        };
        if block {
            self.suspend_para();
            self.out.push_str(&format!("<figure id=\"figure-{}\">", fig.number));
            push_img(self.out, &fig.src, &alt, "");
            self.out.push_str(" /><figcaption><span class=\"figure-label\">");
            push_text(self.out, &label);
            self.out.push_str("</span>");
        } else {
            self.open_para();
            push_img(self.out, &fig.src, &alt, "");
            self.out.push_str(" class=\"inline-visual\" /> <em class=\"inline-caption\">");
            push_text(self.out, &label);
        }
        if !fig.caption.is_empty() {
            self.out.push(' ');
            push_text(self.out, &fig.caption);
        }
        self.out.push_str(if block { "</figcaption></figure>\n" } else { "</em>" });
    }

    /// Images are the book's own markup: only destinations the URL policy accepts are kept, and
    /// in an EPUB a remote image becomes a link, since the package cannot contain it.
    fn finish_image(&mut self, capture: ImageCapture) {
        let alt = capture.alt.split_whitespace().collect::<Vec<_>>().join(" ");
        match (classify_url(&capture.dest), self.target) {
            (Url::Absolute(u) | Url::Relative(u) | Url::Fragment(u), Target::Page) => {
                self.open_para();
                push_img(self.out, &u, &alt, &capture.title);
                self.out.push_str(" />");
            }
            (Url::Absolute(u), Target::Epub(_)) if !self.in_link() && !u.starts_with("mailto:") => {
                self.open_para();
                self.out.push_str("<a class=\"external-image\" href=\"");
                push_attr(self.out, &u);
                self.out.push_str("\">");
                push_text(self.out, if alt.is_empty() { &u } else { &alt });
                self.out.push_str("</a>");
            }
            _ => {
                if !alt.is_empty() {
                    self.open_para();
                    push_text(self.out, &alt);
                }
            }
        }
    }
}

/// Writes `<img src alt [title]` (the caller closes the tag, possibly after more attributes).
fn push_img(out: &mut String, src: &str, alt: &str, title: &str) {
    out.push_str("<img src=\"");
    push_attr(out, src);
    out.push_str("\" alt=\"");
    push_attr(out, alt);
    out.push('"');
    if !title.is_empty() {
        out.push_str(" title=\"");
        push_attr(out, title);
        out.push('"');
    }
}
