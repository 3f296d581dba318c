//! Deterministic SVG diagrams: boxes with the exact node labels, arrows with markers, numbered
//! steps. Same spec and title, same bytes.

use coursegen_book::escape;
use coursegen_core::contracts::{DiagramEdge, DiagramSpec};

const MARGIN: i64 = 28;
const FONT: i64 = 15;
const LINE_H: i64 = 19;
const PAD: i64 = 14;
const GAP_X: i64 = 72;
const GAP_Y: i64 = 56;
const BOX_W: i64 = 210;
const STEP_W: i64 = 420;
const LABEL_CHARS: usize = 24;
const STEP_CHARS: usize = 50;
const TITLE_CHARS: usize = 64;
const TITLE_LINE_H: i64 = 26;

const FILLS: [&str; 4] = ["#e0f2fe", "#dcfce7", "#fef3c7", "#ede9fe"];
const STROKES: [&str; 4] = ["#0369a1", "#15803d", "#b45309", "#6d28d9"];

/// Wrap `text` into lines of at most `width` characters, splitting words longer than a line.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let chars: Vec<char> = word.chars().collect();
        for chunk in chars.chunks(width) {
            let piece: String = chunk.iter().collect();
            let len = line.chars().count();
            if len == 0 {
                line = piece;
            } else if len + 1 + piece.chars().count() <= width {
                line.push(' ');
                line.push_str(&piece);
            } else {
                lines.push(std::mem::take(&mut line));
                line = piece;
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

impl Rect {
    fn center(&self) -> (f64, f64) {
        (self.x as f64 + self.w as f64 / 2.0, self.y as f64 + self.h as f64 / 2.0)
    }
    /// Where the ray from the centre in direction (dx, dy) leaves the rectangle (plus a gap).
    fn exit(&self, dx: f64, dy: f64, gap: f64) -> (f64, f64) {
        let (cx, cy) = self.center();
        let hw = self.w as f64 / 2.0 + gap;
        let hh = self.h as f64 / 2.0 + gap;
        let tx = if dx.abs() > f64::EPSILON { hw / dx.abs() } else { f64::INFINITY };
        let ty = if dy.abs() > f64::EPSILON { hh / dy.abs() } else { f64::INFINITY };
        let t = tx.min(ty);
        (cx + dx * t, cy + dy * t)
    }
}

/// How the nodes are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Left to right, snaking back on every other row.
    Flow,
    /// Numbered, top to bottom, one per row.
    Steps,
    /// A grid of related components.
    Boxes,
}

impl Layout {
    /// The layout a spec names; anything unknown is `boxes`.
    fn of(name: &str) -> Layout {
        match name {
            "flow" => Layout::Flow,
            "steps" => Layout::Steps,
            _ => Layout::Boxes,
        }
    }

    /// Characters per line of a node label.
    fn label_chars(self) -> usize {
        if self == Layout::Steps {
            STEP_CHARS
        } else {
            LABEL_CHARS
        }
    }

    /// Nodes per row for `n` nodes.
    fn columns(self, n: usize) -> i64 {
        match self {
            Layout::Flow => n.clamp(1, 4) as i64,
            Layout::Steps => 1,
            Layout::Boxes => n.clamp(1, 3) as i64,
        }
    }

    /// Whether a spec without edges gets arrows from each node to the next.
    fn chains_by_default(self) -> bool {
        matches!(self, Layout::Flow | Layout::Steps)
    }
}

/// Where every node goes, and the size of the drawing.
struct Geometry {
    rects: Vec<Rect>,
    title_lines: Vec<String>,
    width: i64,
    height: i64,
}

fn geometry(layout: Layout, n: usize, max_lines: i64, title: &str) -> Geometry {
    let box_h = max_lines * LINE_H + 2 * PAD;
    let title_lines = wrap(title, TITLE_CHARS);
    let top = MARGIN + title_lines.len() as i64 * TITLE_LINE_H + 16;
    let cols = layout.columns(n);
    let (box_w, left) = if layout == Layout::Steps { (STEP_W, MARGIN + 52) } else { (BOX_W, MARGIN) };
    let gap_y = if layout == Layout::Steps { GAP_Y - 16 } else { GAP_Y };
    let rects: Vec<Rect> = (0..n as i64)
        .map(|i| {
            let row = i / cols;
            let mut col = i % cols;
            if layout == Layout::Flow && row % 2 == 1 {
                col = cols - 1 - col;
            }
            Rect { x: left + col * (box_w + GAP_X), y: top + row * (box_h + gap_y), w: box_w, h: box_h }
        })
        .collect();
    let content_w = rects.iter().map(|r| r.x + r.w).max().unwrap_or(MARGIN) + MARGIN;
    let title_w = title_lines.iter().map(|l| l.chars().count() as i64).max().unwrap_or(0) * 11 + 2 * MARGIN;
    let width = content_w.max(title_w).max(360);
    let height = rects.iter().map(|r| r.y + r.h).max().unwrap_or(top) + MARGIN;
    Geometry { rects, title_lines, width, height }
}

/// The document head: root element, title, description (every label), arrow marker,
/// background and the title lines.
fn push_head(s: &mut String, geo: &Geometry, spec: &DiagramSpec, title: &str) {
    let (width, height) = (geo.width, geo.height);
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" role=\"img\" font-family=\"Helvetica, Arial, sans-serif\">\n"
    ));
    s.push_str(&format!("<title>{}</title>\n", escape::text(title)));
    let desc: Vec<String> = spec.nodes.iter().map(|l| escape::text(l)).collect();
    s.push_str(&format!("<desc>{}</desc>\n", desc.join(" | ")));
    s.push_str(
        "<defs><marker id=\"cg-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" \
         markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#334155\"/>\
         </marker></defs>\n",
    );
    s.push_str(&format!("<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n"));
    for (i, line) in geo.title_lines.iter().enumerate() {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"20\" font-weight=\"bold\" \
             fill=\"#0f172a\">{}</text>\n",
            width / 2,
            MARGIN + 18 + i as i64 * TITLE_LINE_H,
            escape::text(line)
        ));
    }
}

