# The README's two commands: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export FLASK_APP := app

.PHONY: run up test production-check contract-check install assets lint check-migrations clean bench bench-guard openapi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## Front-end assets from npm (pinned in package.json): htmx, and Redoc for /api/docs.
static/vendor/.copied: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	# Redoc's sidebar shows Redocly's logo from their CDN; the copy asks for nothing
	# outside the portal (the image hides itself when it does not load).
	sed 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:,#' \
		node_modules/redoc/bundles/redoc.standalone.js > static/vendor/redoc.standalone.js
	touch $@

assets: static/vendor/.copied

install: $(VENV)/.installed static/vendor/.copied

## Install, prepare the SQLite database and demo data, start localstripe and the portal.
run: install
	./scripts/run.sh

## The production topology on one machine: web, worker and beat (Procfile, honcho) on
## PostgreSQL and Redis, started if installed and not running; migrations first.
up: install
	./scripts/up.sh

## Install and run every test (PostgreSQL, Redis, localstripe and Chromium tiers skip
## with a reason when their service is missing; CI requires them all).
test: install
	./scripts/test.sh

## `make up` on a fresh database: ready, a task run by the real worker, metrics, SIGTERM.
production-check: install
	./scripts/production-check.sh

## The live API against /api/v1/openapi.json: Schemathesis per role, a generated client's
## journey (tools in .venv-contract from requirements-contract.txt). CONTRACT_SEED=N again.
contract-check: install
	./scripts/contract-check.sh

## Every bench briefly (bench/run.py) and one table of figures against their goals; fails
## when a figure falls more than 25% short. BENCH_ARGS=--full for the long runs,
## --profile for pyinstrument profiles under bench/out/.
bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

## CI's regression guard: `make bench`, short, with each goal not met yet held at the
## level it has reached (bench/floors.json) instead of failing on the known miss.
bench-guard: install
	$(PY) -m bench.run --guard $(BENCH_ARGS)

## Write docs/openapi.json, the checked-in copy of /api/v1/openapi.json (a test diffs them).
openapi: install
	$(VENV)/bin/flask --app app openapi

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) node_modules static/vendor instance
