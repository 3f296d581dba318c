//! The single self-contained HTML page.

use crate::emit::render_fragment;
use crate::fragment::{Figures, Placement, Target};
use crate::labels::Labels;
use crate::markdown::paragraphs;
use crate::plan::{one_line, EntryPlan, ModulePlan, Plan, CONTENTS_ANCHOR, LABS_ANCHOR};
use crate::text::{attr, push_text, text};
use crate::Book;

/// Shared typography and content styling (HTML page and EPUB).
pub(crate) const BASE_CSS: &str = r#"
body { font-family: Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif; line-height: 1.6; }
h1, h2, h3, h4, h5, h6 { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; line-height: 1.25; }
pre, code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.9em; }
pre { overflow-x: auto; padding: 0.75em 1em; border-radius: 6px; line-height: 1.45; white-space: pre; }
pre code { font-size: inherit; }
figure { margin: 1.5em 0; text-align: center; page-break-inside: avoid; break-inside: avoid; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; font-style: italic; margin-top: 0.5em; }
.figure-label { font-style: normal; font-weight: 600; }
img.inline-visual { max-height: 1.6em; vertical-align: middle; }
.inline-caption { font-size: 0.9em; }
.missing-visual { border: 2px dashed #b45309; color: #92400e; padding: 0.5em 0.75em; font-family: system-ui, sans-serif; font-size: 0.9em; }
span.missing-visual { padding: 0 0.3em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #c8c8c8; padding: 0.35em 0.7em; vertical-align: top; }
th { font-weight: 600; }
blockquote { margin: 1em 0; padding: 0 1em; border-left: 4px solid #c8c8c8; }
.raw-html { white-space: pre-wrap; }
.notice { border-left: 6px solid #d97706; background: #fef3c7; color: #451a03; padding: 0.75em 1em; margin: 1em 0; font-family: system-ui, sans-serif; }
.meta dt, .meta dd { display: inline; margin: 0; }
.meta dt { font-weight: 600; }
.meta dt::after { content: " — "; font-weight: 400; }
.summary { font-style: italic; }
"#;

const PAGE_CSS: &str = r#"
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --accent: #0b5cad; --code-bg: #f4f5f7; --rule: #d8dee4; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e6e6; --bg: #15171a; --muted: #a0a7b0; --accent: #7ab7ff; --code-bg: #22262b; --rule: #3a4048; }
  .notice { background: #3b2a0a; color: #fde68a; }
  .missing-visual { color: #fbbf24; border-color: #fbbf24; }
  figure img { background: #ffffff; border-radius: 4px; }
}
html { background: var(--bg); color: var(--fg); }
body { max-width: 46rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; font-size: 1.0625rem; background: var(--bg); color: var(--fg); }
a { color: var(--accent); }
pre, code { background: var(--code-bg); }
pre code { background: none; }
code { padding: 0.1em 0.3em; border-radius: 4px; }
hr { border: 0; border-top: 1px solid var(--rule); margin: 2em 0; }
th, td { border-color: var(--rule); }
blockquote { border-left-color: var(--rule); color: var(--muted); }
.table-wrap { overflow-x: auto; }
.title-page { padding: 2rem 0 1rem; border-bottom: 1px solid var(--rule); margin-bottom: 1.5rem; }
.title-page h1 { font-size: 2.4rem; margin: 0 0 0.5rem; }
.title-page .description { font-size: 1.15rem; color: var(--muted); }
nav.toc { border: 1px solid var(--rule); border-radius: 8px; padding: 0.5rem 1.25rem 1rem; margin: 1.5rem 0 2.5rem; font-family: system-ui, sans-serif; font-size: 0.95rem; }
nav.toc ol { padding-left: 1.25rem; margin: 0.25rem 0; }
nav.toc li { margin: 0.15rem 0; }
nav.toc a { text-decoration: none; }
nav.toc a:hover, nav.toc a:focus { text-decoration: underline; }
section.module { margin-top: 3rem; }
section.module > h2, section.labs > h2 { font-size: 1.9rem; border-bottom: 2px solid var(--rule); padding-bottom: 0.3rem; }
article.lesson, article.lab { margin-top: 2.5rem; }
article > h3 { font-size: 1.45rem; }
:target { scroll-margin-top: 1rem; }
@media print {
  :root { --fg: #000000; --bg: #ffffff; --accent: #000000; --code-bg: #f4f4f4; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav.toc { border: 0; page-break-after: always; break-after: page; }
  section.module, section.labs { page-break-before: always; break-before: page; }
  h1, h2, h3, h4 { page-break-after: avoid; break-after: avoid; }
  pre, table, figure, blockquote { page-break-inside: avoid; break-inside: avoid; }
  pre { white-space: pre-wrap; }
  a { text-decoration: none; }
  .notice { border: 1px solid #000000; background: none; color: #000000; }
}
"#;

/// Renders the book as one self-contained HTML5 page.
pub(crate) fn render(book: &Book) -> String {
    let plan = Plan::new(book);
    let labels = plan.labels;
    let mut figures = Figures::new(&book.images, Target::Page);
    let mut out = String::with_capacity(16 * 1024);

    out.push_str("<!DOCTYPE html>\n");
    out.push_str(&format!("<html lang=\"{}\">\n<head>\n", attr(&plan.lang)));
    out.push_str("<meta charset=\"utf-8\" />\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n");
    out.push_str("<meta name=\"color-scheme\" content=\"light dark\" />\n");
    out.push_str(&format!("<title>{}</title>\n", text(&plan.title)));
    if let Some(description) = book.description.as_deref().map(one_line).filter(|d| !d.is_empty()) {
        out.push_str(&format!("<meta name=\"description\" content=\"{}\" />\n", attr(&description)));
    }
    out.push_str("<style>");
    out.push_str(BASE_CSS);
    out.push_str(PAGE_CSS);
    out.push_str("</style>\n</head>\n<body>\n");

    out.push_str(&title_block(book, &plan, 1, 2));

    out.push_str(&format!(
        "<nav class=\"toc\" id=\"{CONTENTS_ANCHOR}\" aria-labelledby=\"{CONTENTS_ANCHOR}-title\">\n<h2 id=\"{CONTENTS_ANCHOR}-title\">{}</h2>\n",
        text(labels.contents)
    ));
    out.push_str(&toc_list(&plan, |anchor| format!("#{anchor}")));
    out.push_str("</nav>\n<main>\n");

    for module in &plan.modules {
        push_module(&mut out, &PAGE_LAYOUT, module, labels, &mut figures);
    }
    push_labs(&mut out, &PAGE_LAYOUT, &plan, &mut figures);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// How module and lab sections are marked up: the HTML page and the EPUB documents differ only here.
pub(crate) struct Layout {
    /// Extra attributes of a module or labs `<section>` (each with a leading space).
    pub section_attributes: &'static str,
    /// The heading level of a module or labs section; lessons and labs are one below, their
    /// Markdown's headings start one further below.
    pub section_level: u8,
    /// The element holding one lesson or lab guide.
    pub entry_element: &'static str,
    /// Where the lessons' quizzes go.
    pub quizzes: QuizStyle,
}

/// Where a layout puts the lessons' quizzes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuizStyle {
    /// After each lesson, each answer behind `<details>` (the HTML page).
    Revealed,
    /// After each lesson, the answers in a key at the end of the module (EPUB).
    AnswerKey,
    /// Not with the lessons (the SCORM package has its own quiz form).
    Omitted,
}

const PAGE_LAYOUT: Layout =
    Layout { section_attributes: "", section_level: 2, entry_element: "article", quizzes: QuizStyle::Revealed };

/// Writes a module: its section, heading, summary and lessons.
pub(crate) fn push_module(
    out: &mut String,
    layout: &Layout,
    module: &ModulePlan<'_>,
    labels: &'static Labels,
    figures: &mut Figures<'_>,
) {
    open_section(out, layout, "module", &module.anchor, &module.heading);
    push_summary(out, module.module.summary.as_deref());
    for lesson in &module.lessons {
        push_entry(out, layout, "lesson", lesson, labels, figures);
    }
    if layout.quizzes == QuizStyle::AnswerKey {
        let quizzes: Vec<(&str, &str, &crate::BookQuiz)> =
            module.lessons.iter().filter_map(|l| l.quiz.map(|q| (l.anchor.as_str(), l.heading.as_str(), q))).collect();
        crate::quiz::push_html_key(out, &quizzes, (&module.anchor, &module.heading), layout.section_level + 1, labels);
    }
    out.push_str("</section>\n");
}

/// Writes the labs section with every lab guide; nothing when the book has no labs.
pub(crate) fn push_labs(out: &mut String, layout: &Layout, plan: &Plan<'_>, figures: &mut Figures<'_>) {
    if plan.labs.is_empty() {
        return;
    }
    open_section(out, layout, "labs", LABS_ANCHOR, plan.labels.labs);
    for lab in &plan.labs {
        push_entry(out, layout, "lab", lab, plan.labels, figures);
    }
    out.push_str("</section>\n");
}

fn open_section(out: &mut String, layout: &Layout, class: &str, anchor: &str, heading: &str) {
    let h = layout.section_level;
    out.push_str(&format!(
        "<section class=\"{class}\" id=\"{}\"{}>\n<h{h}>{}</h{h}>\n",
        attr(anchor),
        layout.section_attributes,
        text(heading)
    ));
}

/// Writes one lesson or lab guide: its element, heading and rendered Markdown.
fn push_entry(
    out: &mut String,
    layout: &Layout,
    class: &str,
    entry: &EntryPlan<'_>,
    labels: &'static Labels,
    figures: &mut Figures<'_>,
) {
    let (element, h) = (layout.entry_element, layout.section_level + 1);
    out.push_str(&format!(
        "<{element} class=\"{class}\" id=\"{}\">\n<h{h}>{}</h{h}>\n",
        attr(&entry.anchor),
        text(&entry.heading)
    ));
    let placement = Placement { heading_base: h + 1, title: entry.title };
    render_fragment(entry.markdown, placement, labels, figures, out);
    if let Some(quiz) = entry.quiz.filter(|_| layout.quizzes != QuizStyle::Omitted) {
        let reveal = layout.quizzes == QuizStyle::Revealed;
        crate::quiz::push_html(out, quiz, (&entry.anchor, &entry.heading), h + 1, labels, reveal);
    }
    out.push_str(&format!("</{element}>\n"));
}

/// Writes a module summary as italic paragraphs.
fn push_summary(out: &mut String, summary: Option<&str>) {
    for paragraph in paragraphs(summary.unwrap_or("")) {
        out.push_str("<p class=\"summary\">");
        push_text(out, &paragraph);
        out.push_str("</p>\n");
    }
}

/// The title page block: title, description, level, notice, audience, prerequisites, outcomes.
/// `h` is the title's heading level and `sub` the level of the section headings.
pub(crate) fn title_block(book: &Book, plan: &Plan<'_>, h: u8, sub: u8) -> String {
    let labels = plan.labels;
    let mut out = String::new();
    out.push_str(&format!("<header class=\"title-page\" id=\"title-page\">\n<h{h}>{}</h{h}>\n", text(&plan.title)));
    for paragraph in paragraphs(book.description.as_deref().unwrap_or("")) {
        out.push_str(&format!("<p class=\"description\">{}</p>\n", text(&paragraph)));
    }
    if let Some(level) = book.level.as_deref().map(one_line).filter(|l| !l.is_empty()) {
        out.push_str(&format!("<dl class=\"meta\"><dt>{}</dt><dd>{}</dd></dl>\n", text(labels.level), text(&level)));
    }
    let notice = paragraphs(book.notice.as_deref().unwrap_or(""));
    if !notice.is_empty() {
        out.push_str(&format!(
            "<div class=\"notice\" id=\"notice\" role=\"note\">\n<p><strong>{}:</strong> ",
            text(labels.note)
        ));
        out.push_str(&notice.iter().map(|p| text(p)).collect::<Vec<_>>().join("</p>\n<p>"));
        out.push_str("</p>\n</div>\n");
    }
    for (label, items) in &plan.lists {
        out.push_str(&format!("<section class=\"meta-list\">\n<h{sub}>{}</h{sub}>\n<ul>\n", text(label)));
        for item in items {
            out.push_str(&format!("<li>{}</li>\n", text(item)));
        }
        out.push_str("</ul>\n</section>\n");
    }
    out.push_str("</header>\n");
    out
}

/// The nested contents list; `link` turns an anchor into an `href` (before escaping).
pub(crate) fn toc_list(plan: &Plan<'_>, link: impl Fn(&str) -> String) -> String {
    let mut out = String::from("<ol>\n");
    for module in &plan.modules {
        out.push_str(&format!("<li><a href=\"{}\">{}</a>", attr(&link(&module.anchor)), text(&module.heading)));
        if !module.lessons.is_empty() {
            out.push_str("\n<ol>\n");
            for lesson in &module.lessons {
                out.push_str(&format!(
                    "<li><a href=\"{}\">{}</a></li>\n",
                    attr(&link(&lesson.anchor)),
                    text(&lesson.heading)
                ));
            }
            out.push_str("</ol>\n");
        }
        out.push_str("</li>\n");
    }
    if !plan.labs.is_empty() {
        out.push_str(&format!("<li><a href=\"{}\">{}</a>\n<ol>\n", attr(&link(LABS_ANCHOR)), text(plan.labels.labs)));
        for lab in &plan.labs {
            out.push_str(&format!("<li><a href=\"{}\">{}</a></li>\n", attr(&link(&lab.anchor)), text(&lab.heading)));
        }
        out.push_str("</ol>\n</li>\n");
    }
    out.push_str("</ol>\n");
    out
}
