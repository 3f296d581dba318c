//! The course as a SCORM 1.2 package: one SCO per module (its lessons, their images and one
//! quiz form over all its lessons' questions), run by `sco.js`, which reports the score and
//! `passed`/`failed` (or `completed` for a module without a quiz) to the LMS.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Write as _};

use serde_json::json;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::epub::{check_image, image_paths};
use crate::fragment::{Figures, Target};
use crate::html::{push_module, Layout, QuizStyle, BASE_CSS};
use crate::labels::Labels;
use crate::plan::{one_line, ModulePlan, Plan};
use crate::text::{attr, text};
use crate::{Book, BookAnswer, RenderError};

/// The SCO runtime every module page loads.
const SCO_JS: &str = include_str!("../assets/scorm/sco.js");

const SCO_LAYOUT: Layout =
    Layout { section_attributes: "", section_level: 1, entry_element: "article", quizzes: QuizStyle::Omitted };

const SCO_CSS: &str = r#"
.quiz fieldset { border: 1px solid currentColor; border-radius: .4rem; margin: 1rem 0; padding: .5rem 1rem; }
.quiz legend { font-weight: 600; padding: 0 .3rem; }
.quiz .option { margin: .3rem 0; }
.quiz button { font: inherit; padding: .4rem 1rem; margin: .5rem 0; }
#coursegen-quiz-result { font-weight: 600; }
"#;

/// An XML ID (NCName) built from `s`.
fn xml_id(prefix: &str, s: &str) -> String {
    let body: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    format!("{prefix}{}", body.trim_matches('-'))
}

/// The quiz form of one module: every question of its lessons, and the data `sco.js` scores.
fn quiz_form(module: &ModulePlan<'_>, labels: &Labels, mastery: u32) -> Option<String> {
    let mut fieldsets = String::new();
    let mut data = Vec::new();
    for (lesson, entry) in module.module.lessons.iter().zip(&module.lessons) {
        let Some(quiz) = entry.quiz else { continue };
        for (i, q) in quiz.questions.iter().enumerate() {
            let id = format!("m{:02}-l{:02}-q{}", module.module.number, lesson.number, i + 1);
            fieldsets.push_str(&format!(
                "<fieldset class=\"question\" data-id=\"{id}\">\n<legend>{}</legend>\n",
                text(&format!("{}.{} · {}", lesson.number, i + 1, q.prompt))
            ));
            let radio = |value: &str, k: usize, label: &str| {
                format!(
                    "<div class=\"option\"><input type=\"radio\" name=\"{id}\" id=\"{id}-{k}\" value=\"{}\" /> <label for=\"{id}-{k}\">{}</label></div>\n",
                    attr(value),
                    text(label)
                )
            };
            let entry = match &q.answer {
                BookAnswer::Choice { options, correct } => {
                    for (k, o) in options.iter().enumerate() {
                        fieldsets.push_str(&radio(&k.to_string(), k, o));
                    }
                    json!({"id": id, "kind": "choice", "prompt": q.prompt, "options": options, "answer": correct,
                           "explanation": q.explanation})
                }
                BookAnswer::TrueFalse(t) => {
                    fieldsets.push_str(&radio("true", 0, labels.true_));
                    fieldsets.push_str(&radio("false", 1, labels.false_));
                    json!({"id": id, "kind": "true_false", "prompt": q.prompt, "answer": t, "explanation": q.explanation})
                }
                BookAnswer::Short(answers) => {
                    fieldsets.push_str(&format!(
                        "<div class=\"option\"><label for=\"{id}-input\">{}</label> <input type=\"text\" name=\"{id}\" id=\"{id}-input\" autocomplete=\"off\" /></div>\n",
                        text(labels.your_answer)
                    ));
                    json!({"id": id, "kind": "short", "prompt": q.prompt, "answers": answers, "explanation": q.explanation})
                }
            };
            data.push(entry);
            fieldsets.push_str(&format!(
                "<p class=\"explanation\" id=\"{id}-explanation\" hidden>{}</p>\n</fieldset>\n",
                text(&q.explanation)
            ));
        }
    }
    if data.is_empty() {
        return None;
    }
    // `</` inside a script element would end it early.
    let data = json!({"mastery": mastery, "questions": data}).to_string().replace("</", "<\\/");
    Some(format!(
        "<section class=\"quiz\" aria-labelledby=\"quiz-title\">\n<h2 id=\"quiz-title\">{}</h2>\n\
         <form id=\"coursegen-quiz\" data-label-score=\"{}\" data-label-passed=\"{}\" data-label-failed=\"{}\" \
         data-label-correct=\"{}\" data-label-wrong=\"{}\">\n{fieldsets}\
         <button type=\"submit\" id=\"coursegen-quiz-submit\">{}</button>\n</form>\n\
         <p id=\"coursegen-quiz-result\" role=\"status\" aria-live=\"polite\"></p>\n\
         <script type=\"application/json\" id=\"coursegen-quiz-data\">{data}</script>\n</section>\n",
        text(labels.quiz),
        attr(labels.score),
        attr(labels.passed),
        attr(labels.failed),
        attr(labels.correct),
        attr(labels.wrong),
        text(labels.check_answers),
    ))
}

