#!/usr/bin/env bash
# The seed's table, measured: does parallel fan-out make N modules take about as long as one?
# Not part of CI (minutes of wall time); see docs/performance.md.
#
# Every run is `coursegen run --provider bedrock --content theory` (the embedded runner, release
# build) against its own bedrock-sim on 127.0.0.1 with per-kind latencies (--latency-text-ms,
# --latency-plan-ms, --latency-image-ms) that give one module the seed's stage times scaled
# 1 minute -> 1 second: ContentGen 5 s, VisualPlanner 1 s, ImagesGen 2 s (3 lessons a module).
# Three designs, side by side, for courses of 1, 2, 4, 10 and 20 modules x 3 lessons:
#
#   sequential  --concurrency 1 --lesson-concurrency 1, LESSON_CONCURRENCY=1, IMAGE_CONCURRENCY=1,
#               BEDROCK_MAX_CONCURRENCY=1, BEDROCK_IMAGE_MAX_CONCURRENCY=1: one module, one
#               model call at a time.
#   seed        the seed's design: modules in parallel at MaxConcurrency 10 (--concurrency 10
#               --lesson-concurrency 10), each ContentGen invocation writing its module's lessons
#               one after another (LESSON_CONCURRENCY=1) and each ImagesGen invocation rendering
#               its module's images one after another (IMAGE_CONCURRENCY=1), visual plans per
#               lesson in parallel; no process-wide client ceiling (in the seed every module ran
#               in its own Lambda with its own client).
#   coursegen   coursegen's defaults: no concurrency option or variable at all (the request's
#               concurrency is PrepareCourse's estimate, the whole fan-out; the quota bounds it).
#
# Calibration first: one module in the seed design, the per-stage times read from the run's
# history (task entered -> exited), each kind's latency corrected by the difference to its
# target, then measured again and printed. Then every size and design; prints a table of wall
# times and speed-ups over sequential, and one JSON line with every figure.
#
# With --shape embedded,local-aws the same sizes and designs also run in the shape the workflow
# is deployed in (scripts/local-aws.sh --bench: a `sam local` container for every invocation,
# moto's Step Functions engine, a local S3 bucket; needs Docker, see that script), at the same
# calibrated latencies, each design's ceilings set on its functions' environment; the table
# gets a column group per shape.
#
#   scripts/bench-seed.sh                         # sizes 1,2,4,10,20, one run each (~12 min)
#   scripts/bench-seed.sh --sizes 1,10 --runs 3   # medians of 3
#   scripts/bench-seed.sh --designs seed,coursegen --no-build
#   scripts/bench-seed.sh --shape embedded,local-aws   # both shapes
#
# Options: --sizes LIST, --runs N, --designs LIST (sequential,seed,coursegen), --lessons N,
# --shape LIST (embedded,local-aws; default embedded), --no-build (reuse target/release
# binaries), --no-calibrate (use the latencies below as they are). BENCH_LESSON_MS, BENCH_PLAN_MS, BENCH_IMAGE_MS set the starting per-call latencies.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SIZES="1,2,4,10,20"
RUNS=1
DESIGNS="sequential,seed,coursegen"
LESSONS=3
BUILD=1
CALIBRATE=1
SHAPES="embedded"
# Targets per module, in milliseconds (the seed's minutes as seconds).
TARGET_CONTENT_MS=5000
TARGET_PLAN_MS=1000
TARGET_IMAGES_MS=2000
# Per-call latencies before calibration: a lesson is a third of ContentGen's five seconds (one
# after another), a visual plan (one per lesson, in parallel) the whole second, an illustration
# a quarter of ImagesGen's two seconds (module 1 of the generated course has 4, rendered one
# after another).
LESSON_MS="${BENCH_LESSON_MS:-1667}"
PLAN_MS="${BENCH_PLAN_MS:-1000}"
IMAGE_MS="${BENCH_IMAGE_MS:-500}"
SEED=7

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --sizes) SIZES="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --designs) DESIGNS="$2"; shift 2 ;;
    --lessons) LESSONS="$2"; shift 2 ;;
    --shape) SHAPES="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-calibrate) CALIBRATE=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench-seed: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$SIZES" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "bench-seed: --sizes takes a list like 1,10" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-seed: --runs takes a positive number" >&2; exit 2; }
