# Two entry points for a fresh machine: `make demo` and `make test`, and `make check` to run
# between edits. Each creates .venv and installs what it needs on first use. `make test` also
# builds the documentation (`make docs`), so a broken page or reference fails it.
PYTHON ?= python3
# `make demo PORT=5001` when something else listens on 5000.
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
# The oldest redis-py that setup.cfg allows (`redis>=5.0` -> `redis==5.0.*`), in its own venv,
# so that a default that changes between redis-py versions shows up in CI, not in a lab.
OLDEST_REDIS_VERSION := $(shell sed -n 's/^ *redis>=\([0-9.]*\).*/\1/p' setup.cfg)
OLDEST_REDIS := redis==$(OLDEST_REDIS_VERSION).*
VENV_OLDEST := .venv-oldest
STAMP_OLDEST := $(VENV_OLDEST)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

# Warnings are errors; -E rereads every page, so the references generated from the code
# (configuration keys, CLI, API) are always rebuilt from the code of this checkout.
SPHINX := $(BIN)/sphinx-build -W --keep-going -E -q -b html docs docs/_build/html

# The fast layers for `make check`: pure code (protocol, configuration, the layering rules)
# and the RLMS client against a stub lab, in-process and over loopback. The Flask layer, the
# store, the runtime, whole-lab journeys, processes, outages and browsers run in `make test`.
FAST_TESTS := tests/protocol tests/config tests/rlms tests/test_layers.py tests/test_suite_honesty.py

.PHONY: demo check test test-oldest lint docs bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,docs]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

$(STAMP_OLDEST): setup.cfg pyproject.toml
	test -x $(VENV_OLDEST)/bin/python || $(PYTHON) -m venv $(VENV_OLDEST)
	$(VENV_OLDEST)/bin/pip install --quiet --upgrade pip
	$(VENV_OLDEST)/bin/pip install --quiet -e ".[test,docs]" "$(OLDEST_REDIS)"
	rm -f $(VENV_OLDEST)/.installed-* && touch $(STAMP_OLDEST)

demo: $(STAMP)
	$(BIN)/python examples/demo.py --port $(PORT)

# Lint, format, types (package and tests) and the fast tests: under 30 s, run it between edits.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -m "not slow and not browser" $(FAST_TESTS) $(PYTEST_ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(SPHINX)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

docs: $(STAMP)
	$(SPHINX)
	@echo "Documentation: docs/_build/html/index.html"

# The suite again on the oldest supported redis-py: every test but the browser ones and the
# slow multi-process tests that do not depend on the client library (packaging, docs
# quickstarts, gunicorn probes: `make test` runs them). The slow tests of the store layer,
# Redis Cluster and Sentinel failover, outages and durability do run here.
OLDEST_SLOW_TESTS := tests/store tests/system/test_scale_out.py tests/system/test_outage.py \
	tests/system/test_durability.py tests/system/test_devices_cluster.py \
	tests/system/test_handover_cluster.py tests/system/test_task_leases.py
test-oldest: $(STAMP_OLDEST)
	$(VENV_OLDEST)/bin/python -c "import redis, sys; print('redis-py', redis.__version__); sys.exit(not redis.__version__.startswith('$(OLDEST_REDIS_VERSION).'))"
	$(VENV_OLDEST)/bin/python -m pytest -m "not browser and not slow" $(PYTEST_ARGS)
	$(VENV_OLDEST)/bin/python -m pytest -m "slow and not browser" $(OLDEST_SLOW_TESTS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(VENV_OLDEST) build *.egg-info docs/_build
