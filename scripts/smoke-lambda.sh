#!/usr/bin/env bash
# Smoke test of the coursegen Lambda functions behind a Lambda Invoke API endpoint.
#
#   scripts/smoke-lambda.sh [ENDPOINT] [--no-start] [--store DIR|s3://BUCKET]
#                           [--function-names binary|logical] [--keep]
#
# ENDPOINT defaults to http://127.0.0.1:9000. Unless --no-start (or SMOKE_NO_START=1) is given,
# the script starts `cargo lambda watch` there itself with COURSEGEN_STORE_DIR set to a fresh
# directory. With --no-start the server is already up (e.g. `sam local start-lambda` on
# http://127.0.0.1:3001 with --function-names logical) and --store names the store its
# functions use: a directory, or s3://BUCKET (uploads and reads go through boto3 with the usual
# AWS environment).
#
# Steps: upload examples/kubernetes-devops.yaml to kubernetes-for-devops/course/outline.yaml;
# invoke every function with events/<fn>.json in pipeline order and check each answer is not an
# error; run `coursegen run ... --content both --lambda-endpoint ENDPOINT` into the server's
# store and the same in-process into another directory; compare the two book/manifest.json.
# Prints each function's init time (process start to ready, from the server log, when this
# script started the server) and the size of target/lambda/*/bootstrap when present.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../tests/fidelity/lambda_watch.sh
source "$ROOT/tests/fidelity/lambda_watch.sh"

ENDPOINT="http://127.0.0.1:9000"
NO_START="${SMOKE_NO_START:-0}"
STORE_ARG="${SMOKE_STORE:-}"
NAMES="binary"
KEEP=0
while (( $# )); do
  case "$1" in
    --no-start) NO_START=1 ;;
    --store) STORE_ARG="$2"; shift ;;
    --function-names) NAMES="$2"; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    http://*|https://*) ENDPOINT="${1%/}" ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

PROJECT="kubernetes-for-devops"
OUTLINE="$ROOT/examples/kubernetes-devops.yaml"
WORK="$(mktemp -d -t coursegen-smoke.XXXXXX)"
WATCH_PID=""
FAILURES=0
declare -A FIRST_MS=() WARM_MS=()

