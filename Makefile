# Omni — the two commands of the README:
#   make demo   virtualenv + install + migrate + demo data + serve http://127.0.0.1:8000 (SQLite)
#   make test   virtualenv + install + start PostgreSQL/Redis (+ Chromium) + the whole suite
# The virtualenv's interpreter: an optimised system CPython where there is one (scripts/python.sh).
PYTHON ?= $(shell bash scripts/python.sh)
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/omni
HOST ?= 127.0.0.1:8000

.PHONY: demo test install install-dev services lint format messages bench

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

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Omni: admin http://$(HOST)/admin/  API http://$(HOST)/api/v1/  docs http://$(HOST)/api/docs/"
	$(BIN)/python manage.py runserver $(HOST)

services:
	bash scripts/services.sh

test: install-dev services
	DATABASE_URL=$(TEST_DATABASE_URL) bash scripts/test.sh $(ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: install
	$(BIN)/python manage.py makemessages -l es --ignore '$(VENV)/*' --ignore 'tests/*' --ignore 'bench/*'
	$(BIN)/python manage.py compilemessages --ignore '$(VENV)/*'
