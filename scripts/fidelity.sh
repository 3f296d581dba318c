#!/usr/bin/env bash
# Fidelity suite: runs every ASL fixture in tests/fidelity/fixtures (and
# statemachine/course.asl.json) through the coursegen interpreter and through moto's Step
# Functions engine, with Lambda tasks served by the real coursegen-lambda binaries under
# `cargo lambda watch`, and asserts equal outputs / equal error names.
#
#   scripts/fidelity.sh [PYTEST_ARGS...]
#
# Environment:
#   FIDELITY_PORT          cargo lambda watch port (default 9000)
#   FIDELITY_ADAPTER_PORT  Invoke API adapter port (default 9001; see tests/fidelity/KNOWN_DIFFERENCES.md)
#   FIDELITY_KEEP_STORE=1  keep the temporary store directory
#   FIDELITY_SKIP_BUILD=1  do not run cargo build (binaries already built)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../tests/fidelity/lambda_watch.sh
source "$ROOT/tests/fidelity/lambda_watch.sh"

PORT="${FIDELITY_PORT:-9000}"
ADAPTER_PORT="${FIDELITY_ADAPTER_PORT:-9001}"
WORK="$(mktemp -d -t coursegen-fidelity.XXXXXX)"
STORE="$WORK/store"
mkdir -p "$STORE"
WATCH_PID=""
ADAPTER_PID=""

cleanup() {
  local rc=$?
  stop_session "$ADAPTER_PID"
  stop_session "$WATCH_PID"
  if [[ "${FIDELITY_KEEP_STORE:-0}" == 1 || $rc -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

ensure_venv
log "moto $(python -c 'import moto; print(moto.__version__)'), $(cargo-lambda lambda --version 2>/dev/null | head -1)"

if [[ "${FIDELITY_SKIP_BUILD:-0}" != 1 ]]; then
  build_workspace_bins
fi

start_lambda_watch "$STORE" "$PORT" "$WORK/cargo-lambda-watch.log"
wait_for_http "http://127.0.0.1:$PORT/" 120

(cd "$ROOT/tests/fidelity" && exec setsid python invoke_adapter.py --listen-port "$ADAPTER_PORT" --refuse-module 3 \
  --upstream "http://127.0.0.1:$PORT") > "$WORK/adapter.log" 2>&1 &
ADAPTER_PID=$!
wait_for_http "http://127.0.0.1:$ADAPTER_PORT/" 30

log "warming up the functions (the first invocation builds and starts each one)"
warm_functions "http://127.0.0.1:$ADAPTER_PORT" "$WORK"

log "running the fidelity suite"
cd "$ROOT/tests/fidelity"
PYTHONDONTWRITEBYTECODE=1 \
FIDELITY_LAMBDA_ENDPOINT="http://127.0.0.1:$ADAPTER_PORT" \
FIDELITY_STORE_DIR="$STORE" \
COURSEGEN_BIN="$TARGET_DIR/debug/coursegen" \
  python -m pytest -p no:cacheprovider -rxXf "$@" test_invoke_adapter.py test_fidelity.py
