#!/usr/bin/env bash
# The README's quick-start command, then a look at what it produced. `cargo run --bin coursegen`
# (no `-p`) resolves dependency features over the whole workspace, as `cargo test --workspace`
# does, so it reuses the test step's build; `-p coursegen` would rebuild most dependencies with
# coursegen's own feature set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

book=out/kubernetes-for-devops-engineers/book
rm -rf out
cargo run --bin coursegen -- run examples/kubernetes-devops.yaml --content both --open
for f in index.html course.epub course.md manifest.json; do
  [[ -s "$book/$f" ]] || { echo "FAIL: $book/$f missing"; exit 1; }
done
python3 - "$book/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t = m["totals"]
assert t["modules"] == 4 and t["lessons"] == 12, t
assert t["labs"] == 9 and t["images"] > 0 and not m["failures"], (t, m["failures"])
print(f"PASS: book with {t['lessons']} lessons, {t['images']} images, {t['labs']} labs, {t['words']} words")
PY
rm -rf out
