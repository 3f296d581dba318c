#!/usr/bin/env bash
# The workflow in the shape it is deployed in, on this machine: `sam build` of template.yaml,
# every Lambda invocation in its own `sam local` container, Step Functions (moto's engine) running
# statemachine/course.asl.json with the substitutions SAM makes, and a local S3 bucket.
#
#   scripts/local-aws.sh OUTLINE [--modules SPEC] [--content theory|labs|both]
#                        [--provider offline|bedrock] [--concurrency N] [--project NAME] [--out DIR]
#   scripts/local-aws.sh --checklist [--out DIR]      every line of the testing checklist
#   scripts/local-aws.sh --plan RUN[,RUN...]          some of the checklist's runs (CI's part)
#   scripts/local-aws.sh --bench SPEC.json            the fan-out benchmark's runs in this shape
#                                                     (scripts/bench-seed.sh --shape writes SPEC)
#
# NAME defaults to the slug `coursegen run` uses and DIR to out-aws: the course folder lands in
# DIR/NAME. The last line printed is one JSON object:
#   {"ok", "status", "containers", "max_overlap": {"ContentGen": N, ...}, "course": "DIR/NAME"}
# (with --checklist/--plan, also "runs": one such object per run). Exits non-zero when an
# execution does not succeed or a checklist line fails.
#
# Needs: root (to install and start dockerd when it is not running), python3, cargo. It installs
# Debian's docker.io if dockerd is missing, builds the functions' base image from Debian packages
# (no registry pull), and puts its Python tools in .venv (SAM CLI, cargo-lambda) and
# .venv-fidelity (moto, boto3). Servers the containers reach (S3, the Bedrock simulator) listen on
# the docker bridge's gateway address; everything else stays on 127.0.0.1. Every process and
# container it starts, it stops (dockerd too, when it started it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=../tests/fidelity/lambda_watch.sh
source "$ROOT/tests/fidelity/lambda_watch.sh"

OUTLINE=""
MODULES="all"
CONTENT="theory"
PROVIDER="offline"
CONCURRENCY=4
PROJECT=""
OUT="out-aws"
CHECKLIST=0
PLAN=""
BENCH=""
KEEP=0
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
while (( $# )); do
  case "$1" in
    --modules) MODULES="$2"; shift ;;
    --content) CONTENT="$2"; shift ;;
    --provider) PROVIDER="$2"; shift ;;
    --concurrency) CONCURRENCY="$2"; shift ;;
    --project) PROJECT="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --checklist) CHECKLIST=1 ;;
    --plan) PLAN="$2"; shift ;;
    --bench) BENCH="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) [[ -z "$OUTLINE" ]] || { echo "one OUTLINE only" >&2; exit 2; }; OUTLINE="$1" ;;
  esac
  shift
done
if [[ $CHECKLIST == 0 && -z "$PLAN" && -z "$BENCH" && -z "$OUTLINE" ]]; then usage >&2; exit 2; fi
[[ -z "$BENCH" || -f "$BENCH" ]] || { echo "--bench: no such file: $BENCH" >&2; exit 2; }
case "$CONTENT" in theory|labs|both) ;; *) echo "--content must be theory, labs or both" >&2; exit 2 ;; esac
case "$PROVIDER" in offline|bedrock) ;; *) echo "--provider must be offline or bedrock" >&2; exit 2 ;; esac

BUCKET="coursegen-local"
# Fake credentials: the local S3 server accepts exactly these, and sam local hands them to the
# containers; nothing here can reach AWS.
export AWS_ACCESS_KEY_ID=AKIALOCALAWSSHAPE000 AWS_SECRET_ACCESS_KEY=local-aws-shape-not-a-secret
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0 SAM_CLI_CONTAINER_CONNECTION_TIMEOUT=60
unset AWS_PROFILE AWS_SESSION_TOKEN

WORK="$(mktemp -d -t coursegen-local-aws.XXXXXX)"
PIDS=()
STARTED_DOCKERD=""

