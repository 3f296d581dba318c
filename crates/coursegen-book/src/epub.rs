//! EPUB 3 packaging.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher as _;
use std::io::{Cursor, Write as _};

use fnv::FnvHasher;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::fragment::{Figures, Target};
use crate::html::{push_labs, push_module, title_block, toc_list, Layout, QuizStyle, BASE_CSS};
use crate::plan::{one_line, Plan, LABS_ANCHOR, LABS_FILE, TITLE_FILE};
use crate::text::{attr, slug, text};
use crate::{Book, BookImage, RenderError};

const EPUB_CSS: &str = r#"
pre, code { background: #f4f5f7; }
pre code { background: none; }
code { padding: 0.1em 0.2em; }
.title-page { margin-top: 2em; }
.title-page h1 { font-size: 2em; }
nav ol { list-style: none; padding-left: 1em; }
"#;

/// A file of the package below `OEBPS/`.
struct Item {
    id: String,
    href: String,
    media_type: &'static str,
    properties: Option<&'static str>,
    bytes: Vec<u8>,
    compress: bool,
}

/// An image type EPUB readers must support: media type, file extension, whether to compress it.
fn image_kind(content_type: &str) -> Option<(&'static str, &'static str, bool)> {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "image/svg+xml" => Some(("image/svg+xml", "svg", true)),
        "image/png" => Some(("image/png", "png", false)),
        "image/jpeg" | "image/jpg" => Some(("image/jpeg", "jpg", false)),
        "image/gif" => Some(("image/gif", "gif", false)),
        "image/webp" => Some(("image/webp", "webp", false)),
        _ => None,
    }
}

/// Checks that an image's bytes look like its declared type.
pub(crate) fn check_image(id: &str, image: &BookImage) -> Result<(&'static str, bool), RenderError> {
    let err = |message: String| RenderError::Image { id: id.to_string(), message };
    let (media_type, _, compress) = image_kind(&image.content_type)
        .ok_or_else(|| err(format!("unsupported content type {:?}", image.content_type)))?;
    let b = &image.bytes;
    if b.is_empty() {
        return Err(err("no image data".into()));
    }
    let matches = match media_type {
        "image/png" => b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => b.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"),
        "image/webp" => b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP",
        _ => std::str::from_utf8(b).is_ok_and(|s| s.contains("<svg")),
    };
    if !matches {
        return Err(err(format!("data is not {media_type}")));
    }
    Ok((media_type, compress))
}

/// Package paths (relative to `OEBPS/`) for every image, unique and deterministic.
pub(crate) fn image_paths(images: &BTreeMap<String, BookImage>) -> BTreeMap<String, String> {
    let mut taken = BTreeSet::new();
    let mut paths = BTreeMap::new();
    for (id, image) in images {
        let ext = image_kind(&image.content_type).map_or("bin", |k| k.1);
        let stem = slug(id);
        let mut path = format!("images/{stem}.{ext}");
        let mut n = 2u32;
        while !taken.insert(path.clone()) {
            path = format!("images/{stem}-{n}.{ext}");
            n = n.saturating_add(1);
        }
        paths.insert(id.clone(), path);
    }
    paths
}

