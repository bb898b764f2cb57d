# understudy: the README's two commands are `make demo` and `make test`.
# Each sets itself up: a .venv from a Python >= 3.12 found on the machine, the project and its
# test extras installed into it, and the system programs the tests drive.

VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install system-deps lint test soak bench demo clean

$(STAMP): pyproject.toml
	@test -x $(PYTHON) && $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
	  || { rm -rf $(VENV); "$$(scripts/find-python)" -m venv $(VENV); }
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@scripts/ensure-system-deps

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check understudy recorder replayer analysis
	$(VENV)/bin/mypy

test: lint system-deps
	$(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

soak: install system-deps
	$(PYTHON) -m pytest -q -p no:cacheprovider -m slow $(PYTEST_ARGS)

bench: install system-deps
	$(PYTHON) benchmarks/run_all.py

demo: install system-deps
	$(VENV)/bin/understudy demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
