//! Quizzes in the book: after each lesson its questions; in the HTML page each answer behind
//! a `<details>` (revealed on demand, no script), in the EPUB and Markdown an answer key at the
//! end of each module.

use crate::labels::Labels;
use crate::text::{attr, md_inline, text};
use crate::{BookAnswer, BookQuestion, BookQuiz};

/// The letter of option `i` (A, B, ...).
pub(crate) fn letter(i: usize) -> char {
    char::from(b'A' + (i % 26) as u8)
}

/// The right answer in words: `B. option`, `True`, `answer (also accepted: x, y)`.
pub(crate) fn answer_text(q: &BookQuestion, labels: &Labels) -> String {
    match &q.answer {
        BookAnswer::Choice { options, correct } => {
            format!("{}. {}", letter(*correct), options.get(*correct).map(String::as_str).unwrap_or(""))
        }
        BookAnswer::TrueFalse(true) => labels.true_.to_string(),
        BookAnswer::TrueFalse(false) => labels.false_.to_string(),
        BookAnswer::Short(answers) => match answers.split_first() {
            None => String::new(),
            Some((best, [])) => best.clone(),
            Some((best, rest)) => format!("{best} ({}: {})", labels.also_accepted, rest.join(", ")),
        },
    }
}

/// The options a question shows (true/false shows both words; short answer none).
fn shown_options<'q>(q: &'q BookQuestion, labels: &'q Labels) -> Vec<&'q str> {
    match &q.answer {
        BookAnswer::Choice { options, .. } => options.iter().map(String::as_str).collect(),
        BookAnswer::TrueFalse(_) => vec![labels.true_, labels.false_],
        BookAnswer::Short(_) => Vec::new(),
    }
}

/// A lesson's quiz as HTML: a section with heading level `h`, the questions in an ordered
/// list, and, when `reveal`, each answer in a `<details>` element.
pub(crate) fn push_html(
    out: &mut String,
    quiz: &BookQuiz,
    (anchor, lesson): (&str, &str),
    h: u8,
    labels: &Labels,
    reveal: bool,
) {
    // Every quiz has the same heading; the region's name says whose quiz it is.
    let id = format!("{anchor}-quiz");
    out.push_str(&format!(
        "<section class=\"quiz\" id=\"{}\" aria-label=\"{}\">\n<h{h}>{}</h{h}>\n<ol class=\"questions\">\n",
        attr(&id),
        attr(&format!("{}: {lesson}", labels.quiz)),
        text(labels.quiz)
    ));
    for q in &quiz.questions {
        out.push_str(&format!("<li>\n<p>{}</p>\n", text(&q.prompt)));
        let options = shown_options(q, labels);
        if !options.is_empty() {
            out.push_str("<ol class=\"options\" type=\"A\">\n");
            for o in options {
                out.push_str(&format!("<li>{}</li>\n", text(o)));
            }
            out.push_str("</ol>\n");
        }
        if reveal {
            out.push_str(&format!(
                "<details>\n<summary>{}</summary>\n<p><strong>{}:</strong> {}. {}</p>\n</details>\n",
                text(labels.show_answer),
                text(labels.answer),
                text(&answer_text(q, labels)),
                text(&q.explanation)
            ));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ol>\n</section>\n");
}

/// A module's answer key as HTML (EPUB): per lesson with a quiz, its answers in order.
pub(crate) fn push_html_key(
    out: &mut String,
    quizzes: &[(&str, &str, &BookQuiz)],
    (module_anchor, module): (&str, &str),
    h: u8,
    labels: &Labels,
) {
    if quizzes.is_empty() {
        return;
    }
    let id = format!("{module_anchor}-answers");
    out.push_str(&format!(
        "<section class=\"answer-key\" id=\"{}\" aria-label=\"{}\">\n<h{h}>{}</h{h}>\n",
        attr(&id),
        attr(&format!("{}: {module}", labels.answer_key)),
        text(labels.answer_key)
    ));
    let sub = h + 1;
    for (_, heading, quiz) in quizzes {
        out.push_str(&format!("<h{sub}>{}</h{sub}>\n<ol>\n", text(heading)));
        for q in &quiz.questions {
            out.push_str(&format!(
                "<li><strong>{}</strong>. {}</li>\n",
                text(&answer_text(q, labels)),
                text(&q.explanation)
            ));
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</section>\n");
}

/// A lesson's quiz as Markdown (heading level `h`), without the answers.
pub(crate) fn push_markdown(out: &mut String, quiz: &BookQuiz, h: u8, labels: &Labels) {
    out.push_str(&format!("{} {}\n\n", "#".repeat(h as usize), md_inline(labels.quiz)));
    for (i, q) in quiz.questions.iter().enumerate() {
        out.push_str(&format!("{}. {}\n", i + 1, md_inline(&q.prompt)));
        for (k, o) in shown_options(q, labels).into_iter().enumerate() {
            out.push_str(&format!("   - {}. {}\n", letter(k), md_inline(o)));
        }
    }
    out.push('\n');
}

/// A module's answer key as Markdown.
pub(crate) fn push_markdown_key(out: &mut String, quizzes: &[(&str, &str, &BookQuiz)], h: u8, labels: &Labels) {
    if quizzes.is_empty() {
        return;
    }
    out.push_str(&format!("{} {}\n\n", "#".repeat(h as usize), md_inline(labels.answer_key)));
    for (_, heading, quiz) in quizzes {
        out.push_str(&format!("**{}**\n\n", md_inline(heading)));
        for (i, q) in quiz.questions.iter().enumerate() {
            out.push_str(&format!(
                "{}. **{}**. {}\n",
                i + 1,
                md_inline(&answer_text(q, labels)),
                md_inline(&q.explanation)
            ));
        }
        out.push('\n');
    }
}
