# Two set-up commands for a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SEED := ../shared/seeds/000_6a99d0bb3ce2a896.txt

.PHONY: run test typecheck bench fuzz clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	test -f schedules/34-kh-ubnd-2024.toml || $(BIN)/notifier import $(SEED) --approve
	$(BIN)/notifier check
	$(BIN)/notifier run

# The suite, then the type check (pyproject.toml [tool.mypy]); pytest's own exit status (5:
# nothing collected) is kept, and a type error fails a green suite.
test: $(STAMP)
	$(BIN)/python -m pytest -q; status=$$?; \
	echo "== mypy"; $(BIN)/mypy || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

typecheck: $(STAMP)
	$(BIN)/mypy

# Each benchmark installs and starts its own anchors (dateparser, nginx, wrk, Radicale, postfix).
BENCHES := timing import feeds planner delivery memory pages faults multi

# Every benchmark runs even when one misses its target; the failing ones are named at the end.
bench: $(STAMP)
	failed=""; for b in $(BENCHES); do echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "benchmarks short of target or failed:$$failed"; exit 1; fi

# Fuzz every parser: FUZZ_BATCHES × 10,000 inputs each (docs/security.md); 10 batches = 100,000.
FUZZ_BATCHES ?= 1
fuzz: $(STAMP)
	$(BIN)/pip install -q -e '.[fuzz]' || echo "atheris unavailable: the plain mutator runs instead"
	$(BIN)/python tests/fuzz/run.py --batches $(FUZZ_BATCHES)

clean:
	rm -rf $(VENV) var
