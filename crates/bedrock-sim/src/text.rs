//! Deterministic, plausible Markdown prose derived from a prompt.

use crate::rng::Rng;

const STOPWORDS: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "also",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "could",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "from",
    "further",
    "have",
    "having",
    "here",
    "into",
    "itself",
    "just",
    "more",
    "most",
    "must",
    "only",
    "other",
    "ought",
    "over",
    "please",
    "same",
    "should",
    "some",
    "such",
    "than",
    "that",
    "their",
    "theirs",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "under",
    "until",
    "very",
    "what",
    "when",
    "where",
    "which",
    "while",
    "with",
    "would",
    "your",
    "yours",
    "write",
    "generate",
    "create",
    "make",
    "give",
    "provide",
    "using",
    "include",
    "including",
    "words",
    "word",
    "following",
    "answer",
    "respond",
    "return",
    "json",
    "markdown",
    "format",
    "visual",
    "tags",
    "section",
    "sections",
];

const NOUNS: &[&str] = &[
    "approach",
    "concept",
    "framework",
    "pattern",
    "principle",
    "process",
    "system",
    "model",
    "workflow",
    "strategy",
    "technique",
    "practice",
    "component",
    "structure",
    "outcome",
    "example",
    "scenario",
    "trade-off",
    "constraint",
    "decision",
    "signal",
    "method",
];

const ADJECTIVES: &[&str] = &[
    "practical",
    "reliable",
    "clear",
    "robust",
    "simple",
    "effective",
    "consistent",
    "measurable",
    "incremental",
    "focused",
    "scalable",
    "careful",
    "concrete",
    "useful",
];

const VERBS: &[&str] = &[
    "improves",
    "clarifies",
    "supports",
    "shapes",
    "connects",
    "simplifies",
    "strengthens",
    "reveals",
    "guides",
    "organizes",
    "balances",
    "extends",
];

const SENTENCES: &[&str] = &[
    "A {adj} understanding of {a} {verb} how teams reason about {b}.",
    "In practice, {a} is easiest to learn through a {adj} {noun} that ties it to {b}.",
    "The key idea is that {a} and {b} reinforce each other when applied with a {adj} {noun}.",
    "Start with a small {noun}, observe how {a} behaves, and then extend it toward {b}.",
    "Experienced practitioners treat {a} as a {adj} {noun} rather than a fixed rule.",
    "When {a} is measured carefully, the effect on {b} becomes {adj} and predictable.",
    "A common mistake is to ignore {b}; a {adj} {noun} around {a} avoids that trap.",
    "Each {noun} in this area {verb} the link between {a} and {b}.",
    "Documenting the {noun} behind {a} makes later decisions about {b} far easier.",
    "Over time, a {adj} habit of reviewing {a} {verb} the overall {noun}.",
];

const BULLETS: &[&str] = &[
    "**{A}**: a {adj} {noun} that {verb} {b}.",
    "Review how {a} interacts with {b} before changing the {noun}.",
    "Keep the {noun} for {a} {adj} and easy to verify.",
    "Measure {a} early so that {b} stays {adj}.",
    "Use a short checklist: {a}, {b}, and the surrounding {noun}.",
    "Prefer a {adj} {noun} over ad-hoc fixes to {a}.",
];

const HEADINGS: &[&str] =
    &["Understanding {T}", "A Practical Guide to {T}", "{T}: Key Ideas", "Getting Started with {T}", "{T} in Practice"];

const SUBHEADINGS: &[&str] = &[
    "Why {A} Matters",
    "Core Concepts",
    "Working with {A}",
    "Common Pitfalls",
    "Putting {A} into Practice",
    "Key Takeaways",
];

const VISUALS: &[&str] = &[
    "diagram showing how {a} connects to {b}",
    "flowchart of the {noun} behind {a}",
    "annotated illustration of {a} in a real {noun}",
    "comparison table of {a} and {b}",
    "timeline of a typical {noun} involving {a}",
    "concept map linking {a}, {b} and the wider {noun}",
];

