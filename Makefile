# Omni — the two commands of the README:
#   make demo   virtualenv + install + embedded PostgreSQL (.pgdata/) + migrate + demo data +
#               serve http://127.0.0.1:8000; `make demo HOST=127.0.0.1:8001` serves elsewhere
#   make test   virtualenv + install + start PostgreSQL/Redis (+ Chromium) + the whole suite
# The virtualenv's interpreter: an optimised system CPython where there is one (scripts/python.sh).
PYTHON ?= $(shell bash scripts/python.sh)
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/omni
HOST ?= 127.0.0.1:8000

.PHONY: demo demo-db demo-db-stop test install install-dev services lint format messages bench

$(BIN)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.runtime

install-dev: $(BIN)/.dev

# The embedded PostgreSQL runs while the demo does (scripts/demo.sh, scripts/embedded_pg.py);
# DATABASE_URL set in the environment or .env uses that database instead.
demo: install
	VENV=$(VENV) HOST=$(HOST) bash scripts/demo.sh

# The demo's database without the web server (for manage.py shell, dbshell, ...), and its stop.
demo-db: install
	$(BIN)/python scripts/embedded_pg.py start

demo-db-stop: install
	$(BIN)/python scripts/embedded_pg.py stop

services:
	bash scripts/services.sh

test: install-dev services
	DATABASE_URL=$(TEST_DATABASE_URL) bash scripts/test.sh $(ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: install
	$(BIN)/python manage.py makemessages -l es --ignore '$(VENV)/*' --ignore 'tests/*' --ignore 'bench/*'
	$(BIN)/python manage.py compilemessages --ignore '$(VENV)/*'
