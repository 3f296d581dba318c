#!/usr/bin/env bash
# Quota run: a 20-module x 4-lesson course (theory) through `coursegen run --provider bedrock
# --concurrency 10` against bedrock-sim on 127.0.0.1, four times:
#
#   1. unthrottled    the sim has no quota; measures the demand (requests and tokens per minute).
#   2. sim-quota      the sim allows a third of that demand (--rpm R --tpm T) and its buckets are
#                     drained first (an account already at its quota), so the run is quota-bound
#                     from its first call; the client has no budget (BEDROCK_RPM/BEDROCK_TPM
#                     unset): the sim's throttles bite and the adaptive limiter and retries must
#                     cope. Throttles must be > 0.
#   3. client-budget  a fresh sim with the same quota (full buckets) and the client's budget
#                     (BEDROCK_RPM/BEDROCK_TPM and BEDROCK_IMAGE_RPM) just under it.
#   4. fresh-quota    the control of run 3: the same fresh quota without the client budget.
#
# Then the deployed shape: the same course through `coursegen run --lambda-endpoint`, every
# function invocation in one of QUOTA_INSTANCES processes per function, started up front and
# sharing no memory, like warm Lambda instances (scripts/lambda-pool.py hands each invocation
# to an idle one), against a sim with run 2's quota, drained first, and the budget of run 3
# (0.9 of the quota) in every process:
#
#   5. per-instance        every process keeps its own budget (QUOTA_TABLE unset): today's
#                          per-instance budgets, which together overrun the quota.
#   6. separate-processes  every process draws from one shared budget (QUOTA_TABLE: a DynamoDB
#                          table served locally by scripts/quota-table.py, drained like the sim;
#                          its lean engine by default, QUOTA_TABLE_ENGINE=moto for moto's).
#   7. two-executions      two executions of the course (two projects) started together against
#                          the functions of run 6's shape, sharing the budget; min_s counts both.
#
# Runs 5, 6 and 7 run one after the other, each with its own sim, functions and store.
# Targets of runs 6 and 7 (reported under "targets"): no failed task, throttled <= 10 % of
# admitted, wall <= 1.15 x min_s. Runs 6 and 7 must succeed; run 5 is measured, not required to.
#
# Run 2, which mostly waits on the quota, runs in the background while runs 3 and 4 run.
#
# Every run must exit 0 with no failed task in the history and no failure in the manifest.
# Prints a table and one JSON line; exits non-zero when a run fails or run 2 saw no throttle.
# The quota-bound minimum of a run is max(tokens / TPM, admitted requests / RPM), in seconds,
# with the figures of that run from /_sim/stats. Full buckets admit a minute's worth at once,
# so runs 3 and 4 can beat it; `floor_s` credits that minute.
#
#   scripts/quota-run.sh
#   QUOTA_RUNS=deployed scripts/quota-run.sh      # runs 1, 5, 6 and 7 only
#   QUOTA_RUNS=separate-processes scripts/quota-run.sh   # run 1 and the named deployed runs
#   QUOTA_KEEP=1 scripts/quota-run.sh             # keep the work directory (histories, logs)
#   QUOTA_PROFILE=debug scripts/quota-run.sh      # debug binaries, as built by `cargo test`
#                                                 # (CI's shorter run; default: release, as deployed)
#   QUOTA_FUNCTIONS_LOG=warn,coursegen_aws=debug  # the functions' RUST_LOG (each model call's waits)
#   QUOTA_TABLE_ENGINE=moto scripts/quota-run.sh  # the shared table on moto's DynamoDB (about 10 ms
#                                                 # of CPU a request, one at a time: on two cores
#                                                 # its queue, not the quota, sets the pace)
#   QUOTA_LATENCY_MS=300 QUOTA_MODULES=20 QUOTA_LESSONS=4 QUOTA_IMAGE_CONCURRENCY=2 scripts/quota-run.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULES="${QUOTA_MODULES:-20}"
LESSONS="${QUOTA_LESSONS:-4}"
LATENCY_MS="${QUOTA_LATENCY_MS:-100}"
CONCURRENCY="${QUOTA_CONCURRENCY:-10}"
# Image calls in flight per ImagesGen invocation (BEDROCK_IMAGE_MAX_CONCURRENCY), the same in
# every run. The quota is a third of what the unthrottled run asks for a minute, so the
# quota-bound minimum of the other runs is about three times the unthrottled run's wall (about
# 16 s on 2 cores); the work no quota governs at the end (the last module's pictures, the book)
# weighs against that.
IMAGE_CONCURRENCY="${QUOTA_IMAGE_CONCURRENCY:-4}"
SEED="${QUOTA_SEED:-7}"
# The client budget of run 3, as a fraction of the sim's quota.
CLIENT_SHARE="${QUOTA_CLIENT_SHARE:-0.9}"
# Function processes per function in runs 5-7 (Lambda instances).
INSTANCES="${QUOTA_INSTANCES:-20}"
# Which build every binary of the script comes from: release (what a deployment runs; the
# first run builds it) or debug (what `cargo test --workspace` built already).
PROFILE="${QUOTA_PROFILE:-release}"
# The shared table's engine (scripts/quota-table.py --engine): lean (answers the limiter's
# requests in a fraction of a millisecond, as the service answers in a few; its answers are
# held to moto's by the limiter's table tests) or moto.
TABLE_ENGINE="${QUOTA_TABLE_ENGINE:-lean}"
case "$TABLE_ENGINE" in lean | moto) ;; *) echo "QUOTA_TABLE_ENGINE must be lean or moto" >&2; exit 2 ;; esac
# all: runs 1-7; embedded: runs 1-4; deployed: runs 1 and 5-7; or run 1 and the deployed runs
# named in a comma-separated list (per-instance,separate-processes,two-executions).
RUNS="${QUOTA_RUNS:-all}"
DEPLOYED_RUNS="per-instance,separate-processes,two-executions"
case "$RUNS" in
  all | embedded | deployed) ;;
  *)
    for r in ${RUNS//,/ }; do
      [[ ",$DEPLOYED_RUNS," == *",$r,"* ]] ||
        { echo "QUOTA_RUNS must be all, embedded, deployed or a list of $DEPLOYED_RUNS" >&2; exit 2; }
    done
    DEPLOYED_RUNS="$RUNS"
    RUNS=deployed
    ;;
esac
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d -t coursegen-quota.XXXXXX)"
RUN2_PID=""

