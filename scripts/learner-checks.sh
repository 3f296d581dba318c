#!/usr/bin/env bash
# Learner-facing checks of one generated book: what a learner, an e-reader and an LMS get.
#
#   scripts/learner-checks.sh BOOK_DIR [--expect-lessons N] [--expect-modules N]
#
# BOOK_DIR is a book folder written by coursegen (for example out/<course-slug>/book). Checks:
#   1. EPUBCheck on course.epub: no fatal error, no error and no warning in its JSON report
#      (tests/learners/check-epub.mjs);
#   2. course.gift parses as Moodle GIFT, one category per lesson (tests/learners/check-gift.mjs);
#   3. course-scorm12.zip: a valid SCORM 1.2 manifest, and every SCO played in headless Chromium
#      against a scorm-again LMS API: initialise, answer the quiz, pass/fail, interactions,
#      session time and finish (tests/learners/check-scorm.mjs);
#   4. accessibility: axe-core (WCAG 2.1 A/AA) on index.html and DAISY Ace on course.epub, no
#      serious or critical violation (tests/learners/check-a11y.mjs).
# --expect-lessons N also requires N GIFT categories; --expect-modules N requires N SCOs.
# Every check runs even when an earlier one fails. The last line printed is one JSON object
# summarising all of them; the exit status is non-zero when any check fails.
#
# Needs node (20+) and npm. Installs what is missing: Debian's chromium and epubcheck with apt-get
# (only as root), and the Node packages of package.json with npm ci (no browser download:
# Debian's Chromium is used). No network beyond the package registries; the servers and browsers
# the checks start listen on 127.0.0.1 only and are stopped when they end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  echo "usage: scripts/learner-checks.sh BOOK_DIR [--expect-lessons N] [--expect-modules N]" >&2
  exit 2
}

BOOK=""
EXPECT_LESSONS=""
EXPECT_MODULES=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --expect-lessons) [[ $# -ge 2 ]] || usage; EXPECT_LESSONS=$2; shift 2 ;;
    --expect-lessons=*) EXPECT_LESSONS=${1#*=}; shift ;;
    --expect-modules) [[ $# -ge 2 ]] || usage; EXPECT_MODULES=$2; shift 2 ;;
    --expect-modules=*) EXPECT_MODULES=${1#*=}; shift ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) [[ -z "$BOOK" ]] || usage; BOOK=$1; shift ;;
  esac
done
[[ -n "$BOOK" ]] || usage
for n in "$EXPECT_LESSONS" "$EXPECT_MODULES"; do
  [[ -z "$n" || "$n" =~ ^[0-9]+$ ]] || { echo "expected counts must be whole numbers" >&2; exit 2; }
done
[[ -d "$BOOK" ]] || { echo "no such book folder: $BOOK" >&2; exit 2; }
BOOK=$(cd "$BOOK" && pwd)

log() { printf '==> %s\n' "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coursegen-learner-checks.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# ---- tools ---------------------------------------------------------------------------------
EPUBCHECK_JAR=${EPUBCHECK_JAR:-/usr/share/java/epubcheck.jar}
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}

missing_apt=()
[[ -x "$CHROMIUM" ]] || missing_apt+=(chromium)
if [[ ! -f "$EPUBCHECK_JAR" ]] || ! command -v java >/dev/null 2>&1; then missing_apt+=(epubcheck); fi
if [[ ${#missing_apt[@]} -gt 0 ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing_apt[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing_apt[@]}" >&2
  else
    echo "missing ${missing_apt[*]}: install them (Debian: apt-get install ${missing_apt[*]}) or set CHROMIUM_PATH / EPUBCHECK_JAR" >&2
    exit 2
  fi
fi
export CHROMIUM_PATH=$CHROMIUM

NODE_PACKAGES=(gift-pegjs scorm-again puppeteer-core axe-core @daisy/ace-cli yauzl @xmldom/xmldom)
need_npm=0
for pkg in "${NODE_PACKAGES[@]}"; do
  [[ -f "node_modules/$pkg/package.json" ]] || need_npm=1
done
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  need_npm=1
fi
if [[ $need_npm -eq 1 ]]; then
  log "installing Node packages (npm ci)"
  PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
    npm ci --no-audit --no-fund --loglevel=error >&2
fi

# ---- checks --------------------------------------------------------------------------------
# Each check writes its JSON line to $WORK/<name>.json and its exit status to $WORK/<name>.rc.
# It runs in the background so that an interrupt can stop it (each check closes its own browser
# and server when it gets SIGTERM).
CHILD=""
on_signal() {
  if [[ -n "$CHILD" ]]; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

run_check() {
  local name=$1
  shift
  log "$name"
  local rc=0
  timeout --kill-after=30 1800 "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  echo "$rc" >"$WORK/$name.rc"
  cat "$WORK/$name.err" >&2
  if [[ $rc -eq 0 ]]; then
    cat "$WORK/$name.json" >&2
  else
    log "$name failed (exit $rc)"
  fi
}

gift_args=("$BOOK/course.gift")
if [[ -n "$EXPECT_LESSONS" ]]; then gift_args+=(--expect-categories "$EXPECT_LESSONS"); fi
scorm_args=("$BOOK/course-scorm12.zip")
if [[ -n "$EXPECT_MODULES" ]]; then scorm_args+=(--expect-scos "$EXPECT_MODULES"); fi

export EPUBCHECK_JAR
run_check epubcheck node tests/learners/check-epub.mjs "$BOOK/course.epub"
run_check gift node tests/learners/check-gift.mjs "${gift_args[@]}"
run_check scorm12 node tests/learners/check-scorm.mjs "${scorm_args[@]}"
run_check a11y node tests/learners/check-a11y.mjs "$BOOK"

# ---- summary -------------------------------------------------------------------------------
node - "$WORK" "$BOOK" <<'EOF'
const fs = require('fs');
const path = require('path');
const [work, book] = process.argv.slice(2);
const summary = { learner_checks: 'ok', book };
for (const name of ['epubcheck', 'gift', 'scorm12', 'a11y']) {
  const rc = Number(fs.readFileSync(path.join(work, `${name}.rc`), 'utf8').trim());
  const lines = fs.readFileSync(path.join(work, `${name}.json`), 'utf8').trim().split('\n').filter(Boolean);
  let detail = null;
  try {
    detail = lines.length ? JSON.parse(lines[lines.length - 1]) : null;
  } catch {
    detail = null;
  }
  if (rc !== 0) {
    summary.learner_checks = 'fail';
    const err = fs.readFileSync(path.join(work, `${name}.err`), 'utf8').trim().split('\n');
    const reason = err.find((l) => / FAIL: /.test(l)) || err[err.length - 1] || `exit ${rc}`;
    summary[name] = { status: 'fail', exit: rc, reason: reason.slice(0, 300), ...(detail ? { detail } : {}) };
  } else {
    summary[name] = detail || { status: 'ok' };
  }
}
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(summary.learner_checks === 'ok' ? 0 : 1);
EOF
