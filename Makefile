# The two commands of the README: `make run` (setup + the whole pipeline on the embedded
# stack) and `make test` (setup + the test suite). Setup is idempotent: see scripts/setup.sh.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
PYTEST_ARGS ?=
RUN_ARGS ?=
BENCH_ARGS ?=

.PHONY: setup run test test-fast bench docs lock clean help

help:
	@echo "make run    set up (Debian packages, .venv, Connect jars) and run the pipeline end to end"
	@echo "make test   set up and run the whole test suite (real broker, Connect, Spark, dbt, GX)"
	@echo "make bench  set up and run the benchmarks (BENCH_ARGS='--sizes 10000,100000')"
	@echo "make docs   the local page on 127.0.0.1: report, charts, run history, dbt docs, Data Docs (Ctrl-C stops)"
	@echo "make clean  stop the embedded stack and remove data/ and .state/ (keeps .venv)"
	@echo "make lock   regenerate requirements.lock and scripts/*.lock (pinned versions + sha256) from PyPI"

setup:
	@bash scripts/setup.sh

run: setup
	$(BIN)/studentflow run $(RUN_ARGS)

# pytest exits 5 when it collected no test: that is a failure here, like any non-zero code.
# The suite starts over 400 Python processes: with PYTHONDONTWRITEBYTECODE set each compiled the
# project's modules again and each test worker rewrote every test file (collecting: 4.0 against
# 1.6 CPU-seconds), so the suite writes its bytecode (into __pycache__, ignored by git).
test: setup
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

DOCS_ARGS ?=
docs: setup
	$(BIN)/studentflow docs serve $(DOCS_ARGS)

# The lock files setup installs from; keeps the pinned versions that still fit pyproject.toml
# (scripts/lock.sh --upgrade moves them all to the newest allowed).
lock:
	@bash scripts/lock.sh

clean:
	-$(BIN)/studentflow stack down 2>/dev/null
	rm -rf data .state