# shellcheck source=../tests/fidelity/lambda_watch.sh
source "$ROOT/tests/fidelity/lambda_watch.sh"
log() { echo "quota-run: $*" >&2; }
# shellcheck source=sim-process.sh
source "$ROOT/scripts/sim-process.sh"

cleanup() {
  local rc=$?
  stop_sim
  if [[ -n "$RUN2_PID" ]]; then
    kill -TERM -- "-$RUN2_PID" 2>/dev/null || true
    wait "$RUN2_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 || -n "${QUOTA_KEEP:-}" ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The binaries: the debug build is the other scripts' (see build_workspace_bins in
# tests/fidelity/lambda_watch.sh), so after `cargo test --workspace` it compiles nothing; the
# release build is what a deployment runs.
case "$PROFILE" in
  debug)
    log "cargo build --workspace --bins --locked"
    (cd "$ROOT" && cargo build -q --workspace --bins --locked)
    ;;
  release)
    # Only what the script runs: the CLI, the sim and the one bootstrap every function shares.
    log "cargo build --release --locked --bin coursegen --bin bedrock-sim --bin bootstrap"
    (cd "$ROOT" && cargo build -q --release --locked --bin coursegen --bin bedrock-sim --bin bootstrap)
    ;;
  *) echo "QUOTA_PROFILE must be debug or release" >&2; exit 2 ;;
esac
BIN_DIR="$TARGET_DIR/$PROFILE"
COURSEGEN="$BIN_DIR/coursegen"
SIM="$BIN_DIR/bedrock-sim"