[[ "$LESSONS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-seed: --lessons takes a positive number" >&2; exit 2; }
for d in ${DESIGNS//,/ }; do
  case "$d" in sequential | seed | coursegen) ;; *) echo "bench-seed: unknown design $d" >&2; exit 2 ;; esac
done
for shape in ${SHAPES//,/ }; do
  case "$shape" in embedded | local-aws) ;; *) echo "bench-seed: unknown shape $shape (embedded, local-aws)" >&2; exit 2 ;; esac
done

WORK="$(mktemp -d -t coursegen-bench-seed.XXXXXX)"

log() { echo "bench-seed: $*" >&2; }
# shellcheck source=sim-process.sh
source "$ROOT/scripts/sim-process.sh"

# shellcheck disable=SC2329 # called by the EXIT trap
cleanup() {
  local rc=$?
  stop_sim
  if [[ $rc -ne 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $BUILD -eq 1 ]]; then
  log "cargo build --release --bin coursegen --bin bedrock-sim"
  (cd "$ROOT" && cargo build -q --release --bin coursegen --bin bedrock-sim)
fi
COURSEGEN="$TARGET_DIR/release/coursegen"
SIM="$TARGET_DIR/release/bedrock-sim"
# The embedded runs and the calibration use the release binaries; the local AWS shape builds
# its own (scripts/local-aws.sh).
if [[ ",$SHAPES," == *",embedded,"* || $CALIBRATE -eq 1 ]]; then
  for bin in "$COURSEGEN" "$SIM"; do
    [[ -x "$bin" ]] || { log "$bin is missing: run without --no-build"; exit 1; }
  done
  "$SIM" --help | grep -q -- --latency-plan-ms || { log "$SIM has no per-kind latencies: rebuild it"; exit 1; }
fi

# outline M : an M-module x LESSONS-lesson course with three topics a lesson, no labs.
outline() {
  local file="$WORK/outline-$1.yaml"
  [[ -f "$file" ]] && { echo "$file"; return; }
  python3 "$ROOT/scripts/generate-outline.py" "$1" "$LESSONS" "Kubernetes in Production" \
    "A course sized for the fan-out benchmark." > "$file"
  "$COURSEGEN" validate "$file" >&2
  echo "$file"
}

# start_kind_sim NAME TEXT_MS PLAN_MS IMAGE_MS : the sim of one run, with per-kind latencies.
start_kind_sim() {
  start_sim "$1" --seed "$SEED" --ms-per-token 0 \
    --latency-text-ms "$2" --latency-plan-ms "$3" --latency-image-ms "$4"
}

# design_settings DESIGN MODULES : sets `concurrency` (modules at once), `request` (the
# request's concurrency fields: `run`'s options, the execution input's fields) and `knobs` (the
# functions' ceilings) of DESIGN; the one definition both shapes use.
design_settings() {
  case "$1" in
    sequential)
      concurrency=1 request=(max_concurrency=1 lesson_concurrency=1)
      knobs=(LESSON_CONCURRENCY=1 IMAGE_CONCURRENCY=1 BEDROCK_MAX_CONCURRENCY=1 BEDROCK_IMAGE_MAX_CONCURRENCY=1) ;;
    seed)
      concurrency=10 request=(max_concurrency=10 lesson_concurrency=10)
      knobs=(LESSON_CONCURRENCY=1 IMAGE_CONCURRENCY=1) ;;
    coursegen)
      concurrency=$(($2 < 40 ? $2 : 40)) request=()
      knobs=() ;;
  esac
}

