#!/usr/bin/env bash
# Fidelity suite: runs every ASL fixture in tests/fidelity/fixtures (and
# statemachine/course.asl.json) through the coursegen interpreter and through moto's Step
# Functions engine, with Lambda tasks served by the real coursegen-lambda binaries under
# `cargo lambda watch`, and asserts equal outputs / equal error names. Then `coursegen aws`
# end to end (tests/aws-cli): moto_server with its Step Functions engine, S3 and CloudFormation,
# the functions on the moto bucket under a second `cargo lambda watch`.
#
#   scripts/fidelity.sh [PYTEST_ARGS...]
#
# Environment:
#   FIDELITY_PORT          cargo lambda watch port (default 9000)
#   FIDELITY_ADAPTER_PORT  Invoke API adapter port (default 9001; see tests/fidelity/KNOWN_DIFFERENCES.md)
#   FIDELITY_KEEP_STORE=1  keep the temporary store directory
#   FIDELITY_SKIP_BUILD=1  do not run cargo build (binaries already built)
#   COURSEGEN_BIN          the coursegen binary to test (default $CARGO_TARGET_DIR/debug/coursegen)
#   FIDELITY_SKIP_AWS_CLI=1  skip the `coursegen aws` tests
#   AWS_CLI_PORT / AWS_CLI_ADAPTER_PORT / AWS_CLI_MOTO_PORT  their servers (default 9010, 9011, 5055)
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
AWS_CLI=$([[ "${FIDELITY_SKIP_AWS_CLI:-0}" == 1 ]] && echo 0 || echo 1)
AWS_CLI_PORT="${AWS_CLI_PORT:-9010}"
AWS_CLI_ADAPTER_PORT="${AWS_CLI_ADAPTER_PORT:-9011}"
AWS_CLI_MOTO_PORT="${AWS_CLI_MOTO_PORT:-5055}"
AWS_CLI_BUCKET="coursegen-aws-cli-course"
AWS_CLI_WATCH_PID=""
AWS_CLI_ADAPTER_PID=""
MOTO_PID=""

cleanup() {
  local rc=$?
  stop_session "$ADAPTER_PID"
  stop_session "$WATCH_PID"
  stop_session "$AWS_CLI_ADAPTER_PID"
  stop_session "$AWS_CLI_WATCH_PID"
  stop_session "$MOTO_PID"
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

if [[ $AWS_CLI == 1 ]]; then
  # moto_server (S3, Step Functions engine, CloudFormation) whose Lambda tasks go to a second
  # `cargo lambda watch` (through its own adapter) whose functions use the moto bucket.
  (cd "$ROOT/tests/aws-cli" && exec setsid python moto_launcher.py --port "$AWS_CLI_MOTO_PORT" \
    --lambda-endpoint "http://127.0.0.1:$AWS_CLI_ADAPTER_PORT") > "$WORK/moto-server.log" 2>&1 &
  MOTO_PID=$!
  wait_for_http "http://127.0.0.1:$AWS_CLI_MOTO_PORT/moto-api/" 60
  WATCH_PID_MAIN="$WATCH_PID"
  start_lambda_watch_s3 "$AWS_CLI_BUCKET" "http://127.0.0.1:$AWS_CLI_MOTO_PORT" "$AWS_CLI_PORT" \
    "$WORK/cargo-lambda-watch-aws-cli.log"
  AWS_CLI_WATCH_PID="$WATCH_PID"
  WATCH_PID="$WATCH_PID_MAIN"
  wait_for_http "http://127.0.0.1:$AWS_CLI_PORT/" 120
  (cd "$ROOT/tests/fidelity" && exec setsid python invoke_adapter.py --listen-port "$AWS_CLI_ADAPTER_PORT" \
    --upstream "http://127.0.0.1:$AWS_CLI_PORT") > "$WORK/adapter-aws-cli.log" 2>&1 &
  AWS_CLI_ADAPTER_PID=$!
  wait_for_http "http://127.0.0.1:$AWS_CLI_ADAPTER_PORT/" 30
fi

log "warming up the functions (the first invocation builds and starts each one)"
warm_functions "http://127.0.0.1:$ADAPTER_PORT" "$WORK"
if [[ $AWS_CLI == 1 ]]; then
  mkdir -p "$WORK/warm-aws-cli"
  warm_functions "http://127.0.0.1:$AWS_CLI_ADAPTER_PORT" "$WORK/warm-aws-cli"
fi

log "running the fidelity suite"
cd "$ROOT/tests/fidelity"
rc=0
PYTHONDONTWRITEBYTECODE=1 \
FIDELITY_LAMBDA_ENDPOINT="http://127.0.0.1:$ADAPTER_PORT" \
FIDELITY_STORE_DIR="$STORE" \
COURSEGEN_BIN="${COURSEGEN_BIN:-$TARGET_DIR/debug/coursegen}" \
  python -m pytest -p no:cacheprovider -rxXf "$@" test_invoke_adapter.py test_fidelity.py || rc=$?

if [[ $AWS_CLI == 1 ]]; then
  log "running the coursegen aws tests (tests/aws-cli) against moto_server"
  cd "$ROOT/tests/aws-cli"
  PYTHONDONTWRITEBYTECODE=1 \
  AWS_CLI_MOTO_ENDPOINT="http://127.0.0.1:$AWS_CLI_MOTO_PORT" \
  AWS_CLI_BUCKET="$AWS_CLI_BUCKET" \
  COURSEGEN_BIN="${COURSEGEN_BIN:-$TARGET_DIR/debug/coursegen}" \
    python -m pytest -p no:cacheprovider -rxXf test_aws_cli.py || rc=$?
fi
exit "$rc"
