//! The book's structure shared by every format: headings, anchors and file names.

use std::collections::BTreeSet;

use crate::labels::{labels_for, language_tag, Labels};
use crate::text::slug;
use crate::{Book, BookModule};

/// One lesson's or lab guide's place in the book.
#[derive(Debug)]
pub(crate) struct EntryPlan<'a> {
    /// The title as the outline gives it; a leading heading repeating it is dropped from the text.
    pub title: &'a str,
    /// The text (untrusted Markdown).
    pub markdown: &'a str,
    /// Fragment id, e.g. `m01-l02` or `lab-01-02-01`.
    pub anchor: String,
    /// Display heading, e.g. `Lesson 1.2: Title` or `Lab 01-02-01: Title`.
    pub heading: String,
    /// The lesson's quiz (labs have none).
    pub quiz: Option<&'a crate::BookQuiz>,
}

/// One module's place in the book.
#[derive(Debug)]
pub(crate) struct ModulePlan<'a> {
    pub module: &'a BookModule,
    /// Fragment id, e.g. `m01`.
    pub anchor: String,
    /// Display heading, e.g. `Module 1: Title`.
    pub heading: String,
    /// EPUB content document holding the module, e.g. `module-01.xhtml`.
    pub file: String,
    pub lessons: Vec<EntryPlan<'a>>,
}

/// The structure of a book, computed once per rendering.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub labels: &'static Labels,
    /// Sanitised language tag.
    pub lang: String,
    /// The title to display (never empty).
    pub title: String,
    pub modules: Vec<ModulePlan<'a>>,
    pub labs: Vec<EntryPlan<'a>>,
    /// The audience, prerequisites and learning outcomes that have entries, with their labels;
    /// each entry collapsed to one line.
    pub lists: Vec<(&'static str, Vec<String>)>,
}

/// Fragment id of the labs section.
pub(crate) const LABS_ANCHOR: &str = "labs";
/// Fragment id of the table of contents.
pub(crate) const CONTENTS_ANCHOR: &str = "contents";
/// EPUB content document holding the lab guides.
pub(crate) const LABS_FILE: &str = "labs.xhtml";
/// EPUB title page document.
pub(crate) const TITLE_FILE: &str = "title.xhtml";

/// Collapses whitespace (titles may contain newlines).
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn with_title(prefix: String, title: &str) -> String {
    let title = one_line(title);
    if title.is_empty() {
        prefix
    } else if already_numbered(&title, &prefix) {
        // Authors often write "Module 1 — Introduction": don't print "Module 1: Module 1 — ...".
        title
    } else {
        format!("{prefix}: {title}")
    }
}

/// Whether `title` starts with `prefix` (case-insensitive) followed by a non-digit boundary.
fn already_numbered(title: &str, prefix: &str) -> bool {
    let (t, p) = (title.to_lowercase(), prefix.to_lowercase());
    t.strip_prefix(&p).is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphanumeric()))
}

/// Hands out unique fragment ids.
struct Anchors(BTreeSet<String>);

impl Anchors {
    fn take(&mut self, base: String) -> String {
        if self.0.insert(base.clone()) {
            return base;
        }
        let mut n = 2u32;
        loop {
            let candidate = format!("{base}-{n}");
            if self.0.insert(candidate.clone()) {
                return candidate;
            }
            n = n.saturating_add(1);
        }
    }
}

impl<'a> Plan<'a> {
    /// Computes the plan for `book`.
    pub(crate) fn new(book: &'a Book) -> Self {
        let labels = labels_for(&book.language);
        let mut anchors = Anchors(BTreeSet::new());
        for reserved in [LABS_ANCHOR, CONTENTS_ANCHOR, "title-page", "notice", "toc"] {
            anchors.0.insert(reserved.to_string());
        }
        let modules = book
            .modules
            .iter()
            .enumerate()
            .map(|(index, module)| {
                let anchor = anchors.take(format!("m{:02}", module.number));
                let lessons = module
                    .lessons
                    .iter()
                    .map(|lesson| EntryPlan {
                        title: &lesson.title,
                        markdown: &lesson.markdown,
                        anchor: anchors.take(format!("m{:02}-l{:02}", module.number, lesson.number)),
                        heading: with_title(
                            format!("{} {}.{}", labels.lesson, module.number, lesson.number),
                            &lesson.title,
                        ),
                        quiz: lesson.quiz.as_ref().filter(|q| !q.questions.is_empty()),
                    })
                    .collect();
                ModulePlan {
                    module,
                    heading: with_title(format!("{} {}", labels.module, module.number), &module.title),
                    anchor,
                    file: format!("module-{:02}.xhtml", index + 1),
                    lessons,
                }
            })
            .collect();
        let labs = book
            .labs
            .iter()
            .enumerate()
            .map(|(index, lab)| {
                let id = one_line(&lab.lab_id);
                let (anchor_base, prefix) = if id.is_empty() {
                    (format!("lab-{:02}", index + 1), format!("{} {}", labels.lab, index + 1))
                } else {
                    (format!("lab-{}", slug(&id)), format!("{} {id}", labels.lab))
                };
                EntryPlan {
                    title: &lab.title,
                    markdown: &lab.markdown,
                    anchor: anchors.take(anchor_base),
                    heading: with_title(prefix, &lab.title),
                    quiz: None,
                }
            })
            .collect();
        let lists = [
            (labels.audience, &book.audience),
            (labels.prerequisites, &book.prerequisites),
            (labels.learning_outcomes, &book.learning_outcomes),
        ]
        .into_iter()
        .map(|(label, items)| (label, items.iter().map(|i| one_line(i)).filter(|i| !i.is_empty()).collect::<Vec<_>>()))
        .filter(|(_, items)| !items.is_empty())
        .collect();
        let title = one_line(&book.title);
        Plan {
            labels,
            lang: language_tag(&book.language),
            title: if title.is_empty() { labels.untitled.to_string() } else { title },
            modules,
            labs,
            lists,
        }
    }
}

#[cfg(test)]
mod numbering_tests {
    use super::with_title;

    #[test]
    fn a_title_that_already_carries_its_number_is_not_prefixed_again() {
        assert_eq!(with_title("Module 1".into(), "Module 1 — Introduction"), "Module 1 — Introduction");
        assert_eq!(with_title("Módulo 2".into(), "módulo 2: Limpieza"), "módulo 2: Limpieza");
        assert_eq!(with_title("Module 1".into(), "Module 10 — Later"), "Module 1: Module 10 — Later");
        assert_eq!(with_title("Module 1".into(), "Introduction"), "Module 1: Introduction");
    }
}