/// The SCORM 1.2 package of `book`, every module a SCO, `mastery` the pass mark in percent.
pub(crate) fn render(book: &Book, mastery: u32) -> Result<Vec<u8>, RenderError> {
    let plan = Plan::new(book);
    let labels = plan.labels;
    // Images live in `images/`; pages in `mNN/`, so their paths go one folder up.
    let paths = image_paths(&book.images);
    let from_page: BTreeMap<String, String> = paths.iter().map(|(id, p)| (id.clone(), format!("../{p}"))).collect();
    let mut pages = Vec::new();
    let mut items = String::new();
    let mut resources = String::new();
    for module in &plan.modules {
        let mut figures = Figures::new(&book.images, Target::Epub(&from_page));
        let folder = format!("m{:02}", module.module.number);
        let mut body = String::new();
        push_module(&mut body, &SCO_LAYOUT, module, labels, &mut figures);
        let form = quiz_form(module, labels, mastery);
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\" />\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n<title>{title}</title>\n\
             <style>{BASE_CSS}{SCO_CSS}</style>\n</head>\n<body>\n<main>\n{body}{quiz}</main>\n\
             <script src=\"../sco.js\"></script>\n</body>\n</html>\n",
            lang = attr(&plan.lang),
            title = text(&format!("{} · {}", module.heading, plan.title)),
            quiz = form.as_deref().unwrap_or(""),
        );
        let used: BTreeSet<String> = figures.used().iter().cloned().collect();
        let mut files = format!("<file href=\"{folder}/index.html\" />\n<file href=\"sco.js\" />\n");
        for id in &used {
            if let Some(path) = paths.get(id) {
                files.push_str(&format!("<file href=\"{}\" />\n", attr(path)));
            }
        }
        let item_id = xml_id("item-", &folder);
        let res_id = xml_id("res-", &folder);
        items.push_str(&format!(
            "<item identifier=\"{item_id}\" identifierref=\"{res_id}\" isvisible=\"true\">\n<title>{}</title>\n{}</item>\n",
            text(&module.heading),
            if form.is_some() { format!("<adlcp:masteryscore>{mastery}</adlcp:masteryscore>\n") } else { String::new() }
        ));
        resources.push_str(&format!(
            "<resource identifier=\"{res_id}\" type=\"webcontent\" adlcp:scormtype=\"sco\" href=\"{folder}/index.html\">\n{files}</resource>\n"
        ));
        pages.push((format!("{folder}/index.html"), page, used));
    }
    let manifest = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <manifest identifier=\"{}\" version=\"1.0\" xmlns=\"http://www.imsproject.org/xsd/imscp_rootv1p1p2\" \
         xmlns:adlcp=\"http://www.adlnet.org/xsd/adlcp_rootv1p2\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.imsproject.org/xsd/imscp_rootv1p1p2 imscp_rootv1p1p2.xsd \
         http://www.adlnet.org/xsd/adlcp_rootv1p2 adlcp_rootv1p2.xsd\">\n\
         <metadata>\n<schema>ADL SCORM</schema>\n<schemaversion>1.2</schemaversion>\n</metadata>\n\
         <organizations default=\"course\">\n<organization identifier=\"course\">\n<title>{}</title>\n{items}</organization>\n</organizations>\n\
         <resources>\n{resources}</resources>\n</manifest>\n",
        xml_id("coursegen-", &one_line(&book.identifier)),
        text(&plan.title),
    );

    let base = SimpleFileOptions::default().last_modified_time(DateTime::default()).unix_permissions(0o644);
    let options = base.compression_method(CompressionMethod::Deflated).compression_level(Some(6));
    // Pictures already compressed (PNG, JPEG, ...) are stored as they are, as in the EPUB:
    // deflating them again costs CPU and saves nothing.
    let stored = base.compression_method(CompressionMethod::Stored);
    // Sized for the pages and the pictures stored as they are, so the buffer is not copied as
    // it grows.
    let capacity = pages.iter().map(|(path, page, _)| path.len() + page.len() + 128).sum::<usize>()
        + book.images.values().map(|image| image.bytes.len() + 128).sum::<usize>()
        + manifest.len()
        + SCO_JS.len()
        + 4096;
    let mut zip = ZipWriter::new(Cursor::new(Vec::with_capacity(capacity)));
    zip.start_file("imsmanifest.xml", options)?;
    zip.write_all(manifest.as_bytes())?;
    zip.start_file("sco.js", options)?;
    zip.write_all(SCO_JS.as_bytes())?;
    let mut written = BTreeSet::new();
    for (path, page, used) in &pages {
        zip.start_file(path.as_str(), options)?;
        zip.write_all(page.as_bytes())?;
        for id in used {
            let (Some(image), Some(image_path)) = (book.images.get(id), paths.get(id)) else { continue };
            if written.insert(image_path.clone()) {
                let (_, compress) = check_image(id, image)?;
                zip.start_file(image_path.as_str(), if compress { options } else { stored })?;
                zip.write_all(&image.bytes)?;
            }
        }
    }
    Ok(zip.finish()?.into_inner())
}
