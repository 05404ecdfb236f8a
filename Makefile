# Set-up and the two entry points the README promises. Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-all clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[mobile,prune,fleet]'
	touch $(STAMP)

setup: $(STAMP)

# The main job: measure the default zoo subset on this CPU into SQLite, then write a report.
demo: $(STAMP)
	$(BIN)/bench run --device cpu --models default --db bench-out/results.sqlite
	$(BIN)/bench report --db bench-out/results.sqlite --out bench-out/report

# The default test run (slow tests excluded; `make test-all` runs them too).
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) bench-out
