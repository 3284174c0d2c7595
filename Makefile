# stallscope: `make demo` runs the embedded default end to end, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help venv system-deps test unit demo clean

help:
	@echo "make demo   run the simulated prime-rl stack on this machine with the playbooks and print its diagnosis"
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

# The main job on the embedded default: the simulated prime-rl stack on this machine, started by
# run_experiment.yml, left to finish, stopped cleanly, collected and diagnosed.
demo: venv system-deps
	$(BIN)/ansible-playbook playbooks/run_experiment.yml
	$(BIN)/ansible-playbook playbooks/status.yml -e wait=true
	$(BIN)/ansible-playbook playbooks/stop_experiment.yml
	$(BIN)/ansible-playbook playbooks/collect_and_analyze.yml
	@echo
	@awk '/^## Findings/ {exit} {print}' runs/latest/analysis/SUMMARY.md
	@echo "Full report: runs/latest/analysis/SUMMARY.md"
	@if [ -f runs/latest/analysis/report.html ]; then echo "Report page: $$(realpath runs/latest/analysis/report.html)"; fi

clean:
	rm -rf .pytest_cache