cleanup() {
  local rc=$? pid ids
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_session "$pid"; done
  ids="$(docker ps -aq --filter label=sam.cli.container.type=lambda 2>/dev/null || true)"
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
  if [[ -n "$STARTED_DOCKERD" ]]; then
    log "stopping the dockerd this script started"
    stop_session "$STARTED_DOCKERD"
  fi
  if [[ $KEEP == 1 || $rc -ne 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

die() { log "local-aws: $*"; exit 1; }

# --- Docker -----------------------------------------------------------------------------------
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    [[ $EUID -eq 0 ]] || die "dockerd is not installed and this is not root: install Debian's docker.io (apt-get install docker.io) and start dockerd"
    log "installing Debian's docker.io"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >"$WORK/apt.log" 2>&1; then
      apt-get update -qq >>"$WORK/apt.log" 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >>"$WORK/apt.log" 2>&1 ||
        die "apt-get install docker.io failed: $(tail -5 "$WORK/apt.log")"
    fi
  fi
  [[ $EUID -eq 0 ]] || die "dockerd is not running and starting it needs root"
  log "starting dockerd"
  setsid dockerd >"$WORK/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  local waited=0
  until docker info >/dev/null 2>&1; do
    kill -0 "$STARTED_DOCKERD" 2>/dev/null || die "dockerd exited: $(tail -5 "$WORK/dockerd.log")"
    (( waited < 60 )) || die "dockerd did not answer within 60 s: $(tail -5 "$WORK/dockerd.log")"
    sleep 1
    waited=$((waited + 1))
  done
}

ensure_sam() {
  local venv=.venv stamp=".venv/.coursegen-build-sam${SAM_CLI_VERSION}-cargolambda${CARGO_LAMBDA_VERSION}-zig${ZIGLANG_VERSION}"
  if [[ ! -f "$stamp" ]]; then
    log "installing aws-sam-cli $SAM_CLI_VERSION, cargo-lambda $CARGO_LAMBDA_VERSION into $venv"
    venv_install "$venv" \
      "aws-sam-cli==$SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
    touch "$stamp"
  fi
  SAM="$ROOT/.venv/bin/sam"
  export PATH="$PATH:$ROOT/.venv/bin"  # cargo-lambda and zig for sam build; moto's venv stays first
}

free_port() {  # ADDRESS -> a free TCP port on it
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

ensure_docker
ensure_venv   # .venv-fidelity: moto, boto3, PyYAML for the driver
ensure_sam

case "$(uname -m)" in
  x86_64) ARCH=x86_64 ;;
  aarch64|arm64) ARCH=arm64 ;;
  *) die "unsupported machine $(uname -m)" ;;
esac
# The bridge's gateway: IPAM reports it on some engines; docker0 carries it on all.
GATEWAY="$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)"
if [[ -z "$GATEWAY" ]]; then
  bridge="$(docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || echo docker0)"
  GATEWAY="$(ip -4 -o addr show "${bridge:-docker0}" 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')"
fi
[[ -n "$GATEWAY" ]] || die "cannot find the docker bridge's gateway address (docker network inspect bridge; ip addr show docker0)"

log "building the base image from Debian packages"
IMAGE="$(tests/local-aws/base-image.sh)"
log "base image $IMAGE"

build_workspace_bins
COURSEGEN="$TARGET_DIR/debug/coursegen"

log "sam build ($ARCH; one bootstrap for every function)"
start=$SECONDS
"$SAM" build --beta-features --parameter-overrides "Architecture=$ARCH" \
  --build-dir .aws-sam/local/build >"$WORK/sam-build.log" 2>&1 || die "sam build failed: $(tail -20 "$WORK/sam-build.log")"
log "sam build took $((SECONDS - start)) s"
BUILT_TEMPLATE=.aws-sam/local/build/template.yaml

# --- the servers the containers reach, on the bridge gateway ----------------------------------
S3_PORT="$(free_port "$GATEWAY")"
mkdir -p "$WORK/s3"
setsid "$TARGET_DIR/debug/s3-local" --listen "$GATEWAY:$S3_PORT" --dir "$WORK/s3" --bucket "$BUCKET" \
  --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" >"$WORK/s3.log" 2>&1 &
