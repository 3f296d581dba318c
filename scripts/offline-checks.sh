#!/usr/bin/env bash
# Offline checks of the AWS side: template.yaml, statemachine/*.asl.json, events/*.json.
# Run from the repository root: scripts/offline-checks.sh
# Needs python3 (3.11+), node and npm; no AWS account, no Docker, no network beyond the
# package registries on the first run. Tools are installed once into ./.venv and
# ./node_modules and reused afterwards.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=python-venv.sh
source scripts/python-venv.sh

# Pinned tool versions (checked together on Python 3.11). checkov pins an older boto3 than
# aws-sam-cli, so it lives in its own environment inside .venv.
CFN_LINT_VERSION=1.58.0
CFN_LINT_SERVERLESS_VERSION=0.3.6
CHECKOV_VERSION=3.3.30
PYYAML_VERSION=6.0.4

VENV=.venv
CHECKOV_VENV=.venv/checkov
STAMP="$VENV/.coursegen-tools-sam${SAM_CLI_VERSION}-cfnlint${CFN_LINT_VERSION}-serverless${CFN_LINT_SERVERLESS_VERSION}-pyyaml${PYYAML_VERSION}"
CHECKOV_STAMP="$CHECKOV_VENV/.coursegen-tools-checkov${CHECKOV_VERSION}"

log() { printf '==> %s\n' "$*"; }

setup_sam_tools() {
  if [[ ! -f "$STAMP" ]]; then
    log "installing aws-sam-cli $SAM_CLI_VERSION, cfn-lint $CFN_LINT_VERSION, cfn-lint-serverless $CFN_LINT_SERVERLESS_VERSION into $VENV"
    venv_install "$VENV" \
      "aws-sam-cli==$SAM_CLI_VERSION" \
      "cfn-lint==$CFN_LINT_VERSION" \
      "cfn-lint-serverless==$CFN_LINT_SERVERLESS_VERSION" \
      "PyYAML==$PYYAML_VERSION"
    touch "$STAMP"
  fi
}

setup_checkov() {
  if [[ ! -f "$CHECKOV_STAMP" ]]; then
    log "installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
    venv_install "$CHECKOV_VENV" "checkov==$CHECKOV_VERSION"
    touch "$CHECKOV_STAMP"
  fi
}

setup_node_tools() {
  # Reinstall when package-lock.json changed since the last install.
  if [[ ! -x node_modules/.bin/asl-validator || package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "installing Node tools (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  fi
}

# The three installs are independent (two environments and node_modules), so they run side by
# side: mostly downloads and file copies. The checkov environment lives inside .venv, so .venv
# exists before either starts: two `python3 -m venv` creating it at the same moment race (one
# sees it missing, then fails to make it: "File exists").
mkdir -p "$VENV"
setup_checkov &
checkov_setup=$!
setup_node_tools &
node_setup=$!
setup_sam_tools
wait "$checkov_setup"
wait "$node_setup"

# The tools only parse and transform locally; the fake credentials satisfy SDK start-up.
export AWS_ACCESS_KEY_ID=AKIAOFFLINECHECKS000
export AWS_SECRET_ACCESS_KEY=offline-checks-not-a-secret
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

declare -a RESULTS=()
FAILED=0
declare -a CHECK_NAMES=() CHECK_LOGS=() CHECK_PIDS=() CHECK_SHOW=()

# start_check [--show-log] NAME COMMAND... : starts the command in the background with its
# output in a log. The checks are independent processes that only read the repository (and
# write their own files under $WORK), so they run side by side; report_checks prints them in
# the order they were started.
start_check() {
  local show=0
  if [[ $1 == --show-log ]]; then
    show=1
    shift
  fi
  local name=$1
  shift
  local logfile="$WORK/check-${#CHECK_NAMES[@]}.log"
  "$@" >"$logfile" 2>&1 &
  CHECK_PIDS+=("$!")
  CHECK_NAMES+=("$name")
  CHECK_LOGS+=("$logfile")
  CHECK_SHOW+=("$show")
}

# report_checks: waits for every started check and prints PASS/FAIL, with the log of a failed
# check (and of a passed one started with --show-log).
report_checks() {
  local i
  for i in "${!CHECK_NAMES[@]}"; do
    if wait "${CHECK_PIDS[$i]}"; then
      RESULTS+=("PASS  ${CHECK_NAMES[$i]}")
      printf 'PASS  %s\n' "${CHECK_NAMES[$i]}"
      if [[ ${CHECK_SHOW[$i]} == 1 ]]; then sed 's/^/      /' "${CHECK_LOGS[$i]}"; fi
    else
      RESULTS+=("FAIL  ${CHECK_NAMES[$i]}")
      printf 'FAIL  %s\n' "${CHECK_NAMES[$i]}"
      sed 's/^/      /' "${CHECK_LOGS[$i]}"
      FAILED=$((FAILED + 1))
    fi
  done
}

log "tool versions"
printf '      %s\n' "$("$VENV/bin/sam" --version)"
# From the installed distributions' metadata: starting checkov only to print its version
# takes about 4 s, cfn-lint 1 s.
printf '      cfn-lint %s, cfn-lint-serverless %s\n' \
  "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cfn-lint"))')" \
  "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cfn-lint-serverless"))')"
