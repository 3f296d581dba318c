//! Rendering tests over a sample book: structure, security, determinism and EPUB validity.

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use crate::support::{self, hostile_book, sample_book, LESSON_TITLES};
use coursegen_book::{render_epub, render_html, render_markdown, visual_ids, word_count, Book, RenderError};

/// Every file of an EPUB: name, compression method and content.
fn epub_entries(bytes: &[u8]) -> Vec<(String, zip::CompressionMethod, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("epub is a zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("entry");
            let mut content = Vec::new();
            file.read_to_end(&mut content).expect("read entry");
            (file.name().expect("name").to_string(), file.compression(), content)
        })
        .collect()
}

fn entry<'a>(entries: &'a [(String, zip::CompressionMethod, Vec<u8>)], name: &str) -> &'a str {
    let found = entries.iter().find(|e| e.0 == name).unwrap_or_else(|| panic!("{name} missing"));
    std::str::from_utf8(&found.2).expect("utf-8")
}

/// Positions of `needle` in `haystack`, in order.
fn positions(haystack: &str, needle: &str) -> Vec<usize> {
    haystack.match_indices(needle).map(|(i, _)| i).collect()
}

/// A URL is safe when it is http(s), mailto, a fragment or a relative path.
fn is_safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.find([':', '/', '?', '#']) {
        Some(i) if lower[i..].starts_with(':') => {
            matches!(&lower[..i], "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Parses a document as XML and checks that no element or attribute can run script.
fn assert_no_active_content(name: &str, xml: &str) {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .unwrap_or_else(|e| panic!("{name} is not well-formed: {e}"));
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name().to_ascii_lowercase();
        assert!(!matches!(tag.as_str(), "script" | "iframe" | "object" | "embed"), "{name}: <{tag}> element");
        for attribute in node.attributes() {
            let key = attribute.name().to_ascii_lowercase();
            assert!(!key.starts_with("on"), "{name}: event handler attribute {key} on <{tag}>");
            if matches!(key.as_str(), "href" | "src") {
                assert!(is_safe_url(attribute.value()), "{name}: unsafe {key}={:?}", attribute.value());
            }
        }
    }
}

#[test]
fn html_lists_every_lesson_title_in_order() {
    let html = render_html(&sample_book());
    let main = &html[html.find("<main>").expect("main")..];
    let mut last = 0;
    for title in LESSON_TITLES {
        let heading = positions(main, &format!("{title}</h3>"));
        assert_eq!(heading.len(), 1, "lesson heading {title} once");
        assert!(heading[0] > last, "{title} out of order");
        last = heading[0];
    }
    // The contents list has them in the same order too.
    let toc = &html[html.find("<nav").expect("nav")..html.find("</nav>").expect("nav end")];
    let toc_positions: Vec<usize> = LESSON_TITLES.iter().map(|t| toc.find(t).expect("title in toc")).collect();
    assert!(toc_positions.windows(2).all(|w| w[0] < w[1]));
    // A leading heading that repeats the lesson title is not printed twice.
    assert_eq!(positions(main, "Getting started</h").len(), 1);
}

#[test]
fn html_embeds_every_image_exactly_once_as_a_figure() {
    let book = sample_book();
    let html = render_html(&book);
    for image in book.images.values() {
        assert_eq!(positions(&html, &format!("src=\"{}\"", image.href)).len(), 1, "{}", image.id);
        assert_eq!(positions(&html, &image.caption).len(), 1, "caption of {}", image.id);
    }
    // Block visuals become figures (the one inside a sentence too, splitting the paragraph).
    assert_eq!(positions(&html, "<figure").len(), 4);
    assert_eq!(positions(&html, "<figcaption>").len(), 4);
    assert!(html.contains(
        "<p>As the dashboard shows</p>\n<figure id=\"figure-4\"><img src=\"../images/module-03/03-01-01.svg\" \
         alt=\"A monitoring dashboard\" />"
    ));
    assert!(html
        .contains("<figcaption><span class=\"figure-label\">Figure 1.</span> The toolchain at a glance</figcaption>"));
    assert!(html.contains("<p>latency is the first metric to watch.</p>"));
    // Tags in code stay literal.
    assert!(html.contains("[VISUAL: 99-99-99] stays literal"));
}

#[test]
fn html_is_a_self_contained_readable_page() {
    let html = render_html(&sample_book());
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    for needle in [
        "<meta charset=\"utf-8\" />",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />",
        "<title>Practical Pipelines</title>",
        "max-width: 46rem",
        "prefers-color-scheme: dark",
        "@media print",
        "<div class=\"notice\" id=\"notice\" role=\"note\">",
        "These lessons are offline drafts.",
        "<h2>Audience</h2>",
        "<h2>Prerequisites</h2>",
        "<h2>Learning outcomes</h2>",
        "<dt>Level</dt><dd>beginner</dd>",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"), "no external stylesheet");
    assert_no_active_content("page", &html);
}

#[test]
fn html_contents_links_resolve_to_anchors() {
    let html = render_html(&sample_book());
    for anchor in ["m01", "m01-l02", "m02-l01", "m03", "m03-l01", "labs", "lab-01-02-01"] {
        assert!(html.contains(&format!("href=\"#{anchor}\"")), "toc link {anchor}");
        assert_eq!(positions(&html, &format!("id=\"{anchor}\"")).len(), 1, "anchor {anchor}");
    }
    assert!(html.contains("<h2>Module 1: Foundations</h2>"));
    assert!(html.contains("<h3>Lesson 1.2: Working with data</h3>"));
    assert!(html.contains("<h3>Lab 01-02-01: Build a pipeline</h3>"));
}

#[test]
fn html_renders_markdown_blocks_with_shifted_headings() {
    let html = render_html(&sample_book());
    for needle in [
        "<h4>Installing tools</h4>",
        "<h5>Checking the install</h5>",
        "<h4>Reading files</h4>",
        "<h4>Setext section</h4>",
        "<pre><code class=\"language-bash\">echo \"[VISUAL: 99-99-99]",
        "<th style=\"text-align: left\">Tool</th><th style=\"text-align: right\">Version</th>",
        "<td style=\"text-align: left\">cargo</td>",
        "<ol>\n<li>Download the installer.</li>",
        "<del>Pray</del>",
        "<blockquote>\n<p>Tip: keep raw data immutable.</p>",
        "<hr />",
        "<a href=\"https://example.com/guide\">guide</a>",
        "<code>cargo --version</code>",
        "<pre><code class=\"language-python\">import csv",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert!(!html.contains("<h1>Getting started"), "repeated title heading dropped");
}

#[test]
fn missing_visual_is_visible_in_every_format() {
    let book = sample_book();
    let html = render_html(&book);
    assert!(html.contains("<p class=\"missing-visual\" role=\"note\">missing visual 02-01-09</p>"));
    assert!(render_markdown(&book).contains("missing visual 02-01-09"));
    let epub = render_epub(&book).expect("epub");
    let entries = epub_entries(&epub);
    assert!(entry(&entries, "OEBPS/module-02.xhtml").contains("missing visual 02-01-09"));
}

#[test]
fn script_injection_never_reaches_html() {
    let html = render_html(&hostile_book());
    assert_no_active_content("hostile page", &html);
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "raw script tag");
    assert!(!lower.contains("<img src=x"), "raw img tag");
    assert!(!lower.contains("<div onclick"), "raw div");
    assert!(!lower.contains("href=\"javascript") && !lower.contains("src=\"javascript"));
    assert!(!lower.contains("data:text/html") || !lower.contains("href=\"data:"));
    assert!(html.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; Course"));
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "raw HTML block shown as text");
    assert!(html.contains("<html lang=\"en\">"), "invalid language tag replaced");
    assert!(html.contains("href=\"https://example.com/?a=1&amp;b=%222%22\""));
    assert!(html.contains("href=\"https://example.com/auto\""));
    // The visual's javascript: href is refused, so the figure is reported missing.
    assert!(html.contains("missing visual 01-01-01"));
}

#[test]
fn script_injection_never_reaches_xhtml() {
    let epub = render_epub(&hostile_book()).expect("epub");
    let entries = epub_entries(&epub);
    let mut checked = 0;
    for (name, _, content) in &entries {
        if name.ends_with(".xhtml") || name.ends_with(".opf") || name.ends_with(".ncx") {
            let xml = std::str::from_utf8(content).expect("utf-8");
            assert_no_active_content(name, xml);
            assert!(!xml.to_ascii_lowercase().contains("<script"), "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 6);
    let module = entry(&entries, "OEBPS/module-01.xhtml");
    // The escaped alt text stays inside the attribute; the image itself is embedded.
    assert!(module.contains("src=\"images/01-01-01.svg\" alt=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
    // Remote images become links, relative links are dropped from EPUB documents.
    assert!(!module.contains("href=\"#"));
}

#[test]
fn rendering_is_deterministic() {
    let a = sample_book();
    let b = sample_book();
    assert_eq!(render_markdown(&a), render_markdown(&b));
    assert_eq!(render_html(&a), render_html(&b));
    assert_eq!(render_epub(&a).expect("epub"), render_epub(&b).expect("epub"));
    let h = hostile_book();
    assert_eq!(render_epub(&h).expect("epub"), render_epub(&h).expect("epub"));
}

#[test]
fn epub_starts_with_stored_mimetype() {
    let epub = render_epub(&sample_book()).expect("epub");
    // Local file header: signature, method 0 (stored), name "mimetype", no extra field.
    assert_eq!(&epub[0..4], b"PK\x03\x04");
    assert_eq!(u16::from_le_bytes([epub[8], epub[9]]), 0, "stored");
    assert_eq!(u16::from_le_bytes([epub[26], epub[27]]), 8, "name length");
    assert_eq!(u16::from_le_bytes([epub[28], epub[29]]), 0, "no extra field");
    assert_eq!(&epub[30..38], b"mimetype");
    assert_eq!(&epub[38..58], b"application/epub+zip");
    let entries = epub_entries(&epub);
    assert_eq!(entries[0].0, "mimetype");
    assert_eq!(entries[0].1, zip::CompressionMethod::Stored);
    assert_eq!(entries[0].2, b"application/epub+zip");
}

#[test]
fn epub_manifest_lists_every_file() {
    let book = sample_book();
    let entries = epub_entries(&render_epub(&book).expect("epub"));
    let container = entry(&entries, "META-INF/container.xml");
    assert!(container.contains("full-path=\"OEBPS/content.opf\""));
    let opf_text = entry(&entries, "OEBPS/content.opf");
    let opf = roxmltree::Document::parse(opf_text).expect("opf parses");
    let manifest: BTreeSet<String> = opf
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .map(|n| format!("OEBPS/{}", n.attribute("href").expect("href")))
        .collect();
    let files: BTreeSet<String> = entries
        .iter()
        .map(|e| e.0.clone())
        .filter(|n| !matches!(n.as_str(), "mimetype" | "META-INF/container.xml" | "OEBPS/content.opf"))
        .collect();
    assert_eq!(manifest, files);
    // Every spine entry points at a manifest item.
    let ids: BTreeSet<&str> =
        opf.descendants().filter(|n| n.has_tag_name("item")).filter_map(|n| n.attribute("id")).collect();
    let spine: Vec<&str> =
        opf.descendants().filter(|n| n.has_tag_name("itemref")).filter_map(|n| n.attribute("idref")).collect();
    assert_eq!(spine, ["title-page", "nav", "module-01", "module-02", "module-03", "labs"]);
    assert!(spine.iter().all(|s| ids.contains(s)));
    for needle in [
        "<dc:identifier id=\"book-id\">urn:coursegen:practical-pipelines</dc:identifier>",
        "<dc:title>Practical Pipelines</dc:title>",
        "<dc:language>en</dc:language>",
        "<meta property=\"dcterms:modified\">2024-05-01T12:00:00Z</meta>",
        "href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"",
        "href=\"images/01-01-01.svg\" media-type=\"image/svg+xml\"",
        "href=\"images/02-01-01.png\" media-type=\"image/png\"",
        "href=\"toc.ncx\" media-type=\"application/x-dtbncx+xml\"",
    ] {
        assert!(opf_text.contains(needle), "opf misses {needle}");
    }
    // Embedded images are byte-identical to the input.
    let png = entries.iter().find(|e| e.0 == "OEBPS/images/02-01-01.png").expect("png");
    assert_eq!(png.2, support::PNG);
}

#[test]
fn epub_documents_are_well_formed_xml() {
    let entries = epub_entries(&render_epub(&sample_book()).expect("epub"));
    let mut xhtml = 0;
    for (name, _, content) in &entries {
        if name.ends_with(".xhtml") || name.ends_with(".xml") || name.ends_with(".opf") || name.ends_with(".ncx") {
            let text = std::str::from_utf8(content).expect("utf-8");
            assert_no_active_content(name, text);
            xhtml += usize::from(name.ends_with(".xhtml"));
        }
    }
    // Title page, nav, three modules, labs.
    assert_eq!(xhtml, 6);
    let nav = entry(&entries, "OEBPS/nav.xhtml");
    assert!(nav.contains("<nav epub:type=\"toc\" role=\"doc-toc\" id=\"toc\">"));
    assert!(nav.contains("href=\"module-01.xhtml#m01-l02\""));
    assert!(nav.contains("href=\"labs.xhtml#lab-01-02-01\""));
    let module = entry(&entries, "OEBPS/module-01.xhtml");
    assert!(module.contains("<img src=\"images/01-01-01.svg\" alt=\"Diagram of the toolchain\" />"));
    assert!(module.contains("<h3>Installing tools</h3>"));
    assert!(entry(&entries, "OEBPS/title.xhtml").contains("These lessons are offline drafts."));
}

#[test]
fn spanish_books_use_spanish_labels() {
    let mut book = sample_book();
    book.language = "es".into();
    let html = render_html(&book);
    for needle in [
        "<html lang=\"es\">",
        ">Contenido</h2>",
        "<h2>Módulo 1: Foundations</h2>",
        "<h3>Lección 1.2: Working with data</h3>",
        "<h2>Laboratorios</h2>",
        "<h2>Requisitos previos</h2>",
        "<h2>Resultados de aprendizaje</h2>",
        "<h2>Público</h2>",
        "Figura 1.",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let markdown = render_markdown(&book);
    assert!(markdown.contains("## Contenido"));
    let entries = epub_entries(&render_epub(&book).expect("epub"));
    assert!(entry(&entries, "OEBPS/nav.xhtml").contains("<h1>Contenido</h1>"));
    assert!(entry(&entries, "OEBPS/content.opf").contains("<dc:language>es</dc:language>"));
    // Unknown languages fall back to English labels but keep their tag.
    book.language = "nl".into();
    let html = render_html(&book);
    assert!(html.contains("<html lang=\"nl\">") && html.contains(">Contents</h2>"));
}

#[test]
fn markdown_document_has_book_structure() {
    let md = render_markdown(&sample_book());
    let order = [
        "# Practical Pipelines\n",
        "> **Note:** These lessons are offline drafts.",
        "## Audience",
        "## Contents",
        "- [Module 1: Foundations](#m01)",
        "  - [Lesson 1.2: Working with data](#m01-l02)",
        "  - [Lab 01-02-01: Build a pipeline](#lab-01-02-01)",
        "<a id=\"m01\"></a>\n\n## Module 1: Foundations",
        "### Lesson 1.1: Getting started",
        "#### Installing tools",
        "![Diagram of the toolchain](<../images/module-01/01-01-01.svg>)\n\n*Figure 1. The toolchain at a glance*",
        "echo \"[VISUAL: 99-99-99] stays literal\"",
        "##### Checking the install",
        "### Lesson 1.2: Working with data",
        "#### Reading files",
        "- JSON files, see ![Data flowing from source to sink](<../images/module-01/01-02-01.svg>) *Figure 2. How data moves*",
        "**\\[missing visual 02-01-09\\]**",
        "#### Setext section\n",
        "## Labs",
        "### Lab 01-02-01: Build a pipeline",
        "#### Steps",
    ];
    let mut last = 0;
    for needle in order {
        let at = md[last..].find(needle).unwrap_or_else(|| panic!("{needle:?} missing or out of order in\n{md}"));
        last += at + needle.len();
    }
    assert_eq!(positions(&md, "Getting started").len(), 3, "toc entry, lesson heading and answer key only");
    assert!(!md.contains("[VISUAL: 01-"), "known tags replaced");
}

#[test]
fn visual_ids_lists_referenced_ids_in_order() {
    let md = "Intro [VISUAL: 01-02-03]\n\n[visual: 01-02-01] and again [VISUAL: 01-02-03]\n\n\
              `[VISUAL: 09-09-09]`\n\n```\n[VISUAL: 08-08-08]\n```\n\n<div>[VISUAL: 07-07-07]</div>\n\n\
              - item [VISUAL:02-01-01 ]\n\n| a |\n|---|\n| [VISUAL: 03-01-01] |\n";
    assert_eq!(visual_ids(md), ["01-02-03", "01-02-01", "02-01-01", "03-01-01"]);
    assert!(visual_ids("").is_empty());
    assert!(visual_ids("[VISUAL] [VISUAL: ] [VISUAL 01]").is_empty());
}

#[test]
fn word_count_counts_prose_only() {
    assert_eq!(word_count(""), 0);
    assert_eq!(word_count("# Title here\n\nOne **two** three_four."), 5);
    assert_eq!(word_count("- a\n- b c\n\n> quoted words\n"), 5);
    assert_eq!(word_count("Look [VISUAL: 01-02-03] here."), 2);
    assert_eq!(word_count("Text\n\n```\nlet code = 1;\n```\n"), 1);
    assert_eq!(word_count("A [link](https://example.com/a/b) and `code`."), 4);
    assert_eq!(word_count("| h1 | h2 |\n|---|---|\n| x | y |\n"), 4);
    assert_eq!(word_count("un*believ*able --- *** !!"), 1);
    assert_eq!(word_count("<div>raw html</div>\n\nWords ![alt text](x.png)"), 1);
}

#[test]
fn image_problem_names_what_the_packages_would_refuse() {
    let book = sample_book();
    for image in book.images.values() {
        assert_eq!(coursegen_book::image_problem(image), None, "{} is usable", image.id);
    }
    let mut garbage = book.images["02-01-01"].clone();
    garbage.bytes = b"not a png".to_vec();
    assert!(coursegen_book::image_problem(&garbage).is_some_and(|why| why.contains("not image/png")));
    let mut bmp = book.images["01-01-01"].clone();
    bmp.content_type = "image/bmp".into();
    assert!(coursegen_book::image_problem(&bmp).is_some_and(|why| why.contains("unsupported content type")));
}

#[test]
fn epub_rejects_unusable_images_only_when_used() {
    let mut book = sample_book();
    book.images.get_mut("01-01-01").expect("image").content_type = "image/bmp".into();
    match render_epub(&book) {
        Err(RenderError::Image { id, .. }) => assert_eq!(id, "01-01-01"),
        other => panic!("expected an image error, got {other:?}"),
    }
    let mut book = sample_book();
    book.images.get_mut("02-01-01").expect("image").bytes = b"not a png".to_vec();
    assert!(matches!(render_epub(&book), Err(RenderError::Image { .. })));
    // An unreferenced unusable image is not embedded and does no harm.
    let mut book = sample_book();
    book.images.insert(
        "09-09-09".into(),
        coursegen_book::BookImage { id: "09-09-09".into(), content_type: "text/plain".into(), ..Default::default() },
    );
    let entries = epub_entries(&render_epub(&book).expect("epub"));
    assert!(!entries.iter().any(|e| e.0.contains("09-09-09")));
    let mut book = sample_book();
    book.modified = "last tuesday".into();
    match render_epub(&book) {
        Err(error @ RenderError::Modified(_)) => {
            assert_eq!(error.to_string(), "epub packaging failed: modified time \"last tuesday\" is not RFC 3339");
        }
        other => panic!("expected a modified-time error, got {other:?}"),
    }
}

#[test]
fn odd_inputs_render_without_panicking() {
    let empty = Book::default();
    assert!(render_html(&empty).contains("<title>Untitled course</title>"));
    assert!(render_markdown(&empty).starts_with("# Untitled course"));
    let entries = epub_entries(&render_epub(&empty).expect("empty epub"));
    for (name, _, content) in &entries {
        if name.ends_with(".xhtml") || name.ends_with(".opf") || name.ends_with(".ncx") {
            assert_no_active_content(name, std::str::from_utf8(content).expect("utf-8"));
        }
    }
    let nasty = support::NASTY_MARKDOWN;
    for (i, md) in nasty.iter().enumerate() {
        let book = support::book_with_lesson(md);
        let html = render_html(&book);
        assert_no_active_content(&format!("nasty page {i}"), &html);
        let entries = epub_entries(&render_epub(&book).expect("epub"));
        for (name, _, content) in &entries {
            if name.ends_with(".xhtml") {
                assert_no_active_content(&format!("nasty {i} {name}"), std::str::from_utf8(content).expect("utf-8"));
            }
        }
        let _ = render_markdown(&book);
        let _ = word_count(md);
        let _ = visual_ids(md);
    }
}

#[test]
fn random_markdown_never_breaks_the_output() {
    const TOKENS: [&str; 40] = [
        "# ",
        "## ",
        "###### ",
        "\n",
        "\n\n",
        "- ",
        "1. ",
        "> ",
        "```",
        "~~~",
        "    ",
        "`",
        "*",
        "**",
        "_",
        "~~",
        "[",
        "]",
        "(",
        ")",
        "![",
        "<",
        ">",
        "&",
        "\"",
        "'",
        "|",
        "---",
        "===",
        "[VISUAL: 01-01-01]",
        "[VISUAL: 77-77-77]",
        "javascript:",
        "<script>",
        "https://x.y/",
        "word ",
        "é ",
        "\t",
        "\\",
        "[^a]",
        "- [ ] ",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % bound as u64).expect("small")
    };
    for round in 0..150 {
        let len = 1 + next(60);
        let md: String = (0..len).map(|_| TOKENS[next(TOKENS.len())]).collect();
        let book = support::book_with_lesson(&md);
        let html = render_html(&book);
        assert_no_active_content(&format!("random page {round}: {md:?}"), &html);
        let entries = epub_entries(&render_epub(&book).expect("epub"));
        for (name, _, content) in &entries {
            if name.ends_with(".xhtml") {
                let xml = std::str::from_utf8(content).expect("utf-8");
                assert_no_active_content(&format!("random {round} {name}: {md:?}"), xml);
            }
        }
        let _ = render_markdown(&book);
        let _ = word_count(&md);
        let _ = visual_ids(&md);
    }
}
