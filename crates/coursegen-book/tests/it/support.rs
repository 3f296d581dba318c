//! Sample books shared by the integration tests and the sample example.

#![allow(dead_code)]

use std::collections::BTreeMap;

use coursegen_book::{Book, BookAnswer, BookImage, BookLab, BookLesson, BookModule, BookQuestion, BookQuiz};

/// A valid 1×1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x04, 0x00, 0x00, 0x00, 0xb5, 0x1c, 0x0c, 0x02, 0x00, 0x00, 0x00, 0x0b, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x30, 0x81, 0xd0, 0x2f, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A small valid SVG with a label.
pub fn svg(label: &str) -> Vec<u8> {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320\" height=\"120\" viewBox=\"0 0 320 120\">\
         <rect x=\"4\" y=\"4\" width=\"312\" height=\"112\" rx=\"8\" fill=\"#e8f0fe\" stroke=\"#1a73e8\"/>\
         <text x=\"160\" y=\"66\" font-size=\"20\" text-anchor=\"middle\">{label}</text></svg>"
    )
    .into_bytes()
}

fn image(id: &str, content_type: &str, bytes: Vec<u8>, alt: &str, caption: &str) -> (String, BookImage) {
    let module = &id[..2];
    let ext = if content_type == "image/png" { "png" } else { "svg" };
    (
        id.to_string(),
        BookImage {
            id: id.to_string(),
            href: format!("../images/module-{module}/{id}.{ext}"),
            content_type: content_type.to_string(),
            bytes,
            alt: alt.to_string(),
            caption: caption.to_string(),
        },
    )
}

/// The lesson titles of [`sample_book`], in book order.
pub const LESSON_TITLES: [&str; 5] =
    ["Getting started", "Working with data", "Deploying the service", "Rolling back", "Watching the system"];

/// The quiz of lesson 1.1: every kind, and text with characters HTML, GIFT and JSON escape.
pub fn sample_quiz() -> BookQuiz {
    BookQuiz {
        questions: vec![
            BookQuestion {
                prompt: "Which command prints the version: {cargo} or <python>?".into(),
                answer: BookAnswer::Choice {
                    options: vec![
                        "cargo --version".into(),
                        "cargo = 1 & 2".into(),
                        "pip ~ list".into(),
                        "make # all".into(),
                    ],
                    correct: 0,
                },
                explanation: "The lesson runs `cargo --version`: it prints the version.".into(),
            },
            BookQuestion {
                prompt: "Raw data should be kept immutable.".into(),
                answer: BookAnswer::TrueFalse(true),
                explanation: "The tip says so.".into(),
            },
            BookQuestion {
                prompt: "Which tool does the table list first?".into(),
                answer: BookAnswer::Short(vec!["cargo".into(), "rust's cargo".into()]),
                explanation: "It heads the table.".into(),
            },
        ],
    }
}

/// A three-module book with headings, lists, code, tables, visual tags (one unknown) and a lab.
pub fn sample_book() -> Book {
    let lesson = |module_number: u32, number: u32, title: &str, markdown: &str| BookLesson {
        module_number,
        number,
        title: title.to_string(),
        markdown: markdown.to_string(),
        quiz: ((module_number, number) == (1, 1)).then(sample_quiz),
    };
    let images: BTreeMap<String, BookImage> = [
        image("01-01-01", "image/svg+xml", svg("Toolchain"), "Diagram of the toolchain", "The toolchain at a glance"),
        image("01-02-01", "image/svg+xml", svg("Data flow"), "Data flowing from source to sink", "How data moves"),
        image("02-01-01", "image/png", PNG.to_vec(), "Deployment screenshot", "The deployment console"),
        image("03-01-01", "image/svg+xml", svg("Dashboard"), "A monitoring dashboard", "Key metrics"),
    ]
    .into_iter()
    .collect();
    Book {
        title: "Practical Pipelines".into(),
        description: Some(
            "A hands-on course about building data pipelines.\n\nNo prior pipeline experience needed.".into(),
        ),
        language: "en".into(),
        level: Some("beginner".into()),
        audience: vec!["Developers new to data engineering".into()],
        prerequisites: vec!["Basic command-line use".into(), "Some Python".into()],
        learning_outcomes: vec!["Build a pipeline".into(), "Deploy and monitor it".into()],
        notice: Some("These lessons are offline drafts.".into()),
        modules: vec![
            BookModule {
                number: 1,
                title: "Foundations".into(),
                summary: Some("Tools and data.".into()),
                lessons: vec![
                    lesson(
                        1,
                        1,
                        "Getting started",
                        "# Getting started\n\nWelcome to **the course**. This lesson covers *setup*.\n\n\
                         ## Installing tools\n\n1. Download the installer.\n2. Run it.\n\n[VISUAL: 01-01-01]\n\n\
                         ```bash\necho \"[VISUAL: 99-99-99] stays literal\"\n```\n\n\
                         | Tool | Version |\n|:-----|-------:|\n| cargo | 1.95 |\n| python | 3.12 |\n\n\
                         ### Checking the install\n\nRun `cargo --version`.\n",
                    ),
                    lesson(
                        1,
                        2,
                        "Working with data",
                        "## Reading files\n\n- CSV files\n- JSON files, see [VISUAL: 01-02-01]\n\n\
                         > Tip: keep raw data immutable.\n\n---\n\nRead the [guide](https://example.com/guide).\n",
                    ),
                ],
            },
            BookModule {
                number: 2,
                title: "Shipping".into(),
                summary: None,
                lessons: vec![
                    lesson(
                        2,
                        1,
                        "Deploying the service",
                        "Deploy with the console.\n\n[VISUAL: 02-01-01]\n\nAn unknown visual follows.\n\n\
                         [VISUAL: 02-01-09]\n\n## Steps\n\n1. Build.\n2. ~~Pray~~ Test.\n",
                    ),
                    lesson(2, 2, "Rolling back", "Setext section\n==============\n\nUse `git revert`.\n"),
                ],
            },
            BookModule {
                number: 3,
                title: "Operations".into(),
                summary: Some("Keeping it running.".into()),
                lessons: vec![lesson(
                    3,
                    1,
                    "Watching the system",
                    "As the dashboard shows [VISUAL: 03-01-01] latency is the first metric to watch.\n",
                )],
            },
        ],
        labs: vec![BookLab {
            lab_id: "01-02-01".into(),
            module_number: 1,
            title: "Build a pipeline".into(),
            markdown: "# Build a pipeline\n\n## Steps\n\n1. Create a project.\n2. Add a reader:\n\n\
                       ```python\nimport csv\nrows = list(csv.reader(open(\"data.csv\")))\n```\n\n\
                       3. Check the output.\n"
                .into(),
        }],
        images,
        identifier: "urn:coursegen:practical-pipelines".into(),
        modified: "2024-05-01T12:00:00Z".into(),
    }
}