# The outline: MODULES x LESSONS lessons with three topics each, no lab activities.
OUTLINE="$WORK/outline.yaml"
python3 "$ROOT/scripts/generate-outline.py" "$MODULES" "$LESSONS" "Kubernetes at Scale" \
  "A long course used to check that the fan-out respects the model quota." > "$OUTLINE"
"$COURSEGEN" validate "$OUTLINE" >&2

# start_sim_run NAME SIM_ARGS... : the sim of one run, with the script's seed and latency.
start_sim_run() {
  local name="$1"
  shift
  start_sim "$name" --seed "$SEED" --latency-ms "$LATENCY_MS" --ms-per-token 0 "$@" || return 1
  log "$name: bedrock-sim on $SIM_ADDR $*"
}

# The models of every run (named, so the shared budget's buckets can be drained by key).
TEXT_MODEL="us.anthropic.claude-sonnet-4-20250514-v1:0"
IMAGE_MODEL="amazon.nova-canvas-v1:0"

# The environment every model-calling process of a run gets: the sim as Bedrock, the models,
# output tokens counted once against tokens per minute (as the sim counts them; the client's
# default for this model is Bedrock's 5), fake credentials, no AWS configuration from this
# machine.
sim_env() {
  printf '%s\n' "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://$SIM_ADDR" AWS_REGION=us-east-1 \
    "TEXT_MODEL_ID=$TEXT_MODEL" "IMAGE_MODEL_ID=$IMAGE_MODEL" BEDROCK_OUTPUT_BURNDOWN=1 \
    AWS_ACCESS_KEY_ID=AKIDQUOTARUN AWS_SECRET_ACCESS_KEY=quota-run-secret \
    "AWS_CONFIG_FILE=$WORK/no-aws-config" "AWS_SHARED_CREDENTIALS_FILE=$WORK/no-aws-credentials" \
    AWS_EC2_METADATA_DISABLED=true
}

# coursegen_cli NAME PROJECT OUT [--lambda-endpoint URL] -- [VAR=VALUE...] : one `coursegen run`
# of the outline as project PROJECT into OUT; its summary, history and stderr go to
# WORK/{summary,history,run}-NAME.*. Returns its exit code.
coursegen_cli() {
  local name="$1" project="$2" out="$3" rc=0
  shift 3
  local -a options=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do options+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  local -a run_env
  mapfile -t run_env < <(sim_env)
  env -u BEDROCK_RPM -u BEDROCK_TPM -u BEDROCK_IMAGE_RPM -u BEDROCK_MAX_CONCURRENCY \
    -u BEDROCK_IMAGE_MAX_CONCURRENCY -u TEXT_MODEL_ID -u IMAGE_MODEL_ID -u MODEL_DEADLINE_SECONDS \
    -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u QUOTA_TABLE -u LESSON_CONCURRENCY \
    -u IMAGE_CONCURRENCY "${run_env[@]}" "$@" \
    "$COURSEGEN" run "$OUTLINE" --provider bedrock --content theory --out "$out" --project "$project" \
    "${options[@]}" --force --json --history "$WORK/history-$name.json" \
    > "$WORK/summary-$name.json" 2> "$WORK/run-$name.err" || rc=$?
  return "$rc"
}

# run_course NAME [VAR=VALUE...] : one embedded `coursegen run` against the sim; writes
# NAME.json with its figures (and fails when the run did).
run_course() {
  local name="$1" rc=0
  shift
  log "$name: coursegen run ($MODULES x $LESSONS lessons, --concurrency $CONCURRENCY)"
  coursegen_cli "$name" quota-course "$WORK/out-$name" --concurrency "$CONCURRENCY" -- \
    BEDROCK_IMAGE_MAX_CONCURRENCY="$IMAGE_CONCURRENCY" "$@" || rc=$?
  sim_stats > "$WORK/stats-$name.json"
  record_run "$name" "$WORK/out-$name" "$name:quota-course:$rc"
}