printf '      checkov %s\n' "$("$CHECKOV_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))')"
printf '      asl-validator %s\n' "$(node_modules/.bin/asl-validator --version)"

log "checks"

start_check "sam validate --lint (template.yaml)" \
  "$VENV/bin/sam" validate --lint --template-file template.yaml

shopt -s nullglob
definitions=(statemachine/*.asl.json)
shopt -u nullglob
if [[ ${#definitions[@]} -eq 0 ]]; then
  RESULTS+=("FAIL  state machine definitions present")
  printf 'FAIL  no statemachine/*.asl.json found\n'
  FAILED=$((FAILED + 1))
fi
for definition in "${definitions[@]}"; do
  start_check "asl-validator $definition" node_modules/.bin/asl-validator --json-path "$definition"
  wrapped="$WORK/$(basename "$definition" .asl.json).cfn.json"
  start_check "cfn-lint E3601 on $definition (wrapped as AWS::StepFunctions::StateMachine)" \
    bash -c '"$1" scripts/wrap-statemachine-for-cfn-lint.py "$2" "$3" && "$4" -t "$3"' _ \
    "$VENV/bin/python" "$definition" "$wrapped" "$VENV/bin/cfn-lint"
done

start_check "cfn-lint + serverless rules (template.yaml)" \
  "$VENV/bin/cfn-lint" -t template.yaml -a cfn_lint_serverless.rules

checkov_json="$WORK/checkov.json"
checkov_check() {
  # --skip-download: no calls to the vendor platform; the built-in policies are enough.
  "$CHECKOV_VENV/bin/checkov" -f template.yaml --framework cloudformation \
    --skip-download -o json >"$checkov_json" 2>"$WORK/checkov.stderr" || true
  "$VENV/bin/python" - "$checkov_json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    report = json.load(f)
report = report[0] if isinstance(report, list) else report
summary = report["summary"]
results = report.get("results", {})
print(f"checkov: passed {summary['passed']}, failed {summary['failed']}, skipped {summary['skipped']}, "
      f"parsing errors {summary['parsing_errors']}, resources {summary['resource_count']}")
for check in results.get("failed_checks", []):
    print(f"  failed  {check['check_id']} {check['resource']}: {check['check_name']}")
skipped = {}
for check in results.get("skipped_checks", []):
    skipped.setdefault(check["check_id"], []).append(check["resource"].split(".")[-1])
for check_id, resources in sorted(skipped.items()):
    print(f"  skipped {check_id} on {len(resources)} resource(s) (reason inline in template.yaml)")
sys.exit(0 if summary["failed"] == 0 and summary["parsing_errors"] == 0 and summary["passed"] > 0 else 1)
PY
}
start_check --show-log "checkov (template.yaml, 0 failed)" checkov_check

start_check "template checks (tests/template_checks.py: placeholders, wiring, data flow, payload budget, events)" \
  "$VENV/bin/python" tests/template_checks.py

report_checks

echo
log "summary"
printf '%s\n' "${RESULTS[@]}"
total=${#RESULTS[@]}
echo "offline checks: $((total - FAILED)) passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
