# stallscope: `make demo` runs the embedded default end to end, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help venv system-deps test unit demo clean

help:
	@echo "make demo   the closed loop on this machine: a simulated run, its diagnosis, the fix, and the verdict"
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

# The closed loop on the embedded default: the simulated prime-rl stack on this machine runs as a
# baseline (launched, left to finish, stopped, collected, diagnosed), the fix its profile lists for
# the diagnosis runs as a variant the same way, and the verdict says whether it helped, with the
# figures before -> after (validate_fix.yml -e baseline=new).
demo: venv system-deps
	$(BIN)/ansible-playbook playbooks/validate_fix.yml -e baseline=new
	@echo
	@if [ -f runs/latest/fix_verdict.md ]; then cat runs/latest/fix_verdict.md; fi
	@if [ -f runs/latest/compare.html ]; then echo "Before/after page: $$(realpath runs/latest/compare.html)"; fi
	@if [ -f runs/latest/analysis/report.html ]; then echo "Variant's report page: $$(realpath runs/latest/analysis/report.html)"; fi

clean:
	rm -rf .pytest_cache