# record_run NAME OUT EXECUTION... : NAME.json from the sim's counters (minus NAME's drain
# baseline) and every EXECUTION (SUMMARY_NAME:PROJECT:EXIT_CODE, its course in OUT/PROJECT);
# fails when any execution failed.
record_run() {
  python3 - "$WORK" "$@" <<'EOF'
import json, sys
work, name, out, executions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
stats = json.load(open(f"{work}/stats-{name}.json"))
try:
    base = json.load(open(f"{work}/baseline-{name}.json"))
except OSError:
    base = {}
for k in ("requests", "ok", "throttled", "injected_failures", "converse", "invoke", "tokens_in", "tokens_out"):
    stats[k] -= base.get(k, 0)
problems, walls, failed_tasks, lessons, images = [], [], 0, 0, 0
for execution in executions:
    summary_name, project, rc = execution.rsplit(":", 2)
    rc = int(rc)
    label = "" if len(executions) == 1 else f"{project}: "
    try:
        summary = json.load(open(f"{work}/summary-{summary_name}.json"))
    except (OSError, ValueError):
        summary = {}
    try:
        history = json.load(open(f"{work}/history-{summary_name}.json"))
    except (OSError, ValueError):
        history = []
    types = [str(e.get("type", "")) for e in history]
    # A task failed for good when its state was entered and no attempt succeeded (Retry
    # attempts that failed before a success do not count).
    failed_tasks += max(0, types.count("TaskStateEntered") - types.count("TaskSucceeded"))
    failed_events = [t for t in types if t.endswith("Failed")]
    manifest = {}
    try:
        manifest = json.load(open(f"{out}/{project}/book/manifest.json"))
    except (OSError, ValueError):
        problems.append(f"{label}no manifest")
    if rc != 0:
        problems.append(f"{label}exit code {rc}")
    if summary.get("status") != "SUCCEEDED":
        problems.append(f"{label}status {summary.get('status')}")
    if (summary.get("result") or {}).get("failed", 1) != 0:
        problems.append(f"{label}the book reports missing items")
    if manifest.get("failures"):
        problems.append(f"{label}{len(manifest['failures'])} failure(s) in the manifest")
    if failed_events:
        problems.append(f"{label}{len(failed_events)} failed event(s) in the history: "
                        + ", ".join(sorted(set(failed_events))))
    walls.append(summary.get("wall_seconds", 0.0))
    lessons += (manifest.get("totals") or {}).get("lessons") or 0
    images += (manifest.get("totals") or {}).get("images") or 0
row = {
    "run": name,
    "ok": not problems,
    "problems": problems,
    "executions": len(executions),
    "failed_tasks": failed_tasks,
    "wall_s": round(max(walls), 2),
    "requests": stats["requests"],
    "admitted": stats["ok"] + stats["injected_failures"],
    "throttled": stats["throttled"],
    "converse": stats["converse"],
    "invoke": stats["invoke"],
    "tokens": stats["tokens_in"] + stats["tokens_out"],
    "lessons": lessons,
    "images": images,
    "in_flight_max": stats["in_flight_max"],
}
json.dump(row, open(f"{work}/{name}.json", "w"))
if problems:
    print(f"quota-run: {name} FAILED: {'; '.join(problems)}", file=sys.stderr)
    sys.exit(1)
EOF
}

