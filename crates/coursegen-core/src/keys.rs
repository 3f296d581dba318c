//! The store key layout (ARCHITECTURE.md, "Stages"). Every key lives under `{project_folder}/`; nothing else
//! in the code builds keys by hand.

use crate::error::StageError;

/// Key of the outline copy the request refers to by default.
pub fn outline_key(project: &str) -> String {
    format!("{project}/course/outline.yaml")
}

/// Key of the normalised request written by PrepareCourse.
pub fn request_key(project: &str) -> String {
    format!("{project}/course/request.json")
}

/// Key of one lesson's Markdown.
pub fn lesson_key(project: &str, module: u32, lesson: u32, title: &str) -> String {
    format!("{project}/lessons/module-{module:02}/lesson-{lesson:02}-{}.md", slugify(title, 48))
}

/// Prefix of one module's lessons.
pub fn lessons_prefix(project: &str, module: u32) -> String {
    format!("{project}/lessons/module-{module:02}/")
}

/// Key of one visual's prompt.
pub fn prompt_key(project: &str, module: u32, lesson: u32, n: u32) -> String {
    format!("{project}/prompts/module-{module:02}/lesson-{lesson:02}/visual-{n:02}.json")
}

/// Prefix of one lesson's prompts (used only to clear stale prompts of that lesson).
pub fn prompts_prefix(project: &str, module: u32, lesson: u32) -> String {
    format!("{project}/prompts/module-{module:02}/lesson-{lesson:02}/")
}

/// Key of one lesson's quiz (JSON, [`crate::quiz::Quiz`]).
pub fn quiz_key(project: &str, module: u32, lesson: u32) -> String {
    format!("{project}/quizzes/module-{module:02}/lesson-{lesson:02}.json")
}

/// Key of the Moodle GIFT file of every quiz.
pub fn book_gift_key(project: &str) -> String {
    format!("{project}/book/course.gift")
}

/// Key of the SCORM 1.2 package.
pub fn book_scorm_key(project: &str) -> String {
    format!("{project}/book/course-scorm12.zip")
}

/// The course-wide unique visual id `MM-LL-NN`.
pub fn visual_id(module: u32, lesson: u32, n: u32) -> String {
    format!("{module:02}-{lesson:02}-{n:02}")
}

/// Parse a visual id back into (module, lesson, n).
pub fn parse_visual_id(id: &str) -> Option<(u32, u32, u32)> {
    let mut it = id.split('-');
    let m = it.next()?.parse().ok()?;
    let l = it.next()?.parse().ok()?;
    let n = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((m, l, n))
}

/// Key of one rendered image; the module folder comes from the id.
pub fn image_key(project: &str, visual_id: &str, extension: &str) -> String {
    let module = visual_id.split('-').next().unwrap_or("00");
    format!("{project}/images/module-{module}/{visual_id}.{extension}")
}

/// Key of the lab plan.
pub fn lab_plan_key(project: &str) -> String {
    format!("{project}/labs/plan.json")
}

/// Lab id `MM-LL-KK`: module, lesson and the activity's position in that lesson.
pub fn lab_id(module: u32, lesson: u32, k: u32) -> String {
    format!("{module:02}-{lesson:02}-{k:02}")
}

/// Key of one lab guide.
pub fn lab_key(project: &str, module: u32, lesson: u32, k: u32, title: &str) -> String {
    format!("{project}/labs/module-{module:02}/lab-{module:02}-{lesson:02}-{k:02}-{}.md", slugify(title, 48))
}

/// Keys of the assembled book.
pub fn book_html_key(project: &str) -> String {
    format!("{project}/book/index.html")
}
/// Markdown edition of the book.
pub fn book_md_key(project: &str) -> String {
    format!("{project}/book/course.md")
}
/// EPUB edition of the book.
pub fn book_epub_key(project: &str) -> String {
    format!("{project}/book/course.epub")
}
/// The manifest: what was made, what it cost, what failed.
pub fn book_manifest_key(project: &str) -> String {
    format!("{project}/book/manifest.json")
}

/// Sidecar metadata (fingerprint, model, usage) stored next to an output.
pub fn meta_key(key: &str) -> String {
    format!("{key}.meta.json")
}

/// Check a store key: relative, `/`-separated, no empty, `.` or `..` segments, no backslashes,
/// no control characters. Keeps every write inside the store root (directory or bucket).
pub fn validate_key(key: &str) -> Result<(), StageError> {
    let bad = |why: &str| Err(StageError::store(key, format!("unsafe key: {why}")));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return bad("absolute path");
    }
    if key.contains('\\') {
        return bad("contains a backslash");
    }
    if key.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    if key.len() >= 2 && key.as_bytes()[1] == b':' {
        return bad("looks like a drive path");
    }
    for seg in key.split('/') {
        match seg {
            "" => return bad("empty path segment"),
            "." | ".." => return bad("relative path segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `s` is a safe project folder: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn is_valid_project_folder(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A lowercase ASCII slug of at most `max` characters: accents folded (`á` → `a`, `ñ` → `n`),
/// anything else collapsed to single dashes. Never empty (falls back to `untitled`).
pub(crate) fn slugify(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in s.chars() {
        let folded = fold_char(c);
        for f in folded.chars() {
            if f.is_ascii_alphanumeric() {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(f.to_ascii_lowercase());
            } else {
                dash = true;
            }
        }
    }
    if out.len() > max {
        out.truncate(max);
        while out.ends_with('-') {
            out.pop();
        }
    }
    if out.is_empty() {
        out.push_str("untitled");
    }
    out
}

fn fold_char(c: char) -> String {
    let s = match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => "a",
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => "e",
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => "i",
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => "o",
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => "u",
        'ñ' | 'Ñ' => "n",
        'ç' | 'Ç' => "c",
        'ß' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        '&' => "and",
        _ => return c.to_string(),
    };
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_folds_accents_and_collapses_punctuation() {
        assert_eq!(slugify("Módulo 1 — Introducción & Configuración", 80), "modulo-1-introduccion-and-configuracion");
        assert_eq!(slugify("  ¿Qué es?  ", 80), "que-es");
        assert_eq!(slugify("!!!", 80), "untitled");
        assert_eq!(slugify("abc def ghi", 6), "abc-de");
        assert_eq!(slugify("abc def", 4), "abc");
    }

    #[test]
    fn visual_ids_carry_module_and_lesson_so_they_never_collide_across_modules() {
        assert_ne!(visual_id(1, 2, 3), visual_id(2, 2, 3));
        assert_eq!(visual_id(1, 2, 3), "01-02-03");
        assert_eq!(parse_visual_id("12-03-04"), Some((12, 3, 4)));
        assert_eq!(parse_visual_id("12-03"), None);
        assert_eq!(image_key("p", "03-01-02", "svg"), "p/images/module-03/03-01-02.svg");
    }

    #[test]
    fn keys_that_escape_the_root_are_rejected() {
        for k in ["", "/etc/passwd", "a/../b", "a\\b", "./a", "a//b", "C:/x", "a/\u{0}b", "a/."] {
            assert!(validate_key(k).is_err(), "{k:?} should be rejected");
        }
        assert!(validate_key("course/lessons/module-01/lesson-01-x.md").is_ok());
    }

    #[test]
    fn project_folder_rule() {
        assert!(is_valid_project_folder("k8s-devops"));
        assert!(is_valid_project_folder("a"));
        for bad in ["", "-a", "A", "a_b", "a/b", "..", &"a".repeat(64)] {
            assert!(!is_valid_project_folder(bad), "{bad:?}");
        }
    }
}