/// A book whose every text field tries to inject markup or script.
pub fn hostile_book() -> Book {
    let evil = "<script>alert(1)</script><img src=x onerror=alert(1)>";
    let mut book = sample_book();
    book.title = format!("{evil} Course \"quoted\" & 'single'");
    book.description = Some(evil.into());
    book.level = Some(evil.into());
    book.notice = Some(evil.into());
    book.audience = vec![evil.into()];
    book.language = "en\"><script>alert(1)</script>".into();
    book.modules[0].title = evil.into();
    book.modules[0].summary = Some(evil.into());
    book.modules[0].lessons[0].title = evil.into();
    book.modules[0].lessons[0].markdown = format!(
        "# Heading {evil}\n\nText <script>alert(1)</script> and <img src=x onerror=alert(1)>.\n\n\
         <div onclick=\"alert(1)\">\n<script>alert(2)</script>\n</div>\n\n\
         [x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](  java\tscript:alert(1)) \
         [d](data:text/html;base64,PHNjcmlwdD4=) [v](vbscript:msgbox(1)) [e](&#106;avascript:alert(1))\n\n\
         ![pic](javascript:alert(2)) ![pic2](data:image/svg+xml,<svg onload=alert(1)>)\n\n\
         [ok](https://example.com/?a=1&b=\"2\") <https://example.com/auto> <javascript:alert(1)>\n\n\
         ```\"><script>alert(1)</script>\n<script>alert(3)</script>\n```\n\n\
         [VISUAL: 01-01-01]\n"
    );
    book.labs[0].title = evil.into();
    book.labs[0].lab_id = "01\"><script>".into();
    if let Some(image) = book.images.get_mut("01-01-01") {
        image.alt = "\"><script>alert(1)</script>".into();
        image.caption = evil.into();
        image.href = "javascript:alert(1)".into();
    }
    book
}

/// Markdown that exercises unusual or malformed constructs.
pub const NASTY_MARKDOWN: [&str; 14] = [
    "```\nunclosed fence",
    "> > > deep\n> > - [VISUAL: 01-01-01]\n> > - x",
    "*[a](b*)* **[VISUAL: 01-02-01]** [[VISUAL: 02-01-01]](https://x.y)",
    "| a |\n|---|\n| [VISUAL: 03-01-01] | extra |",
    "######## seven\n\n# one\n###### six",
    "\u{0}\u{1}\u{b}\u{fffe} control chars",
    "![![nested](a.png)](b.png) ![remote](https://example.com/x.png) [![img](c.png)](https://example.com)",
    "Setext\n===\nmore\n---",
    "<!-- unclosed comment",
    "[^1]\n\n[^1]: footnote",
    "- [ ] task\n- [x] done",
    "1) a\n2) b\n\n7. c",
    "\\[VISUAL: 01-01-01\\] [VISUAL: a.b_c] [link](other.html#x) [frag](#m01) <mailto:a@b.c> a@b.c",
    "Line with two spaces  \nhard break and a\\\nbackslash break\n\n***\n\n    indented code [VISUAL: 01-01-01]",
];

/// The sample book with its first lesson and its lab replaced by `markdown`.
pub fn book_with_lesson(markdown: &str) -> Book {
    let mut book = sample_book();
    book.modules[0].lessons[0].markdown = markdown.to_string();
    book.labs[0].markdown = markdown.to_string();
    book
}