# drain_sim NAME : uses up the sim's request and token buckets (Converse calls sized so that
# both run out together, until the first throttle), then records the counters to subtract.
drain_sim() {
  local name="$1"
  python3 - "$SIM_ADDR" "$RPM" "$TPM" <<'EOF'
import concurrent.futures as cf, json, sys, urllib.error, urllib.request
addr, rpm, tpm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per_request = max(1, tpm // rpm)                 # tokens per request that empty both buckets together
words = max(1, per_request * 4 // 7)             # the sim writes about 7 characters (4 per token) a word
body = json.dumps({
    "messages": [{"role": "user", "content": [{"text": f"Write about {words} words on quotas."}]}],
    "inferenceConfig": {"maxTokens": min(8192, max(16, per_request * 2))},
}).encode()
url = f"http://{addr}/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse"
def one(_):
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=60).read()
        return 200
    except urllib.error.HTTPError as e:
        return e.code
sent, throttled = 0, False
with cf.ThreadPoolExecutor(16) as pool:
    while not throttled and sent < 3 * rpm:
        codes = list(pool.map(one, range(16)))
        sent += len(codes)
        throttled = 429 in codes
        bad = [c for c in codes if c not in (200, 429)]
        if bad:
            sys.exit(f"quota-run: drain: unexpected HTTP {bad[0]}")
if not throttled:
    sys.exit("quota-run: drain: the sim never throttled")
print(f"quota-run: drained the sim's buckets with {sent} requests", file=sys.stderr)
EOF
  sim_stats > "$WORK/baseline-$name.json"
  # When the sim's buckets were found empty: the shared budget is drained as of the same moment.
  date +%s%3N > "$WORK/drained-$name.ms"
}

status=0

# 1. Unthrottled demand.
start_sim_run unthrottled
run_course unthrottled || status=1
stop_sim
[[ $status -eq 0 ]] || { tail -20 "$WORK/run-unthrottled.err" >&2; exit 1; }

# The sim's quota: a third of the demand per minute; the client budget of run 3 a bit under it,
# split between text and images in the proportions of run 1.
read -r RPM TPM TEXT_RPM IMAGE_RPM TEXT_TPM < <(python3 - "$WORK/unthrottled.json" "$CLIENT_SHARE" <<'EOF'
import json, math, sys
r = json.load(open(sys.argv[1]))
share = float(sys.argv[2])
minutes = r["wall_s"] / 60.0
rpm = max(1, math.floor(r["admitted"] / minutes / 3))
tpm = max(1, math.floor(r["tokens"] / minutes / 3))
text_share = r["converse"] / max(1, r["converse"] + r["invoke"])
text_rpm = max(1, math.floor(rpm * share * text_share))
image_rpm = max(1, math.floor(rpm * share - text_rpm))
print(rpm, tpm, text_rpm, image_rpm, max(1, math.floor(tpm * share)))
EOF
)
log "demand / 3: --rpm $RPM --tpm $TPM; client budget of run 3: BEDROCK_RPM=$TEXT_RPM BEDROCK_IMAGE_RPM=$IMAGE_RPM BEDROCK_TPM=$TEXT_TPM"

# 2. The sim's quota, already used up when the run starts, and no client budget: every request
#    beyond the refill is throttled, so the run is quota-bound from its first call. It waits on
#    the quota for about three times run 1's wall time and needs little CPU meanwhile, so it runs
#    in the background, against its own sim, while runs 3 and 4 run one after the other. Every
#    run has its own sim, counters and files; nothing is shared but the machine. The background
#    run gets its own process group (set -m) so that cleanup can stop all of it.
if [[ "$RUNS" != deployed ]]; then
set -m
(
  trap stop_sim EXIT
  rc=0
  start_sim_run sim-quota --rpm "$RPM" --tpm "$TPM"
  drain_sim sim-quota || rc=1
  run_course sim-quota || rc=1
  exit "$rc"
) &
RUN2_PID=$!
set +m

# 3. A fresh quota (full buckets) with the client budget just under it.
start_sim_run client-budget --rpm "$RPM" --tpm "$TPM"
run_course client-budget BEDROCK_RPM="$TEXT_RPM" BEDROCK_TPM="$TEXT_TPM" BEDROCK_IMAGE_RPM="$IMAGE_RPM" || status=1
stop_sim

# 4. The control of run 3: the same fresh quota without the client budget.
start_sim_run fresh-quota --rpm "$RPM" --tpm "$TPM"
run_course fresh-quota || status=1
stop_sim

wait "$RUN2_PID" || status=1
RUN2_PID=""
fi

# free_port : a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_functions NAME STORE [VAR=VALUE...] : INSTANCES processes of every function of the
# workspace, started up front, each an instance of its own that shares no memory with the
# others and each the one `bootstrap` of QUOTA_PROFILE, told its function by _HANDLER (as
# deployed); scripts/lambda-pool.py serves the Invoke API on a free loopback port and hands
# every invocation to an idle instance of its function, like Lambda to its warm instances. They run with the bedrock provider against the current sim, the store directory
# STORE and VAR=VALUE. Sets FUNCTIONS_PID (the pool's session) and FUNCTIONS_URL once every
# function answered.
start_functions() {
  local name="$1" store="$2" envfile="$WORK/functions-$1.env" addr_file="$WORK/functions-$1.addr"
  shift 2
  { sim_env; printf '%s\n' COURSEGEN_PROVIDER=bedrock "COURSEGEN_STORE_DIR=$store" "RUST_LOG=\"${QUOTA_FUNCTIONS_LOG:-warn}\"" "$@"; } > "$envfile"
  local functions
  functions="$(IFS=,; echo "${LAMBDA_FUNCTIONS[*]}")"
  env -u COURSE_BUCKET -u COURSEGEN_PROVIDER -u QUOTA_TABLE -u BEDROCK_RPM -u BEDROCK_TPM \
    -u BEDROCK_IMAGE_RPM -u BEDROCK_MAX_CONCURRENCY -u BEDROCK_IMAGE_MAX_CONCURRENCY \
    -u LESSON_CONCURRENCY -u IMAGE_CONCURRENCY \
    setsid python3 "$ROOT/scripts/lambda-pool.py" --bootstrap "$BIN_DIR/bootstrap" --functions "$functions" \
    --instances "$INSTANCES" --env-file "$envfile" --addr-file "$addr_file" > "$WORK/functions-$name.log" 2>&1 &
  FUNCTIONS_PID=$!
  for _ in $(seq 1 300); do
    [[ -s "$addr_file" ]] && break
    kill -0 "$FUNCTIONS_PID" 2>/dev/null || { tail -20 "$WORK/functions-$name.log" >&2; return 1; }
    sleep 0.2
  done
  [[ -s "$addr_file" ]] || { log "$name: the function pool did not start"; return 1; }
  FUNCTIONS_URL="http://$(cat "$addr_file")"
  mkdir -p "$WORK/warm-$name"
  warm_functions "$FUNCTIONS_URL" "$WORK/warm-$name" || return 1
  log "$name: functions at $FUNCTIONS_URL ($INSTANCES processes per function, store $store)"
}

# start_quota_table NAME : a local quota table NAME (scripts/quota-table.py: a DynamoDB of
# TABLE_ENGINE on a free loopback port, one request at a time); sets TABLE_PID and TABLE_URL.
start_quota_table() {
  local addr_file="$WORK/quota-table-$1.addr"
  setsid "$VENV/bin/python" "$ROOT/scripts/quota-table.py" --engine "$TABLE_ENGINE" --table "$1" --addr-file "$addr_file" \
    --stats-file "$WORK/quota-table-$1.stats.json" > "$WORK/quota-table-$1.log" 2>&1 &
  TABLE_PID=$!
  for _ in $(seq 1 150); do
    [[ -s "$addr_file" ]] && break
    kill -0 "$TABLE_PID" 2>/dev/null || { cat "$WORK/quota-table-$1.log" >&2; return 1; }
    sleep 0.2
  done
  [[ -s "$addr_file" ]] || { log "the quota table $1 did not start"; return 1; }
  TABLE_URL="http://$(cat "$addr_file")"
}

# drain_quota_table NAME : empties the shared budget's buckets of the run's models in table NAME
# (level 0 as of the moment the sim's were found empty, drain_sim), as the sim's are drained:
# the account is at its quota when the run starts, and the shared budget knows it. A bucket
# holds a minute's worth, so an empty one's theoretical arrival time is a minute after that.
drain_quota_table() {
  "$VENV/bin/python" - "$TABLE_URL" "$1" "$TEXT_MODEL" "$IMAGE_MODEL" "$(cat "$WORK/drained-$1.ms")" <<'EOF'
import sys, boto3
url, table, text, image, drained_ms = sys.argv[1:6]
client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
empty = str(int(drained_ms) + 60_000)
client.put_item(TableName=table, Item={"pk": {"S": text}, "tat_requests": {"N": empty},
                                       "tat_tokens": {"N": empty}})
client.put_item(TableName=table, Item={"pk": {"S": image}, "tat_images": {"N": empty}})
EOF
}

# deployed_run NAME EXECUTIONS per-instance|shared : the course through functions in separate
# processes against a sim with run 2's quota, drained right before the executions start, every
# process with run 3's budget (0.9 of the quota): its own (per-instance) or one shared through a
# local quota table, drained as well (shared). EXECUTIONS executions (projects
# quota-course-1..N) start together; writes NAME.json.
deployed_run() {
  local name="$1" executions="$2" budget="$3" i rc=0
  local store="$WORK/store-$name"
  local -a pids=() records=() shared=()
  mkdir -p "$store"
  start_sim_run "$name" --rpm "$RPM" --tpm "$TPM" || return 1
  if [[ "$budget" == shared ]]; then
    start_quota_table "$name" || return 1
    shared=(QUOTA_TABLE="$name" AWS_ENDPOINT_URL_DYNAMODB="$TABLE_URL")
  fi
  start_functions "$name" "$store" BEDROCK_RPM="$TEXT_RPM" BEDROCK_TPM="$TEXT_TPM" \
    BEDROCK_IMAGE_RPM="$IMAGE_RPM" "${shared[@]}" || { stop_session "$FUNCTIONS_PID"; return 1; }
  drain_sim "$name" || return 1
  if [[ "$budget" == shared ]]; then drain_quota_table "$name" || return 1; fi
  log "$name: $executions execution(s) of $MODULES x $LESSONS lessons through $FUNCTIONS_URL ($budget budget)"
  for i in $(seq 1 "$executions"); do
    coursegen_cli "$name-$i" "quota-course-$i" "$store" --lambda-endpoint "$FUNCTIONS_URL" -- &
    pids+=($!)
  done
  for i in $(seq 1 "$executions"); do
    local code=0
    wait "${pids[$((i - 1))]}" || code=$?
    records+=("$name-$i:quota-course-$i:$code")
  done
  sim_stats > "$WORK/stats-$name.json"
  sim_calls > "$WORK/calls-$name.json"
  stop_session "$FUNCTIONS_PID"
  [[ "$budget" == shared ]] && stop_session "$TABLE_PID"
  record_run "$name" "$store" "${records[@]}" || rc=1
  return "$rc"
}

if [[ "$RUNS" != embedded ]]; then
  ensure_venv
  # 5, 6 and 7 one after the other (each with its own sim, functions and table), so no run
  # shares the machine's cores with another's function processes.
  # Run 5 may fail (that is what it measures); its figures are in its row either way.
  if [[ ",$DEPLOYED_RUNS," == *",per-instance,"* ]]; then
    ( trap 'stop_sim; stop_session "${FUNCTIONS_PID:-}"' EXIT; deployed_run per-instance 1 per-instance ) ||
      log "per-instance: the run did not succeed (see its row)"
  fi
  if [[ ",$DEPLOYED_RUNS," == *",separate-processes,"* ]]; then
    ( trap 'stop_sim; stop_session "${FUNCTIONS_PID:-}"; stop_session "${TABLE_PID:-}"' EXIT
      deployed_run separate-processes 1 shared ) || status=1
  fi
  if [[ ",$DEPLOYED_RUNS," == *",two-executions,"* ]]; then
    ( trap 'stop_sim; stop_session "${FUNCTIONS_PID:-}"; stop_session "${TABLE_PID:-}"' EXIT
      deployed_run two-executions 2 shared ) || status=1
  fi
fi

python3 - "$WORK" "$RPM" "$TPM" "$MODULES" "$LESSONS" "$LATENCY_MS" "$CONCURRENCY" "$IMAGE_CONCURRENCY" \
  "$INSTANCES" "$RUNS" "$DEPLOYED_RUNS" "$PROFILE" "$TABLE_ENGINE" <<'EOF' || status=1
import json, sys
work, rpm, tpm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
modules, lessons, latency, concurrency, image_concurrency, instances = (int(x) for x in sys.argv[4:10])
which, deployed, profile, table_engine = sys.argv[10], sys.argv[11].split(","), sys.argv[12], sys.argv[13]
names = ["unthrottled"]
if which != "deployed":
    names += ["sim-quota", "client-budget", "fresh-quota"]
if which != "embedded":
    names += [n for n in ("per-instance", "separate-processes", "two-executions") if n in deployed]
# Runs that must succeed (run 5 measures today's per-instance budgets; it may fail).
required = [n for n in names if n != "per-instance"]
rows = []
for name in names:
    try:
        rows.append(json.load(open(f"{work}/{name}.json")))
    except (OSError, ValueError):
        rows.append({"run": name, "ok": False, "problems": ["no result"]})
full_buckets = ("client-budget", "fresh-quota")
for r in rows:
    if "tokens" not in r:
        continue
    # Quota-bound minimum: everything this run sent at the sim's rates (run 1 has no quota; its
    # figure says what the same work would take under it).
    r["min_s"] = round(max(r["tokens"] / tpm, r["admitted"] / rpm) * 60, 1)
    # The floor credits the minute's worth that full buckets admit at once (runs 3 and 4; the
    # other quota runs start drained, where it is min_s).
    r["floor_s"] = (round(max(max(0, r["tokens"] - tpm) / tpm, max(0, r["admitted"] - rpm) / rpm) * 60, 1)
                    if r["run"] in full_buckets else r["min_s"])
    r["ratio"] = round(r["wall_s"] / r["min_s"], 2) if r["run"] != "unthrottled" and r["min_s"] else None
    r["throttled_share"] = round(r["throttled"] / r["admitted"], 3) if r["admitted"] else None
targets = {}
for r in rows:
    if r["run"] in ("separate-processes", "two-executions") and "tokens" in r:
        targets[r["run"]] = {
            "no_failed_task": r.get("failed_tasks") == 0 and r.get("ok", False),
            "throttled_at_most_10_percent": (r["throttled_share"] or 0) <= 0.10,
            "wall_at_most_1_15_min": r["ratio"] is not None and r["ratio"] <= 1.15,
        }
cols = ["run", "ok", "failed_tasks", "wall_s", "requests", "admitted", "throttled", "tokens", "min_s",
        "floor_s", "ratio", "lessons", "images", "in_flight_max"]
print(f"course {modules} modules x {lessons} lessons, sim latency {latency} ms, embedded --concurrency "
      f"{concurrency}, image concurrency {image_concurrency}; {profile} build; functions: {instances} processes per function; "
      f"shared table: {table_engine}; "
      f"sim quota of the quota runs: --rpm {rpm} --tpm {tpm}")
print("  ".join(f"{c:>18}" for c in cols))
for r in rows:
    print("  ".join(f"{str(r.get(c) if r.get(c) is not None else '-'):>18}" for c in cols))
for name, t in targets.items():
    print(f"{name}: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in t.items()))
failed = [r["run"] for r in rows if r["run"] in required and not r.get("ok")]
sim_quota = next((r for r in rows if r["run"] == "sim-quota"), None)
no_throttle = sim_quota is not None and sim_quota.get("throttled", 0) == 0
print(json.dumps({
    "quota_run": "ok" if not failed and not no_throttle else "failed",
    "modules": modules, "lessons": lessons, "latency_ms": latency, "concurrency": concurrency,
    "image_concurrency": image_concurrency, "instances_per_function": instances, "profile": profile,
    "table_engine": table_engine,
    "sim_rpm": rpm, "sim_tpm": tpm,
    "targets": targets,
    "runs": {r["run"]: {k: v for k, v in r.items() if k != "run"} for r in rows},
}))
if failed:
    print(f"quota-run: failed runs: {', '.join(failed)}", file=sys.stderr)
if no_throttle:
    print("quota-run: the sim-quota run saw no throttle: the quota did not bite", file=sys.stderr)
sys.exit(1 if failed or no_throttle else 0)
EOF
exit "$status"