/// One arrow from `a` to `b`, edge to edge, with its label on a white patch at the middle.
fn push_edge(s: &mut String, a: Rect, b: Rect, label: Option<&str>) {
    let (ax, ay) = a.center();
    let (bx, by) = b.center();
    let (dx, dy) = (bx - ax, by - ay);
    let len = (dx * dx + dy * dy).sqrt().max(f64::EPSILON);
    let (ux, uy) = (dx / len, dy / len);
    let (x1, y1) = a.exit(ux, uy, 2.0);
    let (x2, y2) = b.exit(-ux, -uy, 4.0);
    s.push_str(&format!(
        "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#334155\" \
         stroke-width=\"2\" marker-end=\"url(#cg-arrow)\"/>\n"
    ));
    if let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) {
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let w = label.chars().count() as f64 * 7.0 + 10.0;
        s.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"18\" rx=\"4\" fill=\"#ffffff\" \
             fill-opacity=\"0.9\"/>\n<text x=\"{mx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" \
             fill=\"#334155\">{}</text>\n",
            mx - w / 2.0,
            my - 9.0,
            my + 4.0,
            escape::text(label)
        ));
    }
}

/// Node `i`: its box (numbered for steps) and its wrapped label, under a `<title>` with the
/// label verbatim.
fn push_node(s: &mut String, layout: Layout, i: usize, rect: &Rect, label: &str, lines: &[String]) {
    let (fill, stroke) = (FILLS[i % FILLS.len()], STROKES[i % STROKES.len()]);
    s.push_str(&format!("<g class=\"node\">\n<title>{}</title>\n", escape::text(label)));
    s.push_str(&format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"10\" fill=\"{fill}\" stroke=\"{stroke}\" \
         stroke-width=\"2\"/>\n",
        rect.x, rect.y, rect.w, rect.h
    ));
    if layout == Layout::Steps {
        let (cx, cy) = (MARGIN + 20, rect.y + rect.h / 2);
        s.push_str(&format!(
            "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"18\" fill=\"{stroke}\"/>\n<text x=\"{cx}\" y=\"{}\" \
             text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\" fill=\"#ffffff\">{}</text>\n",
            cy + 6,
            i + 1
        ));
    }
    let block_h = lines.len() as i64 * LINE_H;
    let first_y = rect.y + (rect.h - block_h) / 2 + LINE_H - 5;
    let (anchor, tx) = if layout == Layout::Steps { ("start", rect.x + PAD) } else { ("middle", rect.x + rect.w / 2) };
    s.push_str(&format!("<text font-size=\"{FONT}\" fill=\"#0f172a\" text-anchor=\"{anchor}\">"));
    for (k, line) in lines.iter().enumerate() {
        s.push_str(&format!("<tspan x=\"{tx}\" y=\"{}\">{}</tspan>", first_y + k as i64 * LINE_H, escape::text(line)));
    }
    s.push_str("</text>\n</g>\n");
}

