//! Renders a course book as Markdown, one self-contained readable HTML page, and EPUB 3.
//!
//! The renderer is pure: it receives a [`Book`] (text already generated, images already
//! loaded) and returns bytes. Everything that came from an outline or a model is escaped or
//! sanitised before it becomes HTML or XHTML.

#![warn(missing_docs)]

use std::collections::BTreeMap;

mod emit;
mod epub;
pub mod escape;
mod fragment;
mod gift;
mod html;
mod labels;
mod markdown;
mod plan;
mod quiz;
mod scorm;
mod text;

pub use epub::rfc3339_from_unix;

/// Everything needed to render the book.
#[derive(Debug, Clone, Default)]
pub struct Book {
    /// The course title.
    pub title: String,
    /// A short description shown under the title (plain text; blank lines separate paragraphs).
    pub description: Option<String>,
    /// ISO 639-1 code (`en`, `es`, ...): sets `lang` and the fixed labels' language.
    pub language: String,
    /// The course level (e.g. `beginner`), shown on the title page.
    pub level: Option<String>,
    /// Who the course is for, one entry per item (plain text).
    pub audience: Vec<String>,
    /// What learners should know beforehand (plain text).
    pub prerequisites: Vec<String>,
    /// What learners will be able to do afterwards (plain text).
    pub learning_outcomes: Vec<String>,
    /// A notice shown at the top, e.g. that lessons are offline drafts. `None` for none.
    pub notice: Option<String>,
    /// The modules, in outline order.
    pub modules: Vec<BookModule>,
    /// Lab guides, in outline order (module, lesson, activity).
    pub labs: Vec<BookLab>,
    /// Visuals by id (`MM-LL-NN`).
    pub images: BTreeMap<String, BookImage>,
    /// A stable identifier for the EPUB package (e.g. `urn:coursegen:<project>`).
    pub identifier: String,
    /// RFC 3339 modification time for EPUB metadata; fixed input keeps output byte-identical.
    pub modified: String,
}

/// One module of the book.
#[derive(Debug, Clone, Default)]
pub struct BookModule {
    /// The module number (1-based), used in headings and anchors (`m01`).
    pub number: u32,
    /// The module title.
    pub title: String,
    /// A short summary shown under the module heading (plain text).
    pub summary: Option<String>,
    /// The lessons, in outline order.
    pub lessons: Vec<BookLesson>,
}

/// One lesson: Markdown whose visual tags were rewritten to ids (`[VISUAL: 01-02-03]`).
#[derive(Debug, Clone, Default)]
pub struct BookLesson {
    /// The number of the module holding the lesson.
    pub module_number: u32,
    /// The lesson number within its module (1-based), used in headings and anchors (`m01-l02`).
    pub number: u32,
    /// The lesson title.
    pub title: String,
    /// The lesson text (untrusted Markdown).
    pub markdown: String,
    /// The lesson's quiz, when it has one.
    pub quiz: Option<BookQuiz>,
}

/// A lesson's quiz (plain text throughout; escaped where rendered).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookQuiz {
    /// The questions, in order.
    pub questions: Vec<BookQuestion>,
}

/// One quiz question.
#[derive(Debug, Clone, PartialEq)]
pub struct BookQuestion {
    /// The question (for true/false, the statement).
    pub prompt: String,
    /// The answer, by kind.
    pub answer: BookAnswer,
    /// Why the answer is right, in one line.
    pub explanation: String,
}

/// The answer of a question, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum BookAnswer {
    /// Multiple choice: `options[correct]` is right.
    Choice {
        /// The options.
        options: Vec<String>,
        /// The index of the right option.
        correct: usize,
    },
    /// True or false.
    TrueFalse(bool),
    /// Short answer: any of these is right (the best first).
    Short(Vec<String>),
}

/// One lab guide (Markdown).
#[derive(Debug, Clone, Default)]
pub struct BookLab {
    /// The lab id (`MM-LL-AA`), used in headings and anchors (`lab-01-02-01`).
    pub lab_id: String,
    /// The number of the module the lab belongs to.
    pub module_number: u32,
    /// The lab title.
    pub title: String,
    /// The lab guide (untrusted Markdown).
    pub markdown: String,
}

