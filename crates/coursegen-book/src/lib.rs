//! Renders a course book as Markdown, one self-contained readable HTML page, and EPUB 3.
//!
//! The renderer is pure: it receives a [`Book`] (text already generated, images already
//! loaded) and returns bytes. Everything that came from an outline or a model is escaped or
//! sanitised before it becomes HTML or XHTML.

use std::collections::BTreeMap;

/// Everything needed to render the book.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub title: String,
    pub description: Option<String>,
    /// ISO 639-1 code (`en`, `es`, ...): sets `lang` and the fixed labels' language.
    pub language: String,
    pub level: Option<String>,
    pub audience: Vec<String>,
    pub prerequisites: Vec<String>,
    pub learning_outcomes: Vec<String>,
    /// A notice shown at the top, e.g. that lessons are offline drafts. `None` for none.
    pub notice: Option<String>,
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
    pub number: u32,
    pub title: String,
    pub summary: Option<String>,
    pub lessons: Vec<BookLesson>,
}

/// One lesson: Markdown whose visual tags were rewritten to ids (`[VISUAL: 01-02-03]`).
#[derive(Debug, Clone, Default)]
pub struct BookLesson {
    pub module_number: u32,
    pub number: u32,
    pub title: String,
    pub markdown: String,
}

/// One lab guide (Markdown).
#[derive(Debug, Clone, Default)]
pub struct BookLab {
    pub lab_id: String,
    pub module_number: u32,
    pub title: String,
    pub markdown: String,
}

/// One visual.
#[derive(Debug, Clone, Default)]
pub struct BookImage {
    pub id: String,
    /// Path relative to the book folder, used by HTML and Markdown (`../images/module-01/01-02-03.svg`).
    pub href: String,
    /// `image/svg+xml` or `image/png`.
    pub content_type: String,
    /// The image bytes, embedded into the EPUB.
    pub bytes: Vec<u8>,
    pub alt: String,
    pub caption: String,
}

/// Rendering failures (only for malformed inputs such as images with unsupported types).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("image {id}: {message}")]
    Image { id: String, message: String },
    #[error("epub packaging failed: {0}")]
    Package(String),
}
