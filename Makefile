# Every target sets itself up: a virtualenv in .venv with the pinned dependencies.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench bench-quick bench-quality fuzz fuzz-capture clean setup

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/relayroom serve --dev

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

bench-quality: $(STAMP)
	$(BIN)/python -m bench.quality

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info .fuzz
