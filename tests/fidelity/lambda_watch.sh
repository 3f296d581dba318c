# Shared helpers for scripts/fidelity.sh and scripts/smoke-lambda.sh (sourced, not run).
# Everything binds to 127.0.0.1. Callers set ROOT (the repository root) first.

VENV="${FIDELITY_VENV:-$ROOT/.venv-fidelity}"
REQUIREMENTS="$ROOT/tests/fidelity/requirements.txt"
LAMBDA_FUNCTIONS=(prepare-course content-gen visual-planner images-gen lab-planner lab-writer book-builder)

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# shellcheck source=../../scripts/python-venv.sh
source "$ROOT/scripts/python-venv.sh"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# build_workspace_bins: every binary of the workspace with one command, the same in every script
# (fidelity.sh, smoke-lambda.sh and local-aws.sh call this; quota-run.sh runs the same command).
# Cargo resolves dependency features over the packages a command selects, so `-p A -p B` with
# different sets rebuilds the dependencies once per set; `--workspace` (like
# `cargo test --workspace`, and like a `cargo run --bin NAME` without `-p`, which e2e.sh and
# `cargo lambda watch` use) resolves them once, and after the test step this compiles nothing.
build_workspace_bins() {
  log "cargo build --workspace --bins --locked"
  (cd "$ROOT" && cargo build --workspace --bins --locked)
}

# Creates the venv if missing and installs the pinned requirements when they changed.
ensure_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    log "installing $REQUIREMENTS"
    venv_install "$VENV" -r "$REQUIREMENTS"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# port_answers URL: true when an HTTP server answers at URL (any status).
port_answers() {
  local code
  code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true)"
  [[ -n "$code" && "$code" != "000" ]]
}

# wait_for_http URL SECONDS: polls (five times a second) until the server answers, bounded.
wait_for_http() {
  local url="$1" limit="$2" deadline=$((SECONDS + $2))
  until port_answers "$url"; do
    if (( SECONDS >= deadline )); then
      log "no answer from $url after ${limit}s"
      return 1
    fi
    sleep 0.2
  done
}

# start_lambda_watch STORE_DIR PORT LOGFILE: starts `cargo lambda watch` in its own session
# (so the whole tree can be stopped by its id) with COURSEGEN_STORE_DIR=STORE_DIR and the
# offline provider; every output line is prefixed with a epoch timestamp. Sets WATCH_PID.
start_lambda_watch() {
  local store="$1" port="$2" logfile="$3"
  _start_watch "$port" "$logfile" -u COURSE_BUCKET COURSEGEN_STORE_DIR="$store" || return 1
  log "cargo lambda watch on 127.0.0.1:$port (pid $WATCH_PID, store $store, log $logfile)"
}

# start_lambda_watch_s3 BUCKET S3_ENDPOINT PORT LOGFILE: the same, with the functions on the
# S3 bucket BUCKET at S3_ENDPOINT (a local moto_server; fake credentials). Sets WATCH_PID.
start_lambda_watch_s3() {
  local bucket="$1" s3="$2" port="$3" logfile="$4"
  _start_watch "$port" "$logfile" -u COURSEGEN_STORE_DIR -u AWS_PROFILE COURSE_BUCKET="$bucket" \
    AWS_ENDPOINT_URL_S3="$s3" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_EC2_METADATA_DISABLED=true || return 1
  log "cargo lambda watch on 127.0.0.1:$port (pid $WATCH_PID, bucket $bucket at $s3, log $logfile)"
}

# _start_watch PORT LOGFILE ENV_ARGS...: `cargo lambda watch` with `env ENV_ARGS` in its own
# session, offline provider, output lines prefixed with an epoch timestamp. Sets WATCH_PID.
_start_watch() {
  local port="$1" logfile="$2"
  shift 2
  if port_answers "http://127.0.0.1:$port/"; then
    log "port $port is already in use on 127.0.0.1; stop that server or pass --no-start"
    return 1
  fi
  (
    cd "$ROOT"
    exec env -u COURSEGEN_PROVIDER "$@" \
      setsid bash -c 'cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$1" --ignore-changes 2>&1 |
        while IFS= read -r line; do printf "%s %s\n" "$(date +%s.%N)" "$line"; done' _ "$port"
  ) > "$logfile" 2>&1 &
  WATCH_PID=$!
}

# stop_session PID: TERM then KILL the process group led by PID (started with setsid).
stop_session() {
  local pid="$1" i
  [[ -z "$pid" ]] && return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

# invoke ENDPOINT FUNCTION PAYLOAD_FILE OUTFILE [TIMEOUT]: POSTs to the Invoke API; prints
# "HTTP_CODE SECONDS FUNCTION_ERROR_HEADER".
invoke() {
  local endpoint="$1" fn="$2" payload="$3" out="$4" timeout="${5:-900}" headers
  headers="$(mktemp)"
  local result
  result="$(curl -s -m "$timeout" -o "$out" -D "$headers" -w '%{http_code} %{time_total}' \
    -X POST -H 'Content-Type: application/json' --data-binary "@$payload" \
    "$endpoint/2015-03-31/functions/$fn/invocations" || echo "000 $timeout")"
  local ferr
  ferr="$(grep -i '^x-amz-function-error:' "$headers" | tr -d '\r' | cut -d' ' -f2 || true)"
  rm -f "$headers"
  echo "$result ${ferr:--}"
}

# warm_functions ENDPOINT TMPDIR: invokes every function once with {} (each answers with an
# InvalidRequest error) so `cargo lambda watch` builds and starts them before timed work. The
# functions are separate processes, so they are warmed side by side; their `cargo run` checks
# share cargo's build lock, and once the binaries are built each holds it only briefly.
warm_functions() {
  local endpoint="$1" tmp="$2" fn res
  local -A pids=()
  echo '{}' > "$tmp/empty.json"
  for fn in "${LAMBDA_FUNCTIONS[@]}"; do
    invoke "$endpoint" "$fn" "$tmp/empty.json" "$tmp/warm-$fn.out" 900 > "$tmp/warm-$fn.result" &
    pids[$fn]=$!
  done
  for fn in "${LAMBDA_FUNCTIONS[@]}"; do
    wait "${pids[$fn]}" || true
    res="$(cat "$tmp/warm-$fn.result")"
    log "warm-up $fn: HTTP ${res%% *} in $(echo "$res" | cut -d' ' -f2)s"
    case "${res%% *}" in 200|500) ;; *) log "warm-up of $fn failed: $(head -c 400 "$tmp/warm-$fn.out")"; return 1 ;; esac
  done
}
