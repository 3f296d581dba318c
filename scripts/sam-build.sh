#!/usr/bin/env bash
# `sam build` for Lambda arm64, as a deploy would run it: one aarch64 `bootstrap` that every
# function shares (SAM builds functions with equal CodeUri, BuildMethod, Metadata and
# Architecture once), cross-compiled by cargo-lambda with zig (no Docker). Tools go into ./.venv;
# the aarch64 std comes from rust-toolchain.toml. Prints the build time and, per build artifact,
# the bootstrap size, zipped size and the functions that use it.
# Usage: scripts/sam-build.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=python-venv.sh
source scripts/python-venv.sh

VENV=.venv
STAMP="$VENV/.coursegen-build-sam${SAM_CLI_VERSION}-cargolambda${CARGO_LAMBDA_VERSION}-zig${ZIGLANG_VERSION}"

if [[ ! -f "$STAMP" ]]; then
  venv_install "$VENV" \
    "aws-sam-cli==$SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
  touch "$STAMP"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true

start=$SECONDS
sam build --beta-features
echo "sam build took $((SECONDS - start)) s"

status=0
printf '%-34s %12s %12s %-12s %s\n' artifact bootstrap zipped arch functions
for dir in .aws-sam/build/*/; do
  dir=${dir%/}
  bin="$dir/bootstrap"
  [[ -f "$bin" ]] || continue
  artifact=$(basename "$dir")
  fns=$(awk -v a="$artifact" '/^  [A-Za-z0-9]+:$/ {name=$1} $1 == "CodeUri:" && $2 == a {sub(":", "", name); printf "%s ", name}' .aws-sam/build/template.yaml)
  arch=$(file -b "$bin" | grep -o 'ARM aarch64' || true)
  zipped=$(python3 -c 'import io,sys,zipfile;b=io.BytesIO();z=zipfile.ZipFile(b,"w",zipfile.ZIP_DEFLATED);z.write(sys.argv[1],"bootstrap");z.close();print(len(b.getvalue()))' "$bin")
  printf '%-34s %12s %12s %-12s %s\n' "$artifact" "$(stat -c %s "$bin")" "$zipped" "${arch:-NOT-AARCH64}" "$fns"
  [[ -n "$arch" ]] || status=1
  (( zipped <= 10 * 1024 * 1024 )) || { echo "FAIL $artifact: zipped bootstrap over 10 MB"; status=1; }
done
exit $status