cleanup() {
  local rc=$?
  stop_session "$WATCH_PID"
  if [[ $KEEP == 1 || $rc -ne 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILURES=$((FAILURES + 1)); }

function_name() {  # binary name -> name at the endpoint
  local fn="$1"
  if [[ "$NAMES" == logical ]]; then
    python - "$fn" <<'EOF'
import sys
print("".join(p.capitalize() for p in sys.argv[1].split("-")) + "Function")
EOF
  else
    echo "$fn"
  fi
}

if [[ "$NO_START" == 1 ]]; then
  [[ -n "$STORE_ARG" ]] || { echo "--no-start needs --store DIR|s3://BUCKET (the store the functions use)" >&2; exit 2; }
  STORE="$STORE_ARG"
else
  case "$ENDPOINT" in
    http://127.0.0.1:*) ;;
    *) echo "the script starts cargo lambda watch on 127.0.0.1 only; use --no-start for $ENDPOINT" >&2; exit 2 ;;
  esac
  STORE="${STORE_ARG:-$WORK/store}"
  [[ "$STORE" == s3://* ]] && { echo "cargo lambda watch here uses a directory store" >&2; exit 2; }
fi

ensure_venv
if [[ "${SMOKE_SKIP_BUILD:-0}" != 1 ]]; then
  build_workspace_bins
fi
COURSEGEN="$TARGET_DIR/debug/coursegen"

# --- store helpers (directory or s3://BUCKET) ---------------------------------------------
store_put() {  # KEY FILE
  if [[ "$STORE" == s3://* ]]; then
    python - "${STORE#s3://}" "$1" "$2" <<'EOF'
import sys, boto3
bucket, key, path = sys.argv[1:4]
boto3.client("s3").upload_file(path, bucket, key)
EOF
  else
    mkdir -p "$(dirname "$STORE/$1")" && cp "$2" "$STORE/$1"
  fi
}
store_get() {  # KEY FILE
  if [[ "$STORE" == s3://* ]]; then
    python - "${STORE#s3://}" "$1" "$2" <<'EOF'
import sys, boto3
bucket, key, path = sys.argv[1:4]
boto3.client("s3").download_file(bucket, key, path)
EOF
  else
    cp "$STORE/$1" "$2"
  fi
}

store_put "$PROJECT/course/outline.yaml" "$OUTLINE"
pass "outline uploaded to $STORE/$PROJECT/course/outline.yaml"

if [[ "$NO_START" != 1 ]]; then
  mkdir -p "$STORE"
  PORT="${ENDPOINT##*:}"
  start_lambda_watch "$STORE" "$PORT" "$WORK/cargo-lambda-watch.log"
fi
wait_for_http "$ENDPOINT/" 120 || { fail "endpoint $ENDPOINT does not answer"; exit 1; }

# --- each function with its event, in pipeline order ---------------------------------------
check_answer() {  # FN RESULT OUTFILE
  local fn="$1" res="$2" out="$3" code secs ferr
  read -r code secs ferr <<< "$res"
  if [[ "$code" == 200 && "$ferr" == "-" ]] && python - "$out" <<'EOF'
import json, sys
body = json.load(open(sys.argv[1]))
sys.exit(1 if isinstance(body, dict) and "errorType" in body else 0)
EOF
  then
    pass "$fn answered in ${secs}s: $(head -c 160 "$out")"
  else
    fail "$fn: HTTP $code function-error=$ferr: $(head -c 400 "$out")"
  fi
}

for fn in "${LAMBDA_FUNCTIONS[@]}"; do
  event="$ROOT/events/$fn.json"
  if [[ ! -f "$event" ]]; then fail "$fn: events/$fn.json is missing"; continue; fi
  name="$(function_name "$fn")"
  res="$(invoke "$ENDPOINT" "$name" "$event" "$WORK/$fn.out" 900)"
  FIRST_MS[$fn]="$(awk '{printf "%.0f", $2 * 1000}' <<< "$res")"
  check_answer "$fn" "$res" "$WORK/$fn.out"
done

# A second call of each function, warm, for the first-call overhead.
for fn in "${LAMBDA_FUNCTIONS[@]}"; do
  [[ -f "$ROOT/events/$fn.json" ]] || continue
  res="$(invoke "$ENDPOINT" "$(function_name "$fn")" "$ROOT/events/$fn.json" "$WORK/$fn.warm.out" 900)"
  WARM_MS[$fn]="$(awk '{printf "%.0f", $2 * 1000}' <<< "$res")"
done

# --- the whole definition through the endpoint, and in-process ----------------------------
# The in-process run starts from a copy of the store as the function calls above left it, so
# both runs see the same reusable outputs and usage records.
mkdir -p "$WORK/inprocess"
IGNORE_KEYS=""
if [[ "$STORE" == s3://* ]]; then
  mkdir -p "$WORK/inprocess/$PROJECT/course" && cp "$OUTLINE" "$WORK/inprocess/$PROJECT/course/outline.yaml"
  IGNORE_KEYS="usage,cost"  # the S3 store is not copied: model usage counts (and so costs) may differ
  log "S3 store: the manifests are compared without their usage counts and costs"
else
  cp -a "$STORE/." "$WORK/inprocess/"
fi
run_args=(run "$OUTLINE" --project "$PROJECT" --content both)
names_arg=()
[[ "$NAMES" == logical ]] && names_arg=(--function-names logical)
if [[ "$STORE" == s3://* ]]; then remote_store=(--store "$STORE"); else remote_store=(--out "$STORE"); fi
if "$COURSEGEN" "${run_args[@]}" "${remote_store[@]}" --lambda-endpoint "$ENDPOINT" "${names_arg[@]}" \
    > "$WORK/run-endpoint.out" 2> "$WORK/run-endpoint.err"; then
  pass "coursegen run --lambda-endpoint $ENDPOINT"
else
  fail "coursegen run --lambda-endpoint $ENDPOINT (exit $?): $(tail -c 600 "$WORK/run-endpoint.err")"
fi
if "$COURSEGEN" "${run_args[@]}" --out "$WORK/inprocess" > "$WORK/run-inprocess.out" 2> "$WORK/run-inprocess.err"; then
  pass "coursegen run in-process"
else
  fail "coursegen run in-process (exit $?): $(tail -c 600 "$WORK/run-inprocess.err")"
fi

manifest_key="$PROJECT/book/manifest.json"
if store_get "$manifest_key" "$WORK/manifest-endpoint.json" 2>/dev/null && [[ -f "$WORK/inprocess/$manifest_key" ]]; then
  if ROOT="$ROOT" python - "$WORK/manifest-endpoint.json" "$WORK/inprocess/$manifest_key" "$IGNORE_KEYS" <<'EOF'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "fidelity"))
from engines import first_difference
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for key in filter(None, sys.argv[3].split(",")):
    a.pop(key, None)
    b.pop(key, None)
if a != b:
    print("first difference:", first_difference(a, b))
    sys.exit(1)
EOF
  then
    pass "book/manifest.json is the same through the endpoint and in-process"
  else
    fail "book/manifest.json differs between the endpoint run and the in-process run"
  fi
else
  fail "book/manifest.json missing (endpoint store or $WORK/inprocess)"
fi

# --- init times and binary sizes ------------------------------------------------------------
echo
echo "function          first call ms  warm call ms  init ms (process start -> ready)"
for fn in "${LAMBDA_FUNCTIONS[@]}"; do
  init="n/a"
  if [[ -n "$WATCH_PID" && -f "$WORK/cargo-lambda-watch.log" ]]; then
    init="$(python - "$WORK/cargo-lambda-watch.log" "$fn" <<'EOF'
import re, sys
path, fn = sys.argv[1:3]
stage = "".join(p.capitalize() for p in fn.split("-"))
ansi = re.compile(r"\x1b\[[0-9;]*m")
start = ready = None
for raw in open(path, errors="replace"):
    ts, _, line = raw.partition(" ")
    line = ansi.sub("", line)
    if start is None and re.search(rf"Running `[^`]*/{re.escape(fn)}`", line):
        start = float(ts)
    elif start is not None and ready is None and " ready " in f" {line} " and f'stage="{stage}"' in line:
        ready = float(ts)
print(f"{(ready - start) * 1000:.0f}" if start is not None and ready is not None else "n/a")
EOF
)"
  fi
  printf '%-17s %13s %13s  %s\n' "$fn" "${FIRST_MS[$fn]:-n/a}" "${WARM_MS[$fn]:-n/a}" "$init"
done
echo "(first call under cargo lambda watch includes its cargo run: build check, process start, init)"

shopt -s nullglob
bootstraps=("$TARGET_DIR"/lambda/*/bootstrap)
if (( ${#bootstraps[@]} )); then
  echo
  echo "release binary sizes (target/lambda/*/bootstrap):"
  for b in "${bootstraps[@]}"; do
    printf '  %-20s %8.1f MiB\n' "$(basename "$(dirname "$b")")" "$(echo "$(stat -c %s "$b") / 1048576" | bc -l)"
  done
else
  echo "no target/lambda/*/bootstrap (run cargo lambda build --release to get release sizes)"
fi

echo
if (( FAILURES )); then
  echo "smoke-lambda: FAIL ($FAILURES failed checks)"
  exit 1
fi
echo "smoke-lambda: PASS"
