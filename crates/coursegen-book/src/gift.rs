//! Every quiz of the book in Moodle's GIFT format: one `$CATEGORY:` per lesson
//! (`course/module/lesson`), then its questions, each block separated by a blank line as
//! Moodle's importer requires.

use crate::plan::one_line;
use crate::{Book, BookAnswer};

/// Question and answer text with GIFT's special characters escaped, on one line.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        if matches!(c, '~' | '=' | '#' | '{' | '}' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A category name: Moodle reads the line as it is, except that `/` separates levels, so a
/// slash inside a name is doubled.
fn category(s: &str) -> String {
    one_line(s).replace('/', "//")
}

/// The book's quizzes as a GIFT file; `None` when no lesson has a quiz.
pub(crate) fn render(book: &Book) -> Option<String> {
    let mut out = format!("// {}: quizzes (GIFT, for Moodle's question bank import)\n", one_line(&book.title));
    let mut any = false;
    for module in &book.modules {
        for lesson in &module.lessons {
            let Some(quiz) = lesson.quiz.as_ref().filter(|q| !q.questions.is_empty()) else { continue };
            any = true;
            // Numbers lead the module and lesson names, so equal titles stay apart.
            out.push_str(&format!(
                "\n$CATEGORY: {}/{}. {}/{}.{} {}\n",
                category(&book.title),
                module.number,
                category(&module.title),
                module.number,
                lesson.number,
                category(&lesson.title),
            ));
            for (i, q) in quiz.questions.iter().enumerate() {
                let title = format!("M{:02} L{:02} Q{}", module.number, lesson.number, i + 1);
                let feedback = format!("####{}", escape(&q.explanation));
                let body = match &q.answer {
                    BookAnswer::Choice { options, correct } => {
                        let mut b = String::from("{\n");
                        for (k, o) in options.iter().enumerate() {
                            b.push_str(&format!("{}{}\n", if k == *correct { '=' } else { '~' }, escape(o)));
                        }
                        b.push_str(&feedback);
                        b.push_str("\n}");
                        b
                    }
                    BookAnswer::TrueFalse(t) => format!("{{{}{feedback}}}", if *t { "T" } else { "F" }),
                    BookAnswer::Short(answers) => {
                        let list: Vec<String> = answers.iter().map(|a| format!("={}", escape(a))).collect();
                        format!("{{{} {feedback}}}", list.join(" "))
                    }
                };
                out.push_str(&format!("\n::{title}::{} {body}\n", escape(&q.prompt)));
            }
        }
    }
    any.then_some(out)
}
