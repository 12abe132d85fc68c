# lwlc — set-up, demo and tests. Each target creates .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

# lwlc's bytecode, as `pip install .` writes it for an installed package: where
# PYTHONDONTWRITEBYTECODE is set, every process (each CLI call of the tests) would otherwise
# compile lwlc's sources again (0.2 s of a `lwlc train`). Stale files are recompiled.
BYTECODE := $(BIN)/python -m compileall -q lwlc backends

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(BYTECODE)
	$(BIN)/python -m lwlc.demo

test: $(STAMP)
	$(BIN)/ruff check lwlc backends tests bench
	@$(BYTECODE)
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

# Speed of every case and backend side by side (a few minutes; see docs/performance.md):
# prints the table and writes bench/out/bench.{json,md,png}. ARGS="--quick" for a short run.
bench: $(STAMP)
	$(BIN)/python bench/bench.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check lwlc backends tests bench

clean:
	rm -rf $(VENV) build *.egg-info