# run_one NAME DESIGN MODULES : one `coursegen run` of DESIGN against a fresh sim; writes
# NAME.json with its wall time, per-stage spans and the sim's call counts.
run_one() {
  local name="$1" design="$2" modules="$3" file concurrency rc=0 field
  local -a knobs request options=()
  file="$(outline "$modules")"
  design_settings "$design" "$modules"
  for field in "${request[@]}"; do
    case "$field" in
      max_concurrency=*) options+=(--concurrency "${field#*=}") ;;
      lesson_concurrency=*) options+=(--lesson-concurrency "${field#*=}") ;;
    esac
  done
  start_kind_sim "$name" "$LESSON_MS" "$PLAN_MS" "$IMAGE_MS"
  log "$name: $modules x $LESSONS lessons, ${options[*]:-(default concurrency)} ${knobs[*]:-(no ceiling)}; sim text ${LESSON_MS} ms, plan ${PLAN_MS} ms, image ${IMAGE_MS} ms"
  env -u BEDROCK_RPM -u BEDROCK_TPM -u BEDROCK_IMAGE_RPM -u BEDROCK_MAX_CONCURRENCY \
    -u BEDROCK_IMAGE_MAX_CONCURRENCY -u LESSON_CONCURRENCY -u IMAGE_CONCURRENCY \
    -u TEXT_MODEL_ID -u IMAGE_MODEL_ID -u MODEL_DEADLINE_SECONDS -u QUOTA_TABLE \
    -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u COURSEGEN_PROVIDER \
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://$SIM_ADDR" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=AKIDBENCHSEED AWS_SECRET_ACCESS_KEY=bench-seed-secret \
    AWS_CONFIG_FILE="$WORK/no-aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/no-aws-credentials" \
    AWS_EC2_METADATA_DISABLED=true "${knobs[@]}" \
    "$COURSEGEN" run "$file" --provider bedrock --content theory --out "$WORK/out-$name" --project bench \
    "${options[@]}" --force --json --history "$WORK/history-$name.json" \
    > "$WORK/summary-$name.json" 2> "$WORK/run-$name.err" || rc=$?
  sim_stats > "$WORK/stats-$name.json" || echo '{}' > "$WORK/stats-$name.json"
  stop_sim
  python3 - "$WORK" "$name" "$design" "$modules" "$concurrency" "$rc" <<'EOF'
import datetime, json, sys
work, name, design, modules, concurrency, rc = sys.argv[1:7]
modules, concurrency, rc = int(modules), int(concurrency), int(rc)
def load(path, default):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return default
summary = load(f"{work}/summary-{name}.json", {})
history = load(f"{work}/history-{name}.json", [])
stats = load(f"{work}/stats-{name}.json", {})
def ts(e):
    return datetime.datetime.strptime(e["timestamp"].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
# Per stage: first task entered -> last task exited (for one module, the module's stage time).
spans = {}
for e in history:
    if e.get("type") in ("TaskStateEntered", "TaskStateExited"):
        lo, hi = spans.get(e["stateName"], (None, None))
        t = ts(e)
        if e["type"] == "TaskStateEntered":
            lo = t if lo is None else min(lo, t)
        else:
            hi = t if hi is None else max(hi, t)
        spans[e["stateName"]] = (lo, hi)
stages = {k: round(hi - lo, 3) for k, (lo, hi) in spans.items() if lo is not None and hi is not None}
problems = []
if rc != 0:
    problems.append(f"exit code {rc}")
if summary.get("status") != "SUCCEEDED":
    problems.append(f"status {summary.get('status')}")
if (summary.get("result") or {}).get("failed", 0):
    problems.append("the book reports missing items")
kinds = stats.get("by_kind", {})
row = {
    "design": design, "modules": modules, "concurrency": concurrency, "ok": not problems,
    "problems": problems, "wall_s": round(summary.get("wall_seconds", 0.0), 2), "stages_s": stages,
    "calls": {k: v.get("calls") for k, v in kinds.items()}, "in_flight_max": stats.get("in_flight_max"),
    "throttled": stats.get("throttled"),
}
json.dump(row, open(f"{work}/{name}.json", "w"))
if problems:
    print(f"bench-seed: {name} FAILED: {'; '.join(problems)}", file=sys.stderr)
    sys.exit(1)
print(f"bench-seed: {name}: {row['wall_s']} s; stages {stages}; calls {row['calls']}", file=sys.stderr)
EOF
}