/// Converts an RFC 3339 time (or a bare `YYYY-MM-DD` date) to the `CCYY-MM-DDThh:mm:ssZ` form EPUB
/// requires for `dcterms:modified`. An empty value becomes the Unix epoch.
///
/// Accepted beyond strict RFC 3339 parsing: a lower-case `t` or a space between date and time, and a
/// leap second (`:60`) anywhere, read as `:59`. Fractions of a second are dropped.
pub(crate) fn normalise_modified(value: &str) -> Result<String, RenderError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(rfc3339_from_unix(0));
    }
    let bad = || RenderError::Modified(value.to_string());
    if !v.is_ascii() || v.len() < 10 {
        return Err(bad());
    }
    let mut input = v.to_string();
    if input.len() == 10 {
        input.push_str("T00:00:00Z");
    } else if !matches!(input.as_bytes()[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if input.get(17..19) == Some("60") {
        input.replace_range(17..19, "59");
    }
    let utc = OffsetDateTime::parse(&input, &Rfc3339)
        .ok()
        .and_then(|t| t.checked_to_offset(UtcOffset::UTC))
        .ok_or_else(bad)?;
    utc.replace_nanosecond(0).ok().and_then(|t| t.format(&Rfc3339).ok()).ok_or_else(bad)
}

/// A stable identifier: the book's own, or one derived from the title.
fn identifier(book: &Book) -> String {
    let id = one_line(&book.identifier);
    if !id.is_empty() {
        return id;
    }
    // FNV-1a over the raw title bytes, so the derived identifier is stable across builds and platforms.
    let mut hasher = FnvHasher::default();
    hasher.write(book.title.as_bytes());
    format!("urn:coursegen:book:{:016x}", hasher.finish())
}

/// Wraps a body into an XHTML content document.
fn xhtml(lang: &str, title: &str, body: &str) -> String {
    let lang = attr(lang);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" \
         xmlns:epub=\"http://www.idpf.org/2007/ops\" lang=\"{lang}\" xml:lang=\"{lang}\">\n<head>\n<meta charset=\"UTF-8\" />\n\
         <title>{}</title>\n<link rel=\"stylesheet\" type=\"text/css\" href=\"style.css\" />\n</head>\n<body>\n{body}</body>\n</html>\n",
        text(title)
    )
}

/// The package's accessibility metadata (EPUB Accessibility 1.1): text and images, the text
/// alone sufficient (every figure has alternative text from its visual plan), navigable by
/// structure and contents, no hazards, and the WCAG 2.1 AA conformance claim the checks in
/// `scripts/check` (EPUBCheck, Ace, axe-core) back.
const ACCESSIBILITY_METADATA: &str = "<meta property=\"schema:accessMode\">textual</meta>\n\
<meta property=\"schema:accessMode\">visual</meta>\n\
<meta property=\"schema:accessModeSufficient\">textual</meta>\n\
<meta property=\"schema:accessModeSufficient\">textual,visual</meta>\n\
<meta property=\"schema:accessibilityFeature\">alternativeText</meta>\n\
<meta property=\"schema:accessibilityFeature\">structuralNavigation</meta>\n\
<meta property=\"schema:accessibilityFeature\">tableOfContents</meta>\n\
<meta property=\"schema:accessibilityFeature\">readingOrder</meta>\n\
<meta property=\"schema:accessibilityFeature\">displayTransformability</meta>\n\
<meta property=\"schema:accessibilityHazard\">none</meta>\n\
<meta property=\"schema:accessibilitySummary\">Text with headings, a table of contents and \
a reading order that follows the course; every figure has a text alternative and a caption; quiz \
answers are in a key at the end of each module. No flashing, motion or sound.</meta>\n\
<meta property=\"dcterms:conformsTo\">EPUB Accessibility 1.1 - WCAG 2.1 Level AA</meta>\n";

/// Module and lab sections in EPUB: one chapter per content document.
const EPUB_LAYOUT: Layout = Layout {
    section_attributes: " epub:type=\"chapter\" role=\"doc-chapter\"",
    section_level: 1,
    entry_element: "section",
    quizzes: QuizStyle::AnswerKey,
};

/// Renders the book as an EPUB 3 package.
pub(crate) fn render(book: &Book) -> Result<Vec<u8>, RenderError> {
    let plan = Plan::new(book);
    let paths = image_paths(&book.images);
    let modified = normalise_modified(&book.modified)?;
    let identifier = identifier(book);
    let hrefs = anchor_hrefs(&plan);
    let href_of = |anchor: &str| hrefs.get(anchor).cloned().unwrap_or_else(|| TITLE_FILE.to_string());

    let mut figures = Figures::new(&book.images, Target::Epub(&paths));
    let title_page = xhtml(&plan.lang, &plan.title, &title_block(book, &plan, 1, 2));
    let mut documents = vec![document("title-page", TITLE_FILE, title_page)];
    documents.extend(chapter_documents(&plan, &mut figures));
    let images = image_items(book, &paths, figures.used())?;

    // The title page comes first in reading order, then the contents, then the chapters.
    let spine: Vec<String> = std::iter::once("title-page".to_string())
        .chain(std::iter::once("nav".to_string()))
        .chain(documents.iter().skip(1).map(|d| d.id.clone()))
        .collect();
    let mut items = vec![nav_document(&plan, &href_of), navigation_file(&plan, &identifier, &href_of), stylesheet()];
    items.extend(documents);
    items.extend(images);

    let opf = opf(book, &plan, &identifier, &modified, &items, &spine);
    write_zip(&opf, &items)
}

