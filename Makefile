# stallscope: `make demo` runs the embedded default end to end, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help venv system-deps test unit demo clean

help:
	@echo "make demo   run the simulated prime-rl stack on this machine and print a diagnosis"
	@echo "make test   install what is missing, then run every test"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

system-deps:
	./scripts/install-system-deps.sh

unit: venv
	$(PY) -m pytest -q -m "not slow and not needs_root"

test: venv system-deps
	$(PY) -m pytest -q

demo: venv system-deps
	rm -rf demo
	$(BIN)/stallscope-sim all --out demo/run
	$(BIN)/stallscope analyze demo/run --out demo/analysis

clean:
	rm -rf demo .pytest_cache