# Calibration: one module in the seed design; each kind's latency moved by the gap between its
# stage's span and the target, spread over the calls the stage makes one after another (the
# stage's own work, such as rendering the pictures, stays in).
CALIBRATION="{}"
if [[ $CALIBRATE -eq 1 ]]; then
  run_one calibrate-0 seed 1 || { tail -20 "$WORK/run-calibrate-0.err" >&2; exit 1; }
  read -r LESSON_MS PLAN_MS IMAGE_MS < <(python3 - "$WORK/calibrate-0.json" "$LESSON_MS" "$PLAN_MS" "$IMAGE_MS" \
    "$LESSONS" "$TARGET_CONTENT_MS" "$TARGET_PLAN_MS" "$TARGET_IMAGES_MS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
lesson, plan, image, lessons, t_content, t_plan, t_images = (int(x) for x in sys.argv[2:9])
s = r["stages_s"]
images = max(1, int((r.get("calls") or {}).get("image") or 1))
# In the seed design a module's lessons, and its images, are calls one after another.
print(max(1, lesson + round((t_content - round(s["ContentGen"] * 1000)) / lessons)),
      max(1, plan + t_plan - round(s["VisualPlanner"] * 1000)),
      max(1, image + round((t_images - round(s["ImagesGen"] * 1000)) / images)))
EOF
)
  log "calibrated per-call latencies: lesson ${LESSON_MS} ms, plan ${PLAN_MS} ms, image ${IMAGE_MS} ms"
  run_one calibrate-1 seed 1 || { tail -20 "$WORK/run-calibrate-1.err" >&2; exit 1; }
  CALIBRATION="$(cat "$WORK/calibrate-1.json")"
fi

