//! Renders a coursegen course book as Markdown, HTML and EPUB.
