//! What learners and their platforms get besides the book: quizzes in the three editions, the
//! GIFT file and the SCORM 1.2 package. (Their behaviour in Moodle's parser, an LMS runtime,
//! EPUBCheck, Ace and axe-core is checked by `scripts/learner-checks.sh`.)

use std::io::{Cursor, Read as _};

use coursegen_book::{render_epub, render_gift, render_html, render_markdown, render_scorm12, Book};

use crate::support::sample_book;

fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut body = Vec::new();
            f.read_to_end(&mut body).unwrap();
            (f.name().unwrap().to_string(), body)
        })
        .collect()
}

fn entry(entries: &[(String, Vec<u8>)], name: &str) -> String {
    let (_, body) = entries.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} not in the package"));
    String::from_utf8(body.clone()).unwrap()
}

#[test]
fn the_page_reveals_each_answer_on_demand_and_the_epub_and_markdown_keep_a_key_per_module() {
    let book = sample_book();
    let html = render_html(&book);
    assert!(html.contains("<section class=\"quiz\" id=\"m01-l01-quiz\" aria-label=\"Check your understanding: Lesson 1.1: Getting started\">"), "{html}");
    assert!(html.contains("<p>Which command prints the version: {cargo} or &lt;python&gt;?</p>"));
    assert!(html.contains("<details>\n<summary>Show answer</summary>\n<p><strong>Answer:</strong> A. cargo --version."));
    assert!(
        html.contains("<strong>Answer:</strong> cargo (also accepted: rust&#39;s cargo)")
            || html.contains("<strong>Answer:</strong> cargo (also accepted: rust's cargo)"),
        "{html}"
    );
    assert!(!html.contains("<script"), "the page needs no script");
    assert_eq!(html.matches("class=\"quiz\"").count(), 1, "only lesson 1.1 has a quiz");

    let md = render_markdown(&book);
    let quiz_at = md.find("#### Check your understanding").expect("quiz after the lesson");
    let key_at = md.find("### Answer key").expect("key at the end of the module");
    assert!(quiz_at < key_at && key_at < md.find("## Module 2").unwrap());
    assert!(md.contains("   - A. cargo --version\n"));
    assert!(md.contains("2. **True**. The tip says so."));

    let epub = zip_entries(&render_epub(&book).unwrap());
    let chapter = entry(&epub, "OEBPS/module-01.xhtml");
    assert!(chapter.contains("class=\"answer-key\""));
    assert!(!chapter.contains("<details>"), "the e-book keeps answers in the key");
    let opf = entry(&epub, "OEBPS/content.opf");
    for meta in [
        "schema:accessMode\">textual",
        "schema:accessModeSufficient\">textual",
        "schema:accessibilityFeature\">alternativeText",
        "schema:accessibilityHazard\">none",
        "schema:accessibilitySummary",
        "dcterms:conformsTo\">EPUB Accessibility 1.1 - WCAG 2.1 Level AA",
    ] {
        assert!(opf.contains(meta), "{meta} missing from {opf}");
    }
}

#[test]
fn gift_has_one_category_per_lesson_with_a_quiz_and_escapes_its_special_characters() {
    let book = sample_book();
    let gift = render_gift(&book).expect("a lesson has a quiz");
    assert_eq!(gift.matches("\n$CATEGORY: ").count(), 1);
    assert!(gift.contains("\n$CATEGORY: Practical Pipelines/1. Foundations/1.1 Getting started\n\n::M01 L01 Q1::"));
    assert!(gift.contains("::M01 L01 Q1::Which command prints the version\\: \\{cargo\\} or <python>? {\n=cargo --version\n~cargo \\= 1 & 2\n~pip \\~ list\n~make \\# all\n####The lesson runs `cargo --version`\\: it prints the version.\n}"), "{gift}");
    assert!(gift.contains("::M01 L01 Q2::Raw data should be kept immutable. {T####The tip says so.}"));
    assert!(gift.contains(
        "::M01 L01 Q3::Which tool does the table list first? {=cargo =rust's cargo ####It heads the table.}"
    ));
    // Blocks are separated by blank lines: Moodle splits questions there.
    assert!(!gift.contains("}\n::"));
    let without = Book {
        modules: sample_book()
            .modules
            .into_iter()
            .map(|mut m| {
                m.lessons.iter_mut().for_each(|l| l.quiz = None);
                m
            })
            .collect(),
        ..sample_book()
    };
    assert_eq!(render_gift(&without), None, "no quiz, no file");
}

#[test]
fn the_scorm_package_has_a_sco_per_module_with_its_images_and_a_scored_quiz() {
    let book = sample_book();
    let bytes = render_scorm12(&book, 80).unwrap();
    assert_eq!(bytes, render_scorm12(&book, 80).unwrap(), "byte-identical for the same book");
    let entries = zip_entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["imsmanifest.xml", "sco.js"]);
    for page in ["m01/index.html", "m02/index.html", "m03/index.html"] {
        assert!(names.contains(&page), "{names:?}");
    }
    let manifest = entry(&entries, "imsmanifest.xml");
    let doc = roxmltree::Document::parse(&manifest).unwrap();
    let items: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("item")).collect();
    assert_eq!(items.len(), 3, "one SCO per module");
    let mastery: Vec<_> =
        doc.descendants().filter(|n| n.has_tag_name("masteryscore")).map(|n| n.text().unwrap()).collect();
    assert_eq!(mastery, ["80"], "only module 1 has a quiz to pass");
    for file in doc.descendants().filter(|n| n.has_tag_name("file")) {
        let href = file.attribute("href").unwrap();
        assert!(names.contains(&href), "{href} is listed but not packaged");
    }
    assert!(doc
        .descendants()
        .any(|n| n.attribute(("http://www.adlnet.org/xsd/adlcp_rootv1p2", "scormtype")) == Some("sco")));

    let m01 = entry(&entries, "m01/index.html");
    assert!(m01.contains("<script src=\"../sco.js\"></script>"));
    assert!(m01.contains("src=\"../images/01-01-01.svg\""), "images one folder up");
    assert!(names.contains(&"images/01-01-01.svg"));
    assert!(m01.contains("<input type=\"radio\" name=\"m01-l01-q1\" id=\"m01-l01-q1-0\" value=\"0\" />"));
    assert!(m01.contains("<input type=\"text\" name=\"m01-l01-q3\" id=\"m01-l01-q3-input\""));
    let data_start = m01.find("id=\"coursegen-quiz-data\">").unwrap() + "id=\"coursegen-quiz-data\">".len();
    let data_end = data_start + m01[data_start..].find("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&m01[data_start..data_end]).unwrap();
    assert_eq!(data["mastery"], 80);
    assert_eq!(data["questions"][0]["answer"], 0);
    assert_eq!(data["questions"][1]["answer"], true);
    assert_eq!(data["questions"][2]["answers"][1], "rust's cargo");
    assert!(!entry(&entries, "m02/index.html").contains("coursegen-quiz-data"), "module 2 has no quiz");
}