status=0
if [[ ",$SHAPES," == *",embedded,"* ]]; then
  for m in ${SIZES//,/ }; do
    for d in ${DESIGNS//,/ }; do
      for r in $(seq 1 "$RUNS"); do
        run_one "$d-$m-$r" "$d" "$m" || { status=1; tail -5 "$WORK/run-$d-$m-$r.err" >&2; }
      done
    done
  done
fi

# The local AWS shape: the same sizes, designs and latencies through scripts/local-aws.sh.
if [[ ",$SHAPES," == *",local-aws,"* ]]; then
  spec="$WORK/local-aws-spec.json"
  designs_json=()
  for d in ${DESIGNS//,/ }; do
    design_settings "$d" 1
    designs_json+=("$(python3 -c 'import json, sys
name, n = sys.argv[1], int(sys.argv[2])
request = dict(kv.split("=", 1) for kv in sys.argv[3:3 + n])
env = dict(kv.split("=", 1) for kv in sys.argv[3 + n:])
print(json.dumps({"name": name, "request": {k: int(v) for k, v in request.items()}, "env": env}))' \
      "$d" "${#request[@]}" "${request[@]}" "${knobs[@]}")")
  done
  python3 -c 'import json, sys
sizes, lessons, runs, text, plan, image = sys.argv[1:7]
print(json.dumps({"sizes": [int(s) for s in sizes.split(",")], "lessons": int(lessons), "runs": int(runs),
                  "latency_ms": {"text": int(text), "plan": int(plan), "image": int(image)},
                  "designs": [json.loads(d) for d in sys.argv[7:]]}))' \
    "$SIZES" "$LESSONS" "$RUNS" "$LESSON_MS" "$PLAN_MS" "$IMAGE_MS" "${designs_json[@]}" > "$spec"
  log "local AWS shape: scripts/local-aws.sh --bench $spec (log: $WORK/local-aws.err)"
  if ! "$ROOT/scripts/local-aws.sh" --bench "$spec" --out "$WORK/out-local-aws" > "$WORK/local-aws.out" 2> "$WORK/local-aws.err"; then
    status=1
    tail -20 "$WORK/local-aws.err" >&2
  fi
  tail -1 "$WORK/local-aws.out" > "$WORK/local-aws.json" 2>/dev/null || true
fi

python3 - "$WORK" "$SIZES" "$DESIGNS" "$RUNS" "$LESSONS" "$LESSON_MS" "$PLAN_MS" "$IMAGE_MS" "$CALIBRATION" \
  "$(nproc 2>/dev/null || echo '?')" "$SHAPES" <<'EOF' || status=1
import json, statistics, sys
work, sizes, designs, runs, lessons, lesson_ms, plan_ms, image_ms, calibration, cores, shapes = sys.argv[1:12]
sizes = [int(s) for s in sizes.split(",")]
designs = designs.split(",")
shapes = shapes.split(",")
runs, lessons = int(runs), int(lessons)
calibration = json.loads(calibration)

def embedded_result(d, m, r):
    try:
        return json.load(open(f"{work}/{d}-{m}-{r}.json"))
    except (OSError, ValueError):
        return {"ok": False}

local = {}
if "local-aws" in shapes:
    try:
        for row in json.load(open(f"{work}/local-aws.json")).get("bench", []):
            local[(row["design"], row["modules"], row["run"])] = row
    except (OSError, ValueError):
        pass

def local_result(d, m, r):
    return local.get((d, m, r), {"ok": False})

results_of = {"embedded": embedded_result, "local-aws": local_result}
failed = []
tables = {}
for shape in shapes:
    table = []
    for m in sizes:
        row = {"modules": m, "lessons": m * lessons}
        for d in designs:
            results = [results_of[shape](d, m, r) for r in range(1, runs + 1)]
            good = [x["wall_s"] for x in results if x.get("ok")]
            if len(good) < len(results):
                failed.append(f"{shape}: {d} x {m}")
            first = results[0]
            row[d] = {
                "wall_s": round(statistics.median(good), 2) if good else None,
                "runs_s": good,
                "calls": first.get("calls"),
            }
            if shape == "embedded":
                row[d].update({"concurrency": first.get("concurrency"), "in_flight_max": first.get("in_flight_max"),
                               "stages_s": first.get("stages_s")})
            else:
                row[d].update({"containers": first.get("containers"), "max_overlap": first.get("max_overlap")})
        base = (row.get("sequential") or {}).get("wall_s")
        for d in designs:
            w = row[d]["wall_s"]
            row[d]["speedup"] = round(base / w, 1) if base and w else None
        ref = row if m == 1 else next((t for t in table if t["modules"] == 1), None)
        for d in designs:
            w1 = ref[d]["wall_s"] if ref else None
            row[d]["vs_one_module"] = round(row[d]["wall_s"] / w1, 2) if w1 and row[d]["wall_s"] else None
        table.append(row)
    tables[shape] = table

names = {"sequential": "sequential", "seed": "seed design", "coursegen": "coursegen"}
print(f"per-call latencies: lesson {lesson_ms} ms, visual plan {plan_ms} ms, image {image_ms} ms; "
      f"{cores} cores; median of {runs} run(s)")
if calibration:
    s = calibration.get("stages_s", {})
    print("one module, seed design, per stage (target 5 / 1 / 2 s): "
          + ", ".join(f"{k} {s[k]:.2f} s" for k in ("ContentGen", "VisualPlanner", "ImagesGen") if k in s)
          + f"; wall {calibration.get('wall_s')} s")
for shape, table in tables.items():
    print(f"{shape}:")
    head = f"{'modules':>7} {'lessons':>7}"
    for d in designs:
        head += f" {names[d] + ' s':>15}"
        if d != "sequential":
            head += f" {'speed-up':>9}"
    if "seed" in designs and "coursegen" in designs:
        head += f" {'vs seed':>8}"
    print(head)
    for row in table:
        line = f"{row['modules']:>7} {row['lessons']:>7}"
        for d in designs:
            w = row[d]["wall_s"]
            line += f" {('-' if w is None else f'{w:.1f}'):>15}"
            if d != "sequential":
                sp = row[d]["speedup"]
                line += f" {('-' if sp is None else f'{sp:.1f}x'):>9}"
        if "seed" in designs and "coursegen" in designs:
            a, b = row["seed"]["wall_s"], row["coursegen"]["wall_s"]
            line += f" {(f'{a / b:.1f}x' if a and b else '-'):>8}"
        print(line)
print(json.dumps({
    "bench_seed": "ok" if not failed else "failed",
    "failed": failed,
    "cores": cores,
    "runs": runs,
    "lessons_per_module": lessons,
    "latency_ms": {"lesson": int(lesson_ms), "plan": int(plan_ms), "image": int(image_ms)},
    "calibration": calibration,
    "sizes": tables.get("embedded", []),
    **({"local_aws": tables["local-aws"]} if "local-aws" in tables else {}),
}))
sys.exit(1 if failed else 0)
EOF
exit "$status"
