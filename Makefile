# The two commands: `make run` (set up, migrate, load the demo, serve) and `make test` (set up, run every test).
# Python 3.11 or newer: python3.11 if it is on PATH, else python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3.11)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export CLOSELOOP_DATABASE_URL ?= sqlite:///closeloop.db

.PHONY: run test setup bench bench-transitions bench-sweep bench-audit bench-evidence bench-lists bench-ledger bench-spiff bench-pg clean check-workflows lint fuzz soak crash model readme-screenshots axe-docs audit-deps

setup: $(STAMP)

# Re-install only when the project's declared dependencies change.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "error: closeloop needs Python 3.11 or newer ($(PYTHON) is not); set PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/closeloop migrate
	$(BIN)/closeloop demo
	@echo
	@echo "closeloop is serving on http://127.0.0.1:$(PORT)  (sign in: http://127.0.0.1:$(PORT)/signin with a password above; API docs: /docs; Ctrl-C stops)"
	$(BIN)/closeloop serve --port $(PORT)

# One test process per core (pytest-xdist; an idle one takes tests queued for another); PYTEST_ARGS='-p no:xdist -k lifecycle' runs a part serially.
# Compiled modules (and pytest's rewritten tests) are kept under the venv even where PYTHONDONTWRITEBYTECODE is
# set to keep them out of the source tree: each test process and each of the hundreds of `closeloop` and server
# processes the tests start would otherwise compile the project again (collection alone: 13 s, 8 s cached).
test: setup
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache $(BIN)/python -m pytest -q -n auto --dist worksteal $(PYTEST_ARGS)

# The model-based test's long profile (random, not derandomized: each run tries new sequences; a few minutes a store).
# What it tried is printed at the end; a failure prints the shrunk sequence of calls and the seed to reproduce it.
model: setup
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q -p no:xdist tests/model $(PYTEST_ARGS)

# The README's two screenshots, copied from the browser tests' folder (tests never write into docs/).
readme-screenshots: setup
	$(BIN)/python -m pytest -q -p no:xdist tests/web/test_browser.py -k carried_from_registration_to_closed
	mkdir -p docs/screenshots
	cp tests/screenshots/item-desktop.png docs/screenshots/item-desktop.png
	cp tests/screenshots/items-phone.png docs/screenshots/list-phone.png

# What axe-core finds on /docs (Swagger UI's own page): printed, not failed on.
axe-docs: setup
	$(BIN)/python -m pytest -q -s -p no:xdist -m report tests/web/test_accessibility.py

check-workflows: setup
	$(BIN)/closeloop workflows check workflows

# Every benchmark, several runs each, then one table of figures, targets and ratios (an hour or more: the
# benchmarks fill databases of 1,000,000 items). BENCH_ARGS='--only transitions,sweep' or '--quick' runs a part.
bench: $(VENV)/.bench-installed
	$(BIN)/python bench/table.py $(BENCH_ARGS)

# fire() and transitions over HTTP on SQLite, one run (a minute or two).
bench-transitions: setup
	$(BIN)/python bench/transitions.py

# The reminder sweep at 1,000,000 items (a few minutes, most of it seeding the database).
bench-sweep: setup
	$(BIN)/python bench/sweep.py

# Offline verification of a 1,000,000-record bundle and its export's peak memory (a few minutes, most of it seeding).
bench-audit: setup
	$(BIN)/python bench/audit_verify.py

# The item list at 1,000,000 items on SQLite and PostgreSQL: p50/p95 of every documented filter's first and next
# page (seeding takes most of it: bench/seed.py; LISTS_ARGS='--items 100000 --store sqlite' runs a part).
bench-lists: setup
	$(BIN)/python bench/lists.py $(LISTS_ARGS)

# Transitions over HTTP on a durable PostgreSQL (2 API processes, 32 clients) against pgbench's TPC-B-like rate on the
# same server in the same run, and each API process's memory at 1,000,000 items. The filled cluster is kept in
# PG_BENCH_CACHE (seeding takes minutes once; later runs copy it); PG_ARGS='--items 2000' runs a small one.
PG_BENCH_CACHE ?= /tmp/closeloop-bench-cache
bench-pg: setup
	$(BIN)/python bench/pg_http.py --cache $(PG_BENCH_CACHE) $(PG_ARGS)

# Evidence files: upload MB/s, the peak memory of an export carrying 200 MB of them, offline check MB/s.
bench-evidence: setup
	$(BIN)/python bench/evidence.py

# The 台账 ledger at 100,000 rows: import seconds, export seconds and the exporting process's peak memory.
bench-ledger: setup
	$(BIN)/python bench/ledger.py

# closeloop against SpiffWorkflow: the six-step lifecycle on SQLite, one durable commit per step, items/s and peak
# memory of each in its own process (1,000 items x 3 runs a side: 1-4 minutes; SPIFF_ARGS='--items 300 --rounds 1').
$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench-spiff: $(VENV)/.bench-installed
	$(BIN)/python bench/vs_spiff.py $(SPIFF_ARGS)

# Bounded schemathesis run against a served demo (FUZZ_ARGS='--max-time 600 --seed 1' changes the bounds);
# exits non-zero when any schemathesis check but positive-data acceptance fails (5xx, answers unlike the document...).
$(VENV)/.fuzz-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	touch $@

fuzz: $(VENV)/.fuzz-installed
	$(BIN)/python tests/fuzz/run_fuzz.py $(FUZZ_ARGS)

# Ten minutes of mixed load from 32 clients against 2 API processes and 1 worker on a durable PostgreSQL of its
# own (SOAK_ARGS='--seconds 120' for a short one): zero 5xx, memory flat, the history replays to the states.
soak: setup
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

# The SIGKILL test of `make test` at a larger size (CRASH_TRANSITIONS=10000 by default).
crash: setup
	CLOSELOOP_CRASH_TRANSITIONS=$${CRASH_TRANSITIONS:-10000} $(BIN)/python -m pytest -p no:xdist -s tests/e2e/test_crash.py

# Every installed dependency's version checked against PyPI's advisories by pip-audit, in a venv of its own so that
# its dependencies do not mix with closeloop's. --strict: a dependency it could not look up fails the check.
audit-deps: setup
	$(PYTHON) -m venv .venv-audit
	.venv-audit/bin/python -m pip install --quiet 'pip-audit>=2.7'
	$(BIN)/python -m pip freeze --exclude-editable > .venv-audit/requirements.txt
	.venv-audit/bin/pip-audit --strict --no-deps --disable-pip -r .venv-audit/requirements.txt

clean:
	rm -rf $(VENV) .venv-audit *.egg-info .pytest_cache closeloop.db closeloop.db-wal closeloop.db-shm

lint: setup
	$(BIN)/python -m pip install --quiet 'ruff>=0.8'
	$(BIN)/ruff check engine api bench tests migrations
