# The two commands a newcomer needs: `make run` (the example app) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,server,bench]'
	touch $@

.PHONY: install run test lint typecheck bench bench-quick

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/erlen --app examples/hello/app.py run --host 127.0.0.1 --port 5000

lint: $(VENV)/.installed
	$(PY) -m ruff check src tests bench examples
	$(PY) -m ruff format --check src tests bench examples

typecheck: $(VENV)/.installed
	$(PY) -m mypy

test: lint typecheck
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m bench --plot docs/bench.png

bench-quick: $(VENV)/.installed
	$(PY) -m bench --quick