/// Render a diagram as a standalone SVG document. Layouts: `flow` (left to right, snaking to
/// the next row), `steps` (numbered, top to bottom), anything else as `boxes` (a grid). Every
/// node label appears verbatim (escaped) in the node's `<title>` and, wrapped, as its text.
/// Edges whose ends are out of range or equal are skipped; `flow` and `steps` without edges get
/// arrows from each node to the next.
pub fn render_svg(spec: &DiagramSpec, title: &str) -> String {
    let layout = Layout::of(&spec.layout);
    let n = spec.nodes.len();
    let wrapped: Vec<Vec<String>> = spec.nodes.iter().map(|l| wrap(l, layout.label_chars())).collect();
    let max_lines = wrapped.iter().map(Vec::len).max().unwrap_or(1) as i64;
    let geo = geometry(layout, n, max_lines, title);
    let edges: Vec<DiagramEdge> = if spec.edges.is_empty() && layout.chains_by_default() {
        (1..n).map(|i| DiagramEdge { from: i - 1, to: i, label: None }).collect()
    } else {
        spec.edges.clone()
    };

    let mut s = String::new();
    push_head(&mut s, &geo, spec, title);
    for e in edges.iter().filter(|e| e.from < n && e.to < n && e.from != e.to) {
        push_edge(&mut s, geo.rects[e.from], geo.rects[e.to], e.label.as_deref());
    }
    for (i, (rect, lines)) in geo.rects.iter().zip(&wrapped).enumerate() {
        push_node(&mut s, layout, i, rect, &spec.nodes[i], lines);
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: &str, nodes: &[&str], edges: Vec<DiagramEdge>) -> DiagramSpec {
        DiagramSpec { layout: layout.into(), nodes: nodes.iter().map(|s| s.to_string()).collect(), edges }
    }

    #[test]
    fn labels_appear_exactly_and_escaped_with_arrows_and_a_sized_viewbox() {
        let s = spec("flow", &["Pod <app>", "Service & DNS", "Ingress"], vec![]);
        let svg = render_svg(&s, "Traffic \"in\" Kubernetes");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
        assert!(svg.contains("<title>Pod &lt;app&gt;</title>"));
        assert!(svg.contains("<title>Service &amp; DNS</title>"));
        assert!(svg.contains("<title>Traffic \"in\" Kubernetes</title>"), "quotes need no escaping in text");
        assert_eq!(svg.matches("marker-end=\"url(#cg-arrow)\"").count(), 2);
        assert!(!svg.contains("<app>"));
        assert_eq!(svg, render_svg(&s, "Traffic \"in\" Kubernetes"), "deterministic");
    }

    #[test]
    fn steps_are_numbered_and_long_labels_wrap() {
        let long = "a very long label that certainly does not fit on one line of a step box at all, not even close";
        let svg = render_svg(&spec("steps", &["First", long, "Third"], vec![]), "Steps");
        assert!(svg.contains(">1</text>") && svg.contains(">2</text>") && svg.contains(">3</text>"));
        assert!(svg.matches("<tspan").count() > 3);
        assert!(svg.contains(&format!("<title>{long}</title>")));
    }

    #[test]
    fn bad_edges_and_empty_specs_never_panic() {
        let edges = vec![
            DiagramEdge { from: 0, to: 9, label: None },
            DiagramEdge { from: 1, to: 1, label: None },
            DiagramEdge { from: 0, to: 1, label: Some("calls".into()) },
        ];
        let svg = render_svg(&spec("boxes", &["A", "B"], edges), "");
        assert_eq!(svg.matches("<line").count(), 1);
        assert!(svg.contains(">calls</text>"));
        let empty = render_svg(&spec("weird", &[], vec![]), "Nothing");
        assert!(empty.ends_with("</svg>\n"));
    }

    #[test]
    fn wrap_splits_long_words_and_keeps_all_text() {
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("", 5), [""]);
    }
}
