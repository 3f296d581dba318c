# Python tool installs for the check scripts (sourced, not run): scripts/offline-checks.sh,
# scripts/local-aws.sh, scripts/sam-build.sh and tests/fidelity/lambda_watch.sh.
#
# The pinned tools go in through uv (itself pinned, from PyPI), which resolves to the same
# versions as pip but installs several times faster: parallel downloads, and no bytecode
# compilation up front (Python compiles what a tool imports on its first run and keeps it).
# pip stays the fallback when uv cannot be installed.

UV_VERSION=0.13.8

# Tool versions shared by several scripts (checked together on Python 3.11): one place to bump.
SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1

# venv_install VENV PIP_ARGS... : creates VENV (python3 -m venv, so pip is there too) when it is
# missing, then installs PIP_ARGS (requirements, -r FILE) into it.
venv_install() {
  local venv=$1
  shift
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  if [[ "$("$venv/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" ||
      printf 'uv %s could not be installed into %s; installing with pip\n' "$UV_VERSION" "$venv" >&2
  fi
  if [[ -x "$venv/bin/uv" ]]; then
    "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" "$@"
  else
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  fi
}
