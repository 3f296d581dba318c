//! How a lesson or lab is placed in the book, for every format: the parser options, heading levels
//! below the book's own headings, a repeated title dropped, and visuals numbered as figures.

use std::collections::BTreeMap;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::text::{self, classify_url, Url};
use crate::BookImage;

/// Parser options used everywhere, so all formats read lessons the same way.
pub(crate) fn parser_options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// Where the output goes, which decides how images and links are referenced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// The single HTML page (and Markdown): images by their `href`, any safe link kept.
    Page,
    /// An EPUB content document: images by their path inside the package, only absolute links kept.
    Epub(&'a BTreeMap<String, String>),
}

/// A visual resolved for output.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub number: u32,
    /// Destination, not yet escaped.
    pub src: String,
    pub alt: String,
    pub caption: String,
}

/// Resolves visual ids to images, numbering figures in book order and remembering which were used.
#[derive(Debug)]
pub(crate) struct Figures<'a> {
    images: &'a BTreeMap<String, BookImage>,
    target: Target<'a>,
    counter: u32,
    used: Vec<String>,
}

impl<'a> Figures<'a> {
    /// A resolver for `images` writing to `target`.
    pub(crate) fn new(images: &'a BTreeMap<String, BookImage>, target: Target<'a>) -> Self {
        Figures { images, target, counter: 0, used: Vec::new() }
    }

    /// Where the figures are written.
    pub(crate) fn target(&self) -> Target<'a> {
        self.target
    }

    /// The ids of the visuals resolved so far, in order of first use.
    pub(crate) fn used(&self) -> &[String] {
        &self.used
    }

    /// The image for `id`, or `None` when it is unknown or its destination is unusable.
    pub(crate) fn resolve(&mut self, id: &str) -> Option<Figure> {
        let image = self.images.get(id)?;
        let src = match self.target {
            Target::Page => match classify_url(&image.href) {
                Url::Absolute(u) | Url::Relative(u) if !u.is_empty() => u,
                _ => return None,
            },
            Target::Epub(paths) => paths.get(id)?.clone(),
        };
        self.counter += 1;
        if !self.used.iter().any(|u| u == id) {
            self.used.push(id.to_string());
        }
        Some(Figure {
            number: self.counter,
            src,
            alt: image.alt.split_whitespace().collect::<Vec<_>>().join(" "),
            caption: image.caption.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }
}

/// How a Markdown fragment (a lesson or a lab) is placed in the book.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement<'t> {
    /// The level the fragment's highest heading becomes (1–6).
    pub heading_base: u8,
    /// A heading that opens the fragment and repeats this title is dropped (the book prints its own).
    pub title: &'t str,
}

/// The result of looking at a fragment's headings before rendering it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadingShape {
    /// The fragment starts with a heading repeating its title.
    pub drop_first: bool,
    /// The smallest heading level among the headings that are kept.
    pub min_level: Option<u8>,
}

/// Numeric heading level.
pub(crate) fn level_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// The level a heading of `level` gets when the fragment's top heading becomes `base`.
pub(crate) fn shifted_level(level: u8, shape: &HeadingShape, base: u8) -> u8 {
    let min = shape.min_level.unwrap_or(level);
    (base + level.saturating_sub(min)).clamp(1, 6)
}

/// True when a heading's text repeats `title`, possibly after a prefix such as `Lesson 1.2:`.
fn repeats_title(heading: &str, title: &str) -> bool {
    let heading = text::normalise_words(heading);
    let title = text::normalise_words(title);
    !title.is_empty() && (heading == title || heading.ends_with(&format!(" {title}")))
}

/// Finds whether the fragment opens with its own title and which heading levels it uses.
pub(crate) fn heading_shape(md: &str, title: &str) -> HeadingShape {
    let mut drop_first = false;
    let mut min_level: Option<u8> = None;
    // The heading that opens the fragment, while it is being read: its level and text.
    let mut opening: Option<(u8, String)> = None;
    for (index, event) in Parser::new_ext(md, parser_options()).enumerate() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                let n = level_number(level);
                if index == 0 {
                    opening = Some((n, String::new()));
                } else {
                    min_level = Some(min_level.map_or(n, |m| m.min(n)));
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((n, heading_text)) = opening.take() {
                    if repeats_title(&heading_text, title) {
                        drop_first = true;
                    } else {
                        min_level = Some(min_level.map_or(n, |m| m.min(n)));
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, heading_text)) = opening.as_mut() {
                    heading_text.push_str(&t);
                }
            }
            _ => {}
        }
    }
    HeadingShape { drop_first, min_level }
}