/// How many words [`salient_keywords`] keeps.
pub const SALIENT_WORDS: usize = 24;

/// The keywords a prompt is most about ([`SALIENT_WORDS`] of them): the candidates of
/// [`keywords`], most frequent first (ties in order of appearance). A structured answer (a
/// visual plan, a quiz) is written from these, so when the prompt carries source material (a
/// lesson), the answer speaks of that material rather than of the instructions around it.
pub fn salient_keywords(prompt: &str) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for word in candidates(prompt) {
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    // Stable: equal counts keep their order of appearance.
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let out: Vec<String> = counts.into_iter().take(SALIENT_WORDS).map(|(w, _)| w).collect();
    if out.is_empty() {
        return keywords(prompt);
    }
    out
}

/// The prompt's candidate keywords in order, repeats included: lowercase words of at least four
/// characters that are neither numbers nor stop words.
fn candidates(prompt: &str) -> impl Iterator<Item = String> + '_ {
    prompt.split(|c: char| !c.is_alphanumeric() && c != '-').filter_map(|raw| {
        let word = raw.trim_matches('-').to_lowercase();
        let keep = word.chars().count() >= 4
            && !word.chars().all(|c| c.is_ascii_digit())
            && !STOPWORDS.contains(&word.as_str());
        keep.then_some(word)
    })
}

/// Extracts up to eight distinctive lowercase keywords from a prompt.
pub fn keywords(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in candidates(prompt) {
        if out.contains(&word) {
            continue;
        }
        out.push(word);
        if out.len() == 8 {
            break;
        }
    }
    if out.is_empty() {
        out = vec!["topic".into(), "overview".into(), "practice".into()];
    }
    out
}

/// Upper-cases the first character of a word.
pub fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Reads a requested length such as "about 300 words" or "200-300 words".
pub fn word_target(prompt: &str) -> Option<u64> {
    let tokens: Vec<&str> = prompt.split_whitespace().collect();
    for (i, token) in tokens.iter().enumerate() {
        let lower = token.to_lowercase();
        if !lower.starts_with("word") || i == 0 {
            continue;
        }
        let prev = tokens[i - 1].trim_matches(|c: char| !c.is_ascii_digit() && c != '-');
        let parsed = match prev.split_once('-') {
            Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(a), Ok(b)) => Some((a + b) / 2),
                _ => None,
            },
            None => prev.parse::<u64>().ok(),
        };
        if let Some(n) = parsed.filter(|n| *n > 0) {
            return Some(n.min(20_000));
        }
    }
    None
}

struct Filler<'a> {
    rng: &'a mut Rng,
    words: &'a [String],
}

