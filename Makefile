# The two commands a newcomer needs: `make run` (the example app) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# What the example app needs: the dev server, SQLAlchemy, argon2 password hashing, Celery,
# Pydantic and the Swagger UI files (its typed JSON API).
$(VENV)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,sqlalchemy,auth,celery,openapi]'
	touch $@

# Everything the tests and the benchmark harness need.
$(VENV)/.installed: $(VENV)/.installed-run
	$(PY) -m pip install -q -e '.[test,server,sqlalchemy,auth,bench]'
	touch $@

.PHONY: install run test lint typecheck bench bench-quick ecosystem docs

install: $(VENV)/.installed

run: $(VENV)/.installed-run
	$(VENV)/bin/erlen --app examples/blog/erlenblog run --host 127.0.0.1 --port 5000

lint: $(VENV)/.installed
	$(PY) -m ruff check src tests bench examples
	$(PY) -m ruff format --check src tests bench examples

typecheck: $(VENV)/.installed
	$(PY) -m mypy

test: lint typecheck
	$(PY) -m pytest

# The documentation site in docs/_build/html (open index.html). Warnings are errors (-W),
# and so are cross-references that do not resolve (-n); -E rereads every page.
docs: $(VENV)/.installed
	$(PY) -m sphinx -E -W --keep-going -n -b html docs docs/_build/html

# Flask's and its extensions' release suites on Flask and on both of Erlen's doors (its own
# venv and downloads, cached in ~/.cache/erlen-ecosystem); `make test` runs them too.
ecosystem: $(VENV)/.installed
	$(PY) tests/ecosystem/eco_runner.py --write docs/_data/ecosystem.json --update-doc docs/flask-compat.md

bench: $(VENV)/.installed
	$(PY) -m bench --plot docs/bench.png

bench-quick: $(VENV)/.installed
	$(PY) -m bench --quick
