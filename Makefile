# Two set-up commands that work on a fresh machine with Python 3.11 and make:
#   make run   creates .venv, installs, serves the bundled demo news site on 127.0.0.1 and polls it into
#              data/demo.db (no network, no Prefect server), then prints queries to try
#   make poll  polls the real feeds of config/feeds.yaml once into data/archive.db
#   make test  creates .venv, installs, runs the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Prefect phones home unless told not to; these machines are offline.
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install run poll demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# an editable install leaves the bytecode to the first run, and none is written where
	# PYTHONDONTWRITEBYTECODE is set: compiled here, as pip does for a regular install (~50 ms a command)
	$(BIN)/python -m compileall -q src flows
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ingest demo --db sqlite:///data/demo.db

demo: run

poll: $(STAMP)
	$(BIN)/ingest poll --config config/feeds.yaml

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
test: $(STAMP)
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "make test: no tests ran" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src flows tests bench

bench: $(STAMP)
	$(BIN)/python bench/poll_corpus.py

clean:
	rm -rf $(VENV) data build *.egg-info src/*.egg-info