/// One visual.
#[derive(Debug, Clone, Default)]
pub struct BookImage {
    /// The visual id (`MM-LL-NN`).
    pub id: String,
    /// Path relative to the book folder, used by HTML and Markdown (`../images/module-01/01-02-03.svg`).
    pub href: String,
    /// `image/svg+xml` or `image/png`.
    pub content_type: String,
    /// The image bytes, embedded into the EPUB.
    pub bytes: Vec<u8>,
    /// Alternative text for readers who cannot see the image.
    pub alt: String,
    /// The caption printed under the image.
    pub caption: String,
}

/// Rendering failures (only for malformed inputs such as images with unsupported types).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An image referenced by the book cannot be packaged (unsupported type, empty or mismatched data).
    #[error("image {id}: {message}")]
    Image {
        /// The visual id.
        id: String,
        /// What is wrong with it.
        message: String,
    },
    /// `Book::modified` is neither empty nor an RFC 3339 time or date.
    #[error("epub packaging failed: modified time {0:?} is not RFC 3339")]
    Modified(String),
    /// The zip container could not be written.
    #[error("epub packaging failed: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Writing a file into the zip container failed.
    #[error("epub packaging failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Renders the whole book as one Markdown document.
///
/// The document has the title, description, level, notice, audience, prerequisites and learning
/// outcomes, a table of contents linking to `m01`, `m01-l02` and `lab-01-02-01` anchors, then the
/// modules and their lessons (headings shifted below the lesson heading, a leading heading that
/// repeats the lesson title dropped), then the lab guides. Visual tags become an image and an
/// italic, numbered caption; unknown ids become a visible "missing visual" note.
pub fn render_markdown(book: &Book) -> String {
    markdown::render(book)
}

/// Renders the whole book as one self-contained HTML5 page (embedded CSS, no scripts).
///
/// Raw HTML in lessons is shown as text, link and image URLs other than `http`, `https`,
/// `mailto`, fragments and relative paths are dropped, and every title is escaped.
pub fn render_html(book: &Book) -> String {
    html::render(book)
}

/// Renders every lesson's quiz as a Moodle GIFT file; `None` when no lesson has a quiz.
pub fn render_gift(book: &Book) -> Option<String> {
    gift::render(book)
}

/// Renders the course as a SCORM 1.2 package (one SCO per module, `mastery` the quiz pass
/// mark in percent).
pub fn render_scorm12(book: &Book, mastery: u32) -> Result<Vec<u8>, RenderError> {
    scorm::render(book, mastery)
}

/// Renders the book as an EPUB 3 package (a zip with fixed timestamps, so output is byte-identical
/// for the same book).
///
/// Only the images the book references are embedded. Fails when such an image has an unsupported
/// content type or data that does not match it, or when `book.modified` is not RFC 3339 (an empty
/// value is accepted and written as the Unix epoch).
pub fn render_epub(book: &Book) -> Result<Vec<u8>, RenderError> {
    epub::render(book)
}

/// Why the packages (EPUB, SCORM) would refuse `image`, if they would: a content type they do
/// not carry, no data, or data that is not what its content type says.
pub fn image_problem(image: &BookImage) -> Option<String> {
    match epub::check_image(&image.id, image) {
        Ok(_) => None,
        Err(RenderError::Image { message, .. }) => Some(message),
        Err(other) => Some(other.to_string()),
    }
}

/// The ids referenced by `[VISUAL: MM-LL-NN]` tags in `markdown`, each once, in order of first
/// reference. Tags inside code, raw HTML and image descriptions are not references.
pub fn visual_ids(markdown: &str) -> Vec<String> {
    markdown::visual_ids(markdown)
}

/// The number of words of prose in `markdown`.
///
/// Headings, paragraphs, list items, table cells, link text and inline code count; Markdown syntax,
/// code blocks, raw HTML, image descriptions, URLs and visual tags do not. A word is a
/// whitespace-separated token containing at least one letter or digit.
pub fn word_count(markdown: &str) -> u64 {
    markdown::word_count(markdown)
}
