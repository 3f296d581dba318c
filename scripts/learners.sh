#!/usr/bin/env bash
# Learners' formats, end to end: builds three books and runs scripts/learner-checks.sh on each
# (GIFT parsed by gift-pegjs, the SCORM 1.2 package played against an LMS runtime in headless
# Chromium, EPUBCheck, Ace and axe-core):
#
#   1. examples/kubernetes-devops.yaml, offline provider, theory and labs;
#   2. examples/analisis-datos-python.yaml (Spanish), offline provider, theory and labs;
#   3. an outline nobody wrote (scripts/random-outline.py, random language, shape and titles;
#      its seed is printed, LEARNERS_SEED repeats it), written by the Bedrock provider against
#      bedrock-sim on 127.0.0.1, so the quizzes come through the model path.
#
# Every book must have one quiz per lesson. Prints one JSON line at the end; exits non-zero when a
# book or a check fails. Every server and browser it starts, it stops.
#
#   scripts/learners.sh
#   LEARNERS_SEED=1234 scripts/learners.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/coursegen-learners.XXXXXX")"
SIM="$ROOT/target/debug/bedrock-sim"
SEED="${LEARNERS_SEED:-$((RANDOM * 32768 + RANDOM))}"

log() { printf 'learners: %s\n' "$*" >&2; }

# shellcheck source=scripts/sim-process.sh
source "$ROOT/scripts/sim-process.sh"
cleanup() {
  stop_sim
  rm -rf "$WORK"
}
trap cleanup EXIT

log "cargo build --bin coursegen --bin bedrock-sim"
cargo build --locked -q --bin coursegen --bin bedrock-sim
COURSEGEN="$ROOT/target/debug/coursegen"

results=()
status=0
# Extra environment of the next run (VAR=VALUE...).
RUN_ENV=()

# check_book NAME OUTLINE [RUN OPTIONS...] : one `coursegen run` into WORK/NAME, then the checks.
check_book() {
  local name="$1" outline="$2" out="$WORK/$1"
  shift 2
  log "$name: coursegen run $outline $*"
  if ! env "${RUN_ENV[@]}" "$COURSEGEN" run "$outline" --content both --out "$out" "$@" \
    > "$WORK/$name.json" 2> "$WORK/$name.err"; then
    tail -20 "$WORK/$name.err" >&2
    results+=("{\"book\": \"$name\", \"ok\": false, \"problem\": \"the run failed\"}")
    status=1
    return
  fi
  local manifest
  manifest="$(find "$out" -path '*/book/manifest.json' | head -1)"
  local counts
  counts="$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
t = m["totals"]
with_quiz = sum(1 for mod in m["modules"] for l in mod["lessons"] if l.get("quiz_key"))
print(t["lessons"], t["modules"], t.get("quiz_questions", 0), with_quiz)' "$manifest")"
  read -r lessons modules questions with_quiz <<< "$counts"
  local ok=true
  if [[ "$with_quiz" != "$lessons" ]]; then
    log "$name: $with_quiz of $lessons lessons have a quiz"
    ok=false
  fi
  local checks="$WORK/$name-checks.out"
  if ! scripts/learner-checks.sh "$(dirname "$manifest")" --expect-lessons "$lessons" --expect-modules "$modules" > "$checks" 2>&1; then
    tail -30 "$checks" >&2
    ok=false
  fi
  $ok || status=1
  results+=("{\"book\": \"$name\", \"ok\": $ok, \"lessons\": $lessons, \"modules\": $modules, \"quiz_questions\": $questions, \"checks\": $(tail -1 "$checks" | grep '^{' || echo null)}")
  log "$name: $lessons lessons, $questions quiz questions: $($ok && echo ok || echo FAILED)"
}

check_book kubernetes-devops examples/kubernetes-devops.yaml
check_book analisis-datos-python examples/analisis-datos-python.yaml

python3 scripts/random-outline.py "$SEED" > "$WORK/random-outline.yaml"
log "random outline from seed $SEED (LEARNERS_SEED=$SEED repeats it)"
start_sim learners
RUN_ENV=("AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://$SIM_ADDR" AWS_REGION=us-east-1
  AWS_ACCESS_KEY_ID=AKIDLEARNERS AWS_SECRET_ACCESS_KEY=learners-secret
  "AWS_CONFIG_FILE=$WORK/no-aws-config" "AWS_SHARED_CREDENTIALS_FILE=$WORK/no-aws-credentials"
  AWS_EC2_METADATA_DISABLED=true)
check_book "random-$SEED" "$WORK/random-outline.yaml" --provider bedrock
RUN_ENV=()
stop_sim

joined="$(IFS=,; echo "${results[*]}")"
printf '{"learners": "%s", "seed": %s, "books": [%s]}\n' "$([[ $status -eq 0 ]] && echo ok || echo failed)" "$SEED" "$joined"
exit "$status"