/// Where each anchor lives inside the package (`module-01.xhtml#m01-l02`).
fn anchor_hrefs(plan: &Plan<'_>) -> BTreeMap<String, String> {
    let mut hrefs = BTreeMap::new();
    for module in &plan.modules {
        hrefs.insert(module.anchor.clone(), module.file.clone());
        for lesson in &module.lessons {
            hrefs.insert(lesson.anchor.clone(), format!("{}#{}", module.file, lesson.anchor));
        }
    }
    hrefs.insert(LABS_ANCHOR.to_string(), LABS_FILE.to_string());
    for lab in &plan.labs {
        hrefs.insert(lab.anchor.clone(), format!("{LABS_FILE}#{}", lab.anchor));
    }
    hrefs
}

/// An XHTML content document of the package.
fn document(id: &str, href: &str, body: String) -> Item {
    Item {
        id: id.to_string(),
        href: href.to_string(),
        media_type: "application/xhtml+xml",
        properties: None,
        bytes: body.into_bytes(),
        compress: true,
    }
}

/// The EPUB 3 navigation document (the table of contents).
fn nav_document(plan: &Plan<'_>, href_of: &dyn Fn(&str) -> String) -> Item {
    let contents = plan.labels.contents;
    let mut body = format!(
        "<nav epub:type=\"toc\" role=\"doc-toc\" id=\"toc\">\n<h1>{}</h1>\n<ol>\n<li><a href=\"{TITLE_FILE}\">{}</a></li>\n",
        text(contents),
        text(&plan.title)
    );
    let entries = toc_list(plan, href_of);
    body.push_str(entries.strip_prefix("<ol>\n").unwrap_or(&entries));
    body.push_str("</nav>\n");
    let mut nav = document("nav", "nav.xhtml", xhtml(&plan.lang, contents, &body));
    nav.properties = Some("nav");
    nav
}

/// One document per module, then one for the lab guides when there are any.
fn chapter_documents(plan: &Plan<'_>, figures: &mut Figures<'_>) -> Vec<Item> {
    let mut documents = Vec::new();
    for module in &plan.modules {
        let mut body = String::new();
        push_module(&mut body, &EPUB_LAYOUT, module, plan.labels, figures);
        let id = module.file.trim_end_matches(".xhtml");
        documents.push(document(id, &module.file, xhtml(&plan.lang, &module.heading, &body)));
    }
    if !plan.labs.is_empty() {
        let mut body = String::new();
        push_labs(&mut body, &EPUB_LAYOUT, plan, figures);
        documents.push(document("labs", LABS_FILE, xhtml(&plan.lang, plan.labels.labs, &body)));
    }
    documents
}

/// The images the text uses, checked, in id order.
fn image_items(book: &Book, paths: &BTreeMap<String, String>, used: &[String]) -> Result<Vec<Item>, RenderError> {
    let mut used: Vec<&str> = used.iter().map(String::as_str).collect();
    used.sort_unstable();
    let mut images = Vec::new();
    for id in used {
        let (Some(image), Some(path)) = (book.images.get(id), paths.get(id)) else {
            continue;
        };
        let (media_type, compress) = check_image(id, image)?;
        let stem = path.trim_start_matches("images/").rsplit_once('.').map_or(path.as_str(), |(s, _)| s);
        images.push(Item {
            id: format!("img-{stem}"),
            href: path.clone(),
            media_type,
            properties: None,
            bytes: image.bytes.clone(),
            compress,
        });
    }
    Ok(images)
}

