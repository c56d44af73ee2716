# schoolops developer commands. `make help` lists them.
#
#   make run    the whole product on this machine: SQLite, Celery eager, no services, demo logins
#   make test   the test suite on PostgreSQL + Redis (started or installed by scripts/ensure-services.sh),
#               browser tests in Debian's Chromium (installed by scripts/ensure-browser.sh)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Stamps record which requirements file the venv was last installed from; pip runs again only
# when that file is newer than its stamp.
RUNTIME_STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev

PORT ?= 8000
# Settings keep DEBUG off unless DJANGO_DEBUG turns it on. Every target here is for development
# (run, migrate, worker, beat, migrations-check, bench) and needs it on; check-deploy sets 0 itself
# and test always 1. A value already in the environment wins.
DJANGO_DEBUG ?= 1
export DJANGO_DEBUG
PYTEST_ARGS ?=
# The services `make test` uses. The test database (test_<name>) is created by pytest-django;
# the named database itself need not exist.
TEST_DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/schoolops
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# The broker for `make worker` / `make beat` when REDIS_URL is not already set.
REDIS_URL ?= redis://127.0.0.1:6379/0
# The Celery queues `make worker` consumes (comma separated) and its worker processes: one worker
# for everything by default; `make worker QUEUES=payouts CONCURRENCY=2` for one queue, as the
# worker-payouts service of docker-compose.yml runs it.
QUEUES ?= payouts,notifications,documents,celery
CONCURRENCY ?= 2
comma := ,

.PHONY: help venv dev-venv migrate run test lint typecheck check-deploy migrations-check bench loadtest worker beat

help:
	@echo "make run               serve the product on http://127.0.0.1:$(PORT)/ (SQLite, no services, demo data)"
	@echo "make test              run the tests on PostgreSQL + Redis, browser tests in Chromium  (PYTEST_ARGS=\"-k foo\" to narrow)"
	@echo "make lint              ruff check + ruff format --check"
	@echo "make typecheck         mypy with django-stubs (pyproject.toml [tool.mypy]), zero errors"
	@echo "make check-deploy      manage.py check --deploy with production settings, warnings fail"
	@echo "make migrations-check  fail if a model change has no migration"
	@echo "make bench             run every bench/bench_*.py"
	@echo "make loadtest          200 students + 30 staff (locust) against gunicorn on 100,000 requests (LOADTEST_ARGS=\"--run-time 2m\")"
	@echo "make worker / beat     a real Celery worker / beat against REDIS_URL ($(REDIS_URL));"
	@echo "                       start the web app with the same REDIS_URL=... make run to queue tasks to them;"
	@echo "                       QUEUES=payouts CONCURRENCY=2 for one queue (default: all four, 2 processes)"
	@echo "make migrate           apply migrations to the database (SQLite in var/ unless DATABASE_URL is set)"

# --- The virtualenv --------------------------------------------------------------------------

$(PY):
	@py=$$(command -v python3.11 || true); \
	if [ -z "$$py" ] && command -v python3 >/dev/null \
	   && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then py=$$(command -v python3); fi; \
	if [ -z "$$py" ]; then \
	  echo "error: schoolops needs Python 3.11: neither python3.11 nor a python3 of version 3.11 was found." >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $$py"; \
	if ! "$$py" -m venv $(VENV); then \
	  rm -rf $(VENV); \
	  echo "error: '$$py -m venv' failed. On Debian/Ubuntu: sudo apt-get install python3.11-venv" >&2; \
	  exit 1; \
	fi

$(RUNTIME_STAMP): requirements.txt | $(PY)
	@echo "Installing requirements.txt into $(VENV)"
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	@echo "Installing requirements-dev.txt into $(VENV)"
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

venv: $(RUNTIME_STAMP)
dev-venv: $(DEV_STAMP)

# --- Running it ------------------------------------------------------------------------------

migrate: $(RUNTIME_STAMP)
	$(PY) manage.py migrate --noinput

run: migrate
	@bash scripts/ensure-pdf.sh || echo "warning: e-receipt PDFs cannot be rendered until Pango and a CJK font are installed (see scripts/ensure-pdf.sh)" >&2
	@if command -v msgfmt >/dev/null; then \
	  echo "$(PY) manage.py compilemessages"; \
	  $(PY) manage.py compilemessages --ignore=$(VENV) --ignore=var --ignore=staticfiles --ignore=node_modules; \
	else \
	  echo "msgfmt not found: using the committed .mo files"; \
	fi
	@DJANGO_DEBUG=1 PY=$(PY) PORT=$(PORT) exec bash scripts/run-dev.sh

worker: migrate
	REDIS_URL=$(REDIS_URL) exec $(VENV)/bin/celery -A schoolops worker -l info \
	  -Q $(QUEUES) --concurrency=$(CONCURRENCY) --hostname=$(subst $(comma),-,$(QUEUES))@%h

beat: migrate
	REDIS_URL=$(REDIS_URL) exec $(VENV)/bin/celery -A schoolops beat -l info

# --- Checks ----------------------------------------------------------------------------------

test: $(DEV_STAMP)
	@bash scripts/ensure-services.sh
	@bash scripts/ensure-browser.sh
	@rc=0; \
	DJANGO_DEBUG=1 DATABASE_URL='$(TEST_DATABASE_URL)' REDIS_URL='$(TEST_REDIS_URL)' $(VENV)/bin/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy

# Production variables, with throwaway random secrets. Nothing connects to the database.
check-deploy: $(RUNTIME_STAMP)
	@secret=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))'); \
	lp_secret=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	order_secret=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	echo "manage.py check --deploy --fail-level WARNING  (DJANGO_DEBUG=0, random secrets, hosts schoolops.example.com)"; \
	DJANGO_DEBUG=0 \
	DJANGO_SECRET_KEY="$$secret" \
	DJANGO_ALLOWED_HOSTS=schoolops.example.com \
	DJANGO_CSRF_TRUSTED_ORIGINS=https://schoolops.example.com \
	LEARNING_PLATFORM_SECRET="$$lp_secret" \
	SCHOOLOPS_ORDER_SYSTEM_SECRET="$$order_secret" \
	DATABASE_URL=postgres://schoolops:schoolops@127.0.0.1:6432/schoolops \
	DATABASE_POOLER=transaction \
	DATABASE_REPLICA_URL=postgres://schoolops:schoolops@127.0.0.1:5433/schoolops \
	REDIS_URL=redis://127.0.0.1:6379/0 \
	$(PY) manage.py check --deploy --fail-level WARNING

migrations-check: $(RUNTIME_STAMP)
	$(PY) manage.py makemigrations --check --dry-run

bench: $(DEV_STAMP)
	@shopt -s nullglob; files=(bench/bench_*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "No bench/bench_*.py yet."; exit 0; fi; \
	for f in "$${files[@]}"; do \
	  echo "==> $$f"; \
	  DJANGO_DEBUG=1 PYTHONPATH=$(CURDIR) $(PY) "$$f" || exit $$?; \
	done

# Not part of test or .ci/run: minutes of load on the whole machine. Its own database
# (LOADTEST_DATABASE_URL, default schoolops_load, generated once) and Redis (LOADTEST_REDIS_URL, db 5).
LOADTEST_ARGS ?=
loadtest: $(DEV_STAMP)
	@bash scripts/ensure-services.sh
	PYTHONPATH=$(CURDIR) $(PY) loadtest/run.py $(LOADTEST_ARGS)
