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
# Run 2, which mostly waits on the quota, runs in the background while runs 3 and 4 run.
#
# Every run must exit 0 with no failed task in the history and no failure in the manifest.
# Prints a table and one JSON line; exits non-zero when a run fails or run 2 saw no throttle.
# The quota-bound minimum of a run is max(tokens / TPM, admitted requests / RPM), in seconds,
# with the figures of that run from /_sim/stats. Full buckets admit a minute's worth at once,
# so runs 3 and 4 can beat it; `floor_s` credits that minute.
#
#   scripts/quota-run.sh
#   QUOTA_LATENCY_MS=300 QUOTA_MODULES=20 QUOTA_LESSONS=4 QUOTA_IMAGE_CONCURRENCY=2 scripts/quota-run.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULES="${QUOTA_MODULES:-20}"
LESSONS="${QUOTA_LESSONS:-4}"
LATENCY_MS="${QUOTA_LATENCY_MS:-100}"
CONCURRENCY="${QUOTA_CONCURRENCY:-10}"
# Image calls in flight (BEDROCK_IMAGE_MAX_CONCURRENCY, default 2), the same in every run: the
# debug-built sim spends ~0.1 s of CPU per image, so 4 keeps both cores busy and the
# unthrottled run near 25 s, which puts the quota-bound minimum of the quota runs near 75 s.
IMAGE_CONCURRENCY="${QUOTA_IMAGE_CONCURRENCY:-4}"
SEED="${QUOTA_SEED:-7}"
# The client budget of run 3, as a fraction of the sim's quota.
CLIENT_SHARE="${QUOTA_CLIENT_SHARE:-0.9}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d -t coursegen-quota.XXXXXX)"
RUN2_PID=""

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
  if [[ $rc -ne 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The same build command as the other scripts (see build_workspace_bins in
# tests/fidelity/lambda_watch.sh): after `cargo test --workspace` it compiles nothing.
log "cargo build --workspace --bins --locked"
(cd "$ROOT" && cargo build -q --workspace --bins --locked)
COURSEGEN="$TARGET_DIR/debug/coursegen"
SIM="$TARGET_DIR/debug/bedrock-sim"

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

# run_course NAME [VAR=VALUE...] : one `coursegen run` against the sim; writes NAME.json with
# its figures (and fails when the run did).
run_course() {
  local name="$1" rc=0
  shift
  log "$name: coursegen run ($MODULES x $LESSONS lessons, --concurrency $CONCURRENCY)"
  env -u BEDROCK_RPM -u BEDROCK_TPM -u BEDROCK_IMAGE_RPM -u BEDROCK_MAX_CONCURRENCY \
    -u BEDROCK_IMAGE_MAX_CONCURRENCY -u TEXT_MODEL_ID -u IMAGE_MODEL_ID -u MODEL_DEADLINE_SECONDS \
    -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL \
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://$SIM_ADDR" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=AKIDQUOTARUN AWS_SECRET_ACCESS_KEY=quota-run-secret \
    AWS_CONFIG_FILE="$WORK/no-aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/no-aws-credentials" \
    AWS_EC2_METADATA_DISABLED=true BEDROCK_IMAGE_MAX_CONCURRENCY="$IMAGE_CONCURRENCY" "$@" \
    "$COURSEGEN" run "$OUTLINE" --provider bedrock --content theory --out "$WORK/out-$name" --project quota-course \
    --concurrency "$CONCURRENCY" --force --json --history "$WORK/history-$name.json" \
    > "$WORK/summary-$name.json" 2> "$WORK/run-$name.err" || rc=$?
  sim_stats > "$WORK/stats-$name.json"
  python3 - "$name" "$rc" "$WORK" <<'EOF'
import json, sys
name, rc, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stats = json.load(open(f"{work}/stats-{name}.json"))
try:
    base = json.load(open(f"{work}/baseline-{name}.json"))
except OSError:
    base = {}
for k in ("requests", "ok", "throttled", "injected_failures", "converse", "invoke", "tokens_in", "tokens_out"):
    stats[k] -= base.get(k, 0)
problems = []
try:
    summary = json.load(open(f"{work}/summary-{name}.json"))
except ValueError:
    summary = {}
try:
    history = json.load(open(f"{work}/history-{name}.json"))
except (OSError, ValueError):
    history = []
failed_events = [e for e in history if str(e.get("type", "")).endswith("Failed")]
manifest = {}
project = "quota-course"
try:
    manifest = json.load(open(f"{work}/out-{name}/{project}/book/manifest.json"))
except (OSError, ValueError):
    problems.append("no manifest")
if rc != 0:
    problems.append(f"exit code {rc}")
if summary.get("status") != "SUCCEEDED":
    problems.append(f"status {summary.get('status')}")
if (summary.get("result") or {}).get("failed", 1) != 0:
    problems.append("the book reports missing items")
if manifest.get("failures"):
    problems.append(f"{len(manifest['failures'])} failure(s) in the manifest")
if failed_events:
    problems.append(f"{len(failed_events)} failed event(s) in the history: "
                    + ", ".join(sorted({e['type'] for e in failed_events})))
row = {
    "run": name,
    "ok": not problems,
    "problems": problems,
    "wall_s": round(summary.get("wall_seconds", 0.0), 2),
    "requests": stats["requests"],
    "admitted": stats["ok"] + stats["injected_failures"],
    "throttled": stats["throttled"],
    "converse": stats["converse"],
    "invoke": stats["invoke"],
    "tokens": stats["tokens_in"] + stats["tokens_out"],
    "lessons": (manifest.get("totals") or {}).get("lessons"),
    "images": (manifest.get("totals") or {}).get("images"),
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

python3 - "$WORK" "$RPM" "$TPM" "$MODULES" "$LESSONS" "$LATENCY_MS" "$CONCURRENCY" "$IMAGE_CONCURRENCY" \
  <<'EOF' || status=1
import json, sys
work, rpm, tpm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
modules, lessons, latency, concurrency, image_concurrency = (int(x) for x in sys.argv[4:9])
rows = []
for name in ("unthrottled", "sim-quota", "client-budget", "fresh-quota"):
    try:
        rows.append(json.load(open(f"{work}/{name}.json")))
    except (OSError, ValueError):
        rows.append({"run": name, "ok": False, "problems": ["no result"]})
for r in rows:
    if "tokens" not in r:
        continue
    quota = r["run"] != "unthrottled"
    # Quota-bound minimum: the work of this run at the sim's rates. The floor credits the minute's
    # worth that full buckets admit at once (none in the drained run 2: there it is min_s).
    r["min_s"] = round(max(r["tokens"] / tpm, r["admitted"] / rpm) * 60, 1) if quota else None
    full = r["run"] in ("client-budget", "fresh-quota")
    r["floor_s"] = (round(max(max(0, r["tokens"] - tpm) / tpm, max(0, r["admitted"] - rpm) / rpm) * 60, 1)
                    if full else r["min_s"])
    r["ratio"] = round(r["wall_s"] / r["min_s"], 2) if quota and r["min_s"] else None
cols = ["run", "ok", "wall_s", "requests", "admitted", "throttled", "tokens", "min_s", "floor_s", "ratio",
        "lessons", "images", "in_flight_max"]
print(f"course {modules} modules x {lessons} lessons, sim latency {latency} ms, --concurrency {concurrency}, "
      f"image concurrency {image_concurrency}; sim quota of runs 2 and 3: --rpm {rpm} --tpm {tpm}")
print("  ".join(f"{c:>13}" for c in cols))
for r in rows:
    print("  ".join(f"{str(r.get(c, '-') if r.get(c) is not None else '-'):>13}" for c in cols))
failed = [r["run"] for r in rows if not r.get("ok")]
no_throttle = rows[1].get("throttled", 0) == 0
print(json.dumps({
    "quota_run": "ok" if not failed and not no_throttle else "failed",
    "modules": modules, "lessons": lessons, "latency_ms": latency, "concurrency": concurrency,
    "image_concurrency": image_concurrency,
    "sim_rpm": rpm, "sim_tpm": tpm,
    "runs": {r["run"]: {k: v for k, v in r.items() if k != "run"} for r in rows},
}))
if failed:
    print(f"quota-run: failed runs: {', '.join(failed)}", file=sys.stderr)
if no_throttle:
    print("quota-run: the sim-quota run saw no throttle: the quota did not bite", file=sys.stderr)
sys.exit(1 if failed or no_throttle else 0)
EOF
exit "$status"