/// The EPUB 2 navigation file as a package item.
fn navigation_file(plan: &Plan<'_>, identifier: &str, href_of: &dyn Fn(&str) -> String) -> Item {
    Item {
        id: "ncx".into(),
        href: "toc.ncx".into(),
        media_type: "application/x-dtbncx+xml",
        properties: None,
        bytes: ncx(plan, identifier, href_of).into_bytes(),
        compress: true,
    }
}

/// The stylesheet every content document links to.
fn stylesheet() -> Item {
    Item {
        id: "css".into(),
        href: "style.css".into(),
        media_type: "text/css",
        properties: None,
        bytes: format!("{BASE_CSS}{EPUB_CSS}").into_bytes(),
        compress: true,
    }
}

/// The package document.
fn opf(book: &Book, plan: &Plan<'_>, identifier: &str, modified: &str, items: &[Item], spine: &[String]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" unique-identifier=\"book-id\" xml:lang=\"{}\">\n",
        attr(&plan.lang)
    ));
    out.push_str("<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n");
    out.push_str(&format!("<dc:identifier id=\"book-id\">{}</dc:identifier>\n", text(identifier)));
    out.push_str(&format!("<dc:title>{}</dc:title>\n", text(&plan.title)));
    out.push_str(&format!("<dc:language>{}</dc:language>\n", text(&plan.lang)));
    if let Some(description) = book.description.as_deref().map(one_line).filter(|d| !d.is_empty()) {
        out.push_str(&format!("<dc:description>{}</dc:description>\n", text(&description)));
    }
    out.push_str(&format!("<meta property=\"dcterms:modified\">{modified}</meta>\n"));
    out.push_str(ACCESSIBILITY_METADATA);
    out.push_str("</metadata>\n<manifest>\n");
    for item in items {
        out.push_str(&format!(
            "<item id=\"{}\" href=\"{}\" media-type=\"{}\"",
            attr(&item.id),
            attr(&item.href),
            item.media_type
        ));
        if let Some(properties) = item.properties {
            out.push_str(&format!(" properties=\"{properties}\""));
        }
        out.push_str(" />\n");
    }
    out.push_str("</manifest>\n<spine toc=\"ncx\">\n");
    for idref in spine {
        out.push_str(&format!("<itemref idref=\"{}\" />\n", attr(idref)));
    }
    out.push_str("</spine>\n</package>\n");
    out
}

