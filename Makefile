# Every target sets itself up: a virtualenv in .venv with the pinned dependencies, and node_modules
# with the pinned JavaScript tooling (ESLint, TypeScript for the .d.ts check; package-lock.json).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM ?= npm
NODE ?= node
NODE_STAMP := node_modules/.installed
ESLINT := node_modules/.bin/eslint
TSC := node_modules/.bin/tsc
# node's own test runner over the browser SDK's unit tests (tests/web/**/*.test.js)
JS_TESTS = $(shell find tests/web -name '*.test.js' | sort)

.PHONY: run cluster test test-install test-js lint typecheck bench bench-quick bench-quality bench-e2ee fuzz fuzz-capture soak chaos reliability-report clean setup

$(STAMP): pyproject.toml setup.py src/relayroom/media/native/_fanout.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# npm ci when node_modules is missing or package.json/package-lock.json changed
$(NODE_STAMP): package.json package-lock.json
	@command -v $(NPM) >/dev/null 2>&1 || { echo "npm is missing: install Node.js >= 18.18 with npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	$(NPM) ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

setup: $(STAMP) $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/relayroom serve --dev

# Three nodes on this machine against the local PostgreSQL (database relayroom_dev_cluster, created if
# absent) and Redis (127.0.0.1:6379/0, keys under relayroom-dev:); ports 8081-8083 (docs/cluster.md).
CLUSTER_NODES ?= 3
cluster: $(STAMP)
	$(BIN)/python -m relayroom.cluster.dev --nodes $(CLUSTER_NODES)

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check src tests bench
	$(ESLINT) .
	$(BIN)/mypy
	$(TSC) -p tests/web/sdk
	$(NODE) --test --test-reporter=spec $(JS_TESTS)
	$(BIN)/pytest -q -m 'not install'

# What an installed RelayRoom does: the wheel in a fresh venv, the Dockerfile's install steps (minutes
# each, mostly pip; CI runs it after `make test`).
test-install: $(STAMP)
	$(BIN)/pytest -q -m install

test-js: $(NODE_STAMP)
	$(NODE) --test --test-reporter=spec $(JS_TESTS)

lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check src tests bench
	$(ESLINT) .

# mypy, and the browser SDK's TypeScript declarations through a usage file (tsc --strict)
typecheck: $(STAMP) $(NODE_STAMP)
	$(BIN)/mypy
	$(TSC) -p tests/web/sdk

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

bench-quality: $(STAMP)
	$(BIN)/python -m bench.quality

# CPU cost of end-to-end encryption in the Python SDK, against encoding/decoding the same frames
bench-e2ee: $(STAMP)
	$(BIN)/python -m bench.e2ee

# Coverage-guided fuzzing of every parser (FUZZ_SECONDS in all, default 10 min), then schemathesis
# against a real server (FUZZ_API_EXAMPLES cases per operation and mode). Each run appends what it did
# to tests/fuzz/ledger.jsonl (executions, cases, crashes, commit, machine).
FUZZ_SECONDS ?= 600
FUZZ_API_EXAMPLES ?= 30
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS) --ledger tests/fuzz/ledger.jsonl; p=$$?; \
	$(BIN)/python -m tests.fuzz.api --examples $(FUZZ_API_EXAMPLES) --ledger tests/fuzz/ledger.jsonl; a=$$?; \
	exit $$((p || a))

# Re-record the seed corpora from a real local call (tests/fuzz/corpus/).
fuzz-capture: $(STAMP)
	$(BIN)/python -m tests.fuzz.capture

# Soak: a real server with rooms churning for SOAK_MINUTES (default 30), sampled for RSS, fds, tasks,
# objects and worker object counts; fails on growing trends or objects left after the rooms closed.
# Writes $(SOAK_OUT)/soak.json and soak.png (docs/reliability.md explains the thresholds).
SOAK_MINUTES ?= 30
SOAK_OUT ?= soak-out
soak: $(STAMP)
	nice -n 10 $(BIN)/python -m tests.soak.run --minutes $(SOAK_MINUTES) --out $(SOAK_OUT)

# Chaos scenarios with their expected outcomes asserted (tests/chaos/): the long ones (control-plane
# SIGKILL and restart, disk full, a private PostgreSQL stopped and started) only run here.
chaos: $(STAMP)
	mkdir -p chaos-out
	RELAYROOM_CHAOS=1 nice -n 10 $(BIN)/pytest -q -p no:cacheprovider --junitxml=chaos-out/junit.xml \
		tests/chaos tests/client/test_client_features.py::test_worker_death_members_enter_again_by_themselves_with_media_flowing

# docs/reliability.md (+ docs/reliability-soak.png) from the fuzz ledger, $(SOAK_OUT)/soak.json and
# chaos-out/junit.xml: run `make fuzz`, `make soak` and `make chaos` first for a complete report.
reliability-report: $(STAMP)
	$(BIN)/python -m tests.reliability_report --soak $(SOAK_OUT)/soak.json --chaos chaos-out/junit.xml

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info .fuzz
