//! Writes the sample book as Markdown, HTML and EPUB into a folder (default: the system temp dir).
//!
//! `cargo run -p coursegen-book --example sample_book -- /tmp/sample`

#[path = "../tests/it/support.rs"]
mod support;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os().nth(1).map_or_else(std::env::temp_dir, PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    let book = support::sample_book();
    std::fs::write(dir.join("sample-book.md"), coursegen_book::render_markdown(&book))?;
    std::fs::write(dir.join("sample-book.html"), coursegen_book::render_html(&book))?;
    std::fs::write(dir.join("sample-book.epub"), coursegen_book::render_epub(&book)?)?;
    let hostile = support::hostile_book();
    std::fs::write(dir.join("hostile-book.html"), coursegen_book::render_html(&hostile))?;
    std::fs::write(dir.join("hostile-book.epub"), coursegen_book::render_epub(&hostile)?)?;
    std::fs::write(dir.join("empty-book.epub"), coursegen_book::render_epub(&coursegen_book::Book::default())?)?;
    let mut spanish = support::sample_book();
    spanish.language = "es".into();
    std::fs::write(dir.join("spanish-book.epub"), coursegen_book::render_epub(&spanish)?)?;
    for (i, markdown) in support::NASTY_MARKDOWN.iter().enumerate() {
        let book = support::book_with_lesson(markdown);
        std::fs::write(dir.join(format!("odd-{i:02}.epub")), coursegen_book::render_epub(&book)?)?;
    }
    println!("wrote sample books to {}", dir.display());
    Ok(())
}
