# Hookway: `make dev` runs the whole pipeline locally, `make test` runs every test from scratch.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-pip.txt requirements.txt requirements-dev.txt pyproject.toml | $(PYTHON) -c "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")

.PHONY: install lock dev test lint typecheck unit integration e2e bench package deploy destroy clean

## Every package, pip included, comes from a lock that pins it with its hashes (make lock writes them).
$(STAMP): requirements-pip.txt requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-pip.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	# The `hookway` CLI, editable, so .venv/bin/hookway runs the working tree (its deps are pinned above).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## The hashed locks from the human-edited inputs (*.in): one resolution for Python 3.11 to 3.13 on any
## platform (markers where they differ), every transitive dependency pinned with the hashes of all its
## files. requirements.txt is the Lambda's; the dev lock takes its versions as constraints. Keeps the
## pins it can; UPGRADE=1 takes the newest versions the inputs allow.
LOCK = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(filter 1 true yes,$(UPGRADE)),--upgrade)
lock: $(STAMP)
	$(LOCK) requirements-pip.in -o requirements-pip.txt
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) -c requirements-pip.txt -c requirements.txt requirements-dev.in -o requirements-dev.txt

## Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it downloads no browser),
## and axe-core from npm (package-lock.json) for their accessibility checks.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP) /usr/bin/chromium node_modules/.package-lock.json

## The whole local pipeline: AWS emulator (moto server), API on :8000 (HOOKWAY_PORT), queue workers.
## Only the Python environment: the browser and npm are for the browser tests (make install, make test).
dev: $(STAMP)
	$(PY) -m local dev $(if $(filter 1 true yes,$(FRESH)),--fresh) $(ARGS)

## Lint, type-check and every test suite (unit, integration on moto server, end to end on the local stack).
## The 25 slowest tests are listed at the end, so a slow test shows in every CI log.
test: install lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e

## Figures: verification cost, handler CPU, import time, AWS calls per webhook, local API latency.
bench: install
	$(PY) -m bench

## The deploy artifact (chalice package + the stage's infrastructure, python3.13 on arm64 unless the stage
## sets "architecture": "x86_64"), checked by cfn-lint.
package: $(STAMP)
	$(PY) -m infra.package --stage $(or $(STAGE),dev)

## Deploy a stage from zero or update it: infrastructure stack, chalice deploy (python3.13, arm64 by default),
## the functions' JSON log configuration, API settings.
## OPTIONS='{"http_api": true}' overrides infra/stages.json; honours AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL.
deploy: $(STAMP)
	$(PY) -m infra.deploy deploy --stage $(or $(STAGE),$(error give STAGE=dev or STAGE=prod)) --options '$(OPTIONS)'

## Remove a stage (stages with retain_data in infra/stages.json keep their table and bucket).
destroy: $(STAMP)
	$(PY) -m infra.deploy destroy --stage $(or $(STAGE),$(error give STAGE=dev or STAGE=prod))

clean:
	rm -rf build .local .pytest_cache .mypy_cache .ruff_cache