impl Filler<'_> {
    fn word(&mut self) -> String {
        self.rng.pick(self.words).cloned().unwrap_or_else(|| "topic".to_string())
    }

    fn fill(&mut self, template: &str) -> String {
        let a = self.word();
        let mut b = self.word();
        if b == a && self.words.len() > 1 {
            b = self.word();
        }
        let mut out = template.to_string();
        let title = self.title();
        out = out.replace("{T}", &title);
        out = out.replace("{A}", &capitalize(&a));
        out = out.replace("{a}", &a);
        out = out.replace("{b}", &b);
        let adj = self.rng.pick(ADJECTIVES).copied().unwrap_or("clear");
        let noun = self.rng.pick(NOUNS).copied().unwrap_or("approach");
        let verb = self.rng.pick(VERBS).copied().unwrap_or("supports");
        out = out.replace("{adj}", adj);
        out = out.replace("{noun}", noun);
        fix_articles(&out.replace("{verb}", verb))
    }

    fn title(&self) -> String {
        self.words.iter().take(3).map(|w| capitalize(w)).collect::<Vec<_>>().join(" ")
    }

    fn sentence(&mut self) -> String {
        let template = self.rng.pick(SENTENCES).copied().unwrap_or("{a}.");
        self.fill(template)
    }

    fn paragraph(&mut self) -> String {
        let n = 3 + self.rng.below(3);
        (0..n).map(|_| self.sentence()).collect::<Vec<_>>().join(" ")
    }

    fn bullets(&mut self) -> String {
        let n = 3 + self.rng.below(3);
        (0..n)
            .map(|_| {
                let template = self.rng.pick(BULLETS).copied().unwrap_or("{a}");
                format!("- {}", self.fill(template))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Turns "a" into "an" before words that start with a vowel.
fn fix_articles(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let next_vowel = words.get(i + 1).is_some_and(|next| {
            next.trim_start_matches(|c: char| !c.is_alphanumeric())
                .chars()
                .next()
                .is_some_and(|c| "aeiouAEIOU".contains(c))
        });
        match *word {
            "a" if next_vowel => out.push("an"),
            "A" if next_vowel => out.push("An"),
            other => out.push(other),
        }
    }
    out.join(" ")
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Generates a Markdown answer for `prompt`.
///
/// The answer has a heading, paragraphs, a bullet list and sub-sections; when
/// the prompt mentions `[VISUAL:` tags, three to five `[VISUAL: ...]` lines are
/// woven in. Its length follows a "N words" request in the prompt when there
/// is one.
pub fn markdown(prompt: &str, rng: &mut Rng) -> String {
    let headings = requested_headings(prompt);
    if !headings.is_empty() {
        return sectioned(prompt, &headings, rng);
    }
    let words = keywords(prompt);
    let target = word_target(prompt).unwrap_or_else(|| 120 + rng.below(240));
    let wants_visuals = prompt.contains("[VISUAL:");
    let visual_count = if wants_visuals { 3 + rng.below(3) } else { 0 };
    let mut f = Filler { rng, words: &words };
    let heading_template = f.rng.pick(HEADINGS).copied().unwrap_or("{T}");
    let mut blocks: Vec<String> = vec![format!("# {}", f.fill(heading_template))];
    blocks.push(f.paragraph());
    let mut visuals_left = visual_count;
    let mut section = 0u64;
    loop {
        let written: u64 = blocks.iter().map(|b| word_count(b)).sum();
        if written >= target && visuals_left == 0 {
            break;
        }
        if visuals_left > 0 {
            let template = f.rng.pick(VISUALS).copied().unwrap_or("diagram of {a}");
            blocks.push(format!("[VISUAL: {}]", f.fill(template)));
            visuals_left -= 1;
        }
        if written >= target {
            continue;
        }
        let sub = f.rng.pick(SUBHEADINGS).copied().unwrap_or("Notes");
        blocks.push(format!("## {}", f.fill(sub)));
        blocks.push(f.paragraph());
        if section.is_multiple_of(2) {
            blocks.push(f.bullets());
        }
        section += 1;
    }
    blocks.join("\n\n")
}

/// The level-2 headings a prompt asks for, in order: the quoted `"## Name"` items on the line
/// that says "level-2 headings" (as lab guide prompts do).
fn requested_headings(prompt: &str) -> Vec<String> {
    let Some(at) = prompt.find("level-2 headings") else { return Vec::new() };
    let line = prompt[at..].lines().next().unwrap_or("");
    line.split('"').filter_map(|part| part.strip_prefix("## ")).map(|h| h.trim().to_string()).collect()
}

/// The section whose steps must be numbered and the prefix of each step's check line, from
/// `Under "## Steps" number every step ... a line that starts with "Verify:"`.
fn numbered_section(prompt: &str) -> Option<(String, String)> {
    let line = prompt.lines().find(|l| l.contains("number every step"))?;
    let heading = line.split('"').find_map(|part| part.strip_prefix("## "))?.trim().to_string();
    let marker = "starts with \"";
    let at = line.find(marker)? + marker.len();
    let prefix = line[at..].split('"').next()?.to_string();
    Some((heading, prefix))
}

/// An answer with exactly the requested level-2 sections, in order; the numbered section gets
/// numbered steps, each followed by its check line.
fn sectioned(prompt: &str, headings: &[String], rng: &mut Rng) -> String {
    let words = keywords(prompt);
    let numbered = numbered_section(prompt);
    let mut f = Filler { rng, words: &words };
    let title = prompt
        .split("Start with `# ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string)
        .unwrap_or_else(|| f.title());
    let mut blocks = vec![format!("# {title}"), f.paragraph()];
    for heading in headings {
        blocks.push(format!("## {heading}"));
        match &numbered {
            Some((steps, prefix)) if steps == heading => {
                let n = 3 + f.rng.below(3);
                for i in 1..=n {
                    blocks.push(format!("{i}. {}\n   {prefix} {}", f.sentence(), f.sentence()));
                }
            }
            _ => {
                blocks.push(f.paragraph());
                if f.rng.below(2) == 0 {
                    blocks.push(f.bullets());
                }
            }
        }
    }
    blocks.join("\n\n")
}

/// Cuts `text` to at most `max_chars` characters; returns whether it was cut.
pub fn truncate_chars(text: &mut String, max_chars: u64) -> bool {
    let max = usize::try_from(max_chars).unwrap_or(usize::MAX);
    match text.char_indices().nth(max) {
        Some((byte_index, _)) => {
            text.truncate(byte_index);
            true
        }
        None => false,
    }
}

/// A phrase of `n` words mixing prompt keywords and general vocabulary.
pub fn phrase(words: &[String], rng: &mut Rng, n: usize) -> String {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let w = if i % 2 == 0 && !words.is_empty() {
            rng.pick(words).cloned().unwrap_or_default()
        } else if i % 3 == 1 {
            rng.pick(ADJECTIVES).map(|s| s.to_string()).unwrap_or_default()
        } else {
            rng.pick(NOUNS).map(|s| s.to_string()).unwrap_or_default()
        };
        out.push(w);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_targets() {
        assert_eq!(word_target("Write about 300 words on Rust"), Some(300));
        assert_eq!(word_target("in 200-400 words."), Some(300));
        assert_eq!(word_target("no length here"), None);
    }

    #[test]
    fn visuals_and_length() {
        let prompt = "Explain ownership in Rust in about 400 words. Use [VISUAL: ...] tags.";
        let text = markdown(prompt, &mut Rng::new(3));
        let visuals = text.lines().filter(|l| l.starts_with("[VISUAL: ")).count();
        assert!((3..=5).contains(&visuals), "{visuals}");
        assert!(text.starts_with("# "));
        assert!(word_count(&text) >= 400);
    }

    #[test]
    fn requested_sections_and_numbered_steps() {
        let prompt = "Write the lab guide.\nStart with `# Lab one`, then use exactly these level-2 headings, in this \
                      order: \"## Objectives\", \"## Steps\", \"## Cleanup\".\nUnder \"## Steps\" number every step \
                      (1., 2., ...) and end each step with a line that starts with \"Verify:\" saying how.";
        let text = markdown(prompt, &mut Rng::new(5));
        assert!(text.starts_with("# Lab one\n"), "{text}");
        let h2: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
        assert_eq!(h2, ["## Objectives", "## Steps", "## Cleanup"]);
        let steps = text.split("## Steps").nth(1).unwrap().split("## Cleanup").next().unwrap();
        let numbered = steps.lines().filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit())).count();
        let checks = steps.lines().filter(|l| l.trim_start().starts_with("Verify:")).count();
        assert!(numbered >= 3 && checks == numbered, "{steps}");
    }

    #[test]
    fn articles() {
        assert_eq!(fix_articles("a incremental step and a clear one"), "an incremental step and a clear one");
    }

    #[test]
    fn truncation_is_char_safe() {
        let mut s = "héllo wörld".to_string();
        assert!(truncate_chars(&mut s, 3));
        assert_eq!(s, "hél");
        assert!(!truncate_chars(&mut s, 10));
    }
}