PIDS+=($!)
S3_ENDPOINT="http://$GATEWAY:$S3_PORT"

SIM_PORT="$(free_port "$GATEWAY")"
# It refuses, as Bedrock's content filters do, every request about lesson 3.2 of
# tests/local-aws/refused-module.yaml (the checklist's refused-module run).
# The benchmark gives each kind of call its own latency instead (the spec's latency_ms).
SIM_LATENCY=(--latency-ms "${LOCAL_AWS_SIM_LATENCY_MS:-1500}")
if [[ -n "$BENCH" ]]; then
  mapfile -t SIM_LATENCY < <(python3 -c 'import json, sys
l = json.load(open(sys.argv[1]))["latency_ms"]
print("\n".join(["--seed", "7", "--ms-per-token", "0", "--latency-text-ms", str(l["text"]),
                 "--latency-plan-ms", str(l["plan"]), "--latency-image-ms", str(l["image"])]))' "$BENCH")
fi
setsid "$TARGET_DIR/debug/bedrock-sim" --listen "$GATEWAY:$SIM_PORT" --allow-non-loopback \
  --refuse-containing "Refused by the content filter" \
  "${SIM_LATENCY[@]}" >"$WORK/bedrock-sim.log" 2>&1 &
PIDS+=($!)
SIM_ENDPOINT="http://$GATEWAY:$SIM_PORT"
wait_for_http "$S3_ENDPOINT/" 30 || die "s3-local did not start: $(cat "$WORK/s3.log")"
wait_for_http "$SIM_ENDPOINT/" 30 || die "bedrock-sim did not start: $(cat "$WORK/bedrock-sim.log")"

# What sam local does not resolve as CloudFormation would: !Ref CourseBucket has no physical
# name, and the endpoint variables' !If on a parameter arrives as "". --env-vars may set only
# variables the template declares; these are. No quota table here (QUOTA_TABLE empty): each
# function instance keeps its own budget. To share one, serve a table (scripts/quota-table.py)
# and set QUOTA_TABLE to its name and AWS_ENDPOINT_URL_DYNAMODB to it (via $GATEWAY).
cat >"$WORK/env-vars.json" <<JSON
{"Parameters": {"COURSE_BUCKET": "$BUCKET", "AWS_ENDPOINT_URL_S3": "$S3_ENDPOINT",
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "$SIM_ENDPOINT", "QUOTA_TABLE": ""}}
JSON

# start_lambda PROVIDER PORT [ENV_VARS_JSON [LABEL]]: sam local start-lambda serving the built
# template, the functions' variables from ENV_VARS_JSON (default: the file above).
start_lambda() {
  local provider="$1" port="$2" env_vars="${3:-$WORK/env-vars.json}" label="${4:-$1}"
  setsid "$SAM" local start-lambda -t "$BUILT_TEMPLATE" --host 127.0.0.1 --port "$port" \
    --invoke-image "$IMAGE" --skip-pull-image --env-vars "$env_vars" \
    --parameter-overrides "Architecture=$ARCH Provider=$provider S3EndpointUrl=$S3_ENDPOINT BedrockEndpointUrl=$SIM_ENDPOINT" \
    >"$WORK/start-lambda-$label.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/" 120 || die "sam local start-lambda ($label) did not start: $(tail -20 "$WORK/start-lambda-$label.log")"
  # In front of it, the Invoke API contract of AWS Lambda (tests/fidelity/invoke_adapter.py): a
  # failure of the emulator itself becomes Lambda's ServiceException, which the Retry catches.
  ADAPTER_PORT="$(free_port 127.0.0.1)"
  setsid python tests/fidelity/invoke_adapter.py --listen-port "$ADAPTER_PORT" \
    --upstream "http://127.0.0.1:$port" >"$WORK/adapter-$label.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$ADAPTER_PORT/" 30 || die "the invoke adapter did not start: $(cat "$WORK/adapter-$label.log")"
  log "sam local start-lambda ($label) on 127.0.0.1:$port, Lambda API on 127.0.0.1:$ADAPTER_PORT"
}

# The benchmark: every design's functions in a start-lambda of their own, with the design's
# ceilings in their environment; drive.py runs the spec's courses against them.
if [[ -n "$BENCH" ]]; then
  BENCH_ARGS=()
  while read -r design; do
    python3 - "$WORK/env-vars.json" "$BENCH" "$design" >"$WORK/env-vars-$design.json" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
design = next(d for d in json.load(open(sys.argv[2]))["designs"] if d["name"] == sys.argv[3])
base["Parameters"].update({k: str(v) for k, v in design.get("env", {}).items()})
print(json.dumps(base))
PY
    start_lambda bedrock "$(free_port 127.0.0.1)" "$WORK/env-vars-$design.json" "$design"
    BENCH_ARGS+=(--lambda-design "$design=http://127.0.0.1:$ADAPTER_PORT")
  done < <(python3 -c 'import json, sys; print("\n".join(d["name"] for d in json.load(open(sys.argv[1]))["designs"]))' "$BENCH")
  setsid docker events --filter type=container --filter label=sam.cli.container.type=lambda \
    --format '{{json .}}' >"$WORK/docker-events.jsonl" 2>"$WORK/docker-events.err" &
  PIDS+=($!)
  mkdir -p "$OUT"
  status=0
  python tests/local-aws/drive.py --out "$OUT" --bucket "$BUCKET" --s3-endpoint "$S3_ENDPOINT" \
    --bedrock-endpoint "$SIM_ENDPOINT" --events-log "$WORK/docker-events.jsonl" --coursegen "$COURSEGEN" \
    --providers bedrock --bench "$BENCH" "${BENCH_ARGS[@]}" || status=$?
  exit $status
fi

if [[ $CHECKLIST == 1 || -n "$PLAN" ]]; then
  PROVIDERS="offline,bedrock"
  [[ -z "$PLAN" || "$PLAN" == *bed-* ]] || PROVIDERS="offline"
else
  PROVIDERS="$PROVIDER"
fi
LAMBDA_ARGS=()
if [[ ",$PROVIDERS," == *",offline,"* ]]; then
  start_lambda offline "$(free_port 127.0.0.1)"; LAMBDA_ARGS+=(--lambda-offline "http://127.0.0.1:$ADAPTER_PORT")
fi
if [[ ",$PROVIDERS," == *",bedrock,"* ]]; then
  start_lambda bedrock "$(free_port 127.0.0.1)"; LAMBDA_ARGS+=(--lambda-bedrock "http://127.0.0.1:$ADAPTER_PORT")
fi

# Container start and end times, for the overlap of invocations.
setsid docker events --filter type=container --filter label=sam.cli.container.type=lambda \
  --format '{{json .}}' >"$WORK/docker-events.jsonl" 2>"$WORK/docker-events.err" &
PIDS+=($!)

mkdir -p "$OUT"
DRIVE=(python tests/local-aws/drive.py --out "$OUT" --bucket "$BUCKET" --s3-endpoint "$S3_ENDPOINT"
  --bedrock-endpoint "$SIM_ENDPOINT" --events-log "$WORK/docker-events.jsonl" --coursegen "$COURSEGEN"
  --providers "$PROVIDERS" "${LAMBDA_ARGS[@]}")
if [[ $CHECKLIST == 1 ]]; then
  DRIVE+=(--checklist)
elif [[ -n "$PLAN" ]]; then
  DRIVE+=(--plan "$PLAN")
else
  DRIVE+=("$OUTLINE" --modules "$MODULES" --content "$CONTENT" --provider "$PROVIDER" --concurrency "$CONCURRENCY")
  [[ -z "$PROJECT" ]] || DRIVE+=(--project "$PROJECT")
fi
status=0
"${DRIVE[@]}" || status=$?
if (( status != 0 )); then
  for f in "$WORK"/start-lambda-*.log; do log "$(basename "$f") (last lines):"; tail -15 "$f" >&2; done
fi
exit $status