/// The EPUB 2 navigation file, for older reading systems.
fn ncx(plan: &Plan<'_>, identifier: &str, href_of: &dyn Fn(&str) -> String) -> String {
    let mut order = 0u32;
    let mut point = |label: &str, src: &str, out: &mut String| {
        order += 1;
        out.push_str(&format!(
            "<navPoint id=\"np-{order}\" playOrder=\"{order}\"><navLabel><text>{}</text></navLabel><content src=\"{}\" />",
            text(label),
            attr(src)
        ));
    };
    let mut map = String::new();
    point(&plan.title, TITLE_FILE, &mut map);
    map.push_str("</navPoint>\n");
    for module in &plan.modules {
        point(&module.heading, &href_of(&module.anchor), &mut map);
        map.push('\n');
        for lesson in &module.lessons {
            point(&lesson.heading, &href_of(&lesson.anchor), &mut map);
            map.push_str("</navPoint>\n");
        }
        map.push_str("</navPoint>\n");
    }
    if !plan.labs.is_empty() {
        point(plan.labels.labs, LABS_FILE, &mut map);
        map.push('\n');
        for lab in &plan.labs {
            point(&lab.heading, &href_of(&lab.anchor), &mut map);
            map.push_str("</navPoint>\n");
        }
        map.push_str("</navPoint>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ncx xmlns=\"http://www.daisy.org/z3986/2005/ncx/\" version=\"2005-1\" xml:lang=\"{}\">\n\
         <head>\n<meta name=\"dtb:uid\" content=\"{}\" />\n<meta name=\"dtb:depth\" content=\"2\" />\n\
         <meta name=\"dtb:totalPageCount\" content=\"0\" />\n<meta name=\"dtb:maxPageNumber\" content=\"0\" />\n</head>\n\
         <docTitle><text>{}</text></docTitle>\n<navMap>\n{map}</navMap>\n</ncx>\n",
        attr(&plan.lang),
        attr(identifier),
        text(&plan.title)
    )
}

const CONTAINER_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n\
<rootfiles>\n<rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\" />\n</rootfiles>\n\
</container>\n";

/// Writes the zip container with fixed timestamps and permissions.
fn write_zip(opf: &str, items: &[Item]) -> Result<Vec<u8>, RenderError> {
    let base = SimpleFileOptions::default().last_modified_time(DateTime::default()).unix_permissions(0o644);
    let stored = base.compression_method(CompressionMethod::Stored);
    let deflated = base.compression_method(CompressionMethod::Deflated).compression_level(Some(6));

    // Sized for everything stored as it is (the pictures, most of a large book), so the buffer
    // is not copied as it grows.
    let capacity = items.iter().map(|i| i.bytes.len() + i.href.len() + 128).sum::<usize>() + opf.len() + 4096;
    let mut zip = ZipWriter::new(Cursor::new(Vec::with_capacity(capacity)));
    zip.start_file("mimetype", stored)?;
    zip.write_all(b"application/epub+zip")?;
    zip.start_file("META-INF/container.xml", deflated)?;
    zip.write_all(CONTAINER_XML.as_bytes())?;
    zip.start_file("OEBPS/content.opf", deflated)?;
    zip.write_all(opf.as_bytes())?;
    for item in items {
        zip.start_file(format!("OEBPS/{}", item.href), if item.compress { deflated } else { stored })?;
        zip.write_all(&item.bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (for [`crate::Book::modified`]).
///
/// Times after 9999-12-31T23:59:59Z, which RFC 3339 cannot write, give that last second.
pub fn rfc3339_from_unix(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_modified_times() {
        assert_eq!(normalise_modified("2024-03-01T10:20:30Z").unwrap(), "2024-03-01T10:20:30Z");
        assert_eq!(normalise_modified("2024-03-01T01:20:30.123+02:00").unwrap(), "2024-02-29T23:20:30Z");
        assert_eq!(normalise_modified("2023-12-31T23:30:00-01:00").unwrap(), "2024-01-01T00:30:00Z");
        assert_eq!(normalise_modified("2024-05-06").unwrap(), "2024-05-06T00:00:00Z");
        assert_eq!(normalise_modified("").unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(normalise_modified("2024-03-01 10:20:60z").unwrap(), "2024-03-01T10:20:59Z");
        assert_eq!(normalise_modified("2024-03-01t10:20:30.5-00:30").unwrap(), "2024-03-01T10:50:30Z");
        assert_eq!(normalise_modified("9999-12-31T23:59:59Z").unwrap(), "9999-12-31T23:59:59Z");
        for bad in [
            "yesterday",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-13-01",
            "+024-01-01",
            "2024-01-01T25:00:00Z",
            "2024-01-01X00:00:00Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00.Z",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
        ] {
            assert!(normalise_modified(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_unix_times() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(rfc3339_from_unix(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_from_unix(u64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn derived_identifier_is_fnv1a_of_the_title() {
        let book = Book { title: "Practical Pipelines".into(), ..Default::default() };
        // FNV-1a 64 of the title, as written by the former hand-rolled loop.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in book.title.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(identifier(&book), format!("urn:coursegen:book:{hash:016x}"));
        assert_eq!(identifier(&Book::default()), "urn:coursegen:book:cbf29ce484222325");
    }

    #[test]
    fn image_paths_are_unique() {
        let mut images = BTreeMap::new();
        for id in ["a/b", "a?b"] {
            images.insert(id.to_string(), BookImage { content_type: "image/png".into(), ..Default::default() });
        }
        let paths = image_paths(&images);
        assert_eq!(paths["a/b"], "images/a-b.png");
        assert_eq!(paths["a?b"], "images/a-b-2.png");
    }
}
