PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PORT ?= 8000

.PHONY: run dev status test harness install setup lint format bench messages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

setup: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_runbook_defaults
	$(BIN)/python manage.py ensure_demo_admin
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py check_escalation

run: setup
	@echo ""
	@echo "  Hikeshi is starting:"
	@echo "    admin     http://127.0.0.1:$(PORT)/admin/"
	@echo "    API docs  http://127.0.0.1:$(PORT)/api/docs/"
	@echo "    board     http://127.0.0.1:$(PORT)/ops/monitoring"
	@echo "    analytics http://127.0.0.1:$(PORT)/ops/analytics"
	@echo "    health    http://127.0.0.1:$(PORT)/api/health"
	@echo ""
	SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} exec $(BIN)/python -m config.supervise --port $(PORT)

# Development: DEBUG on, runserver reloading on every change, the same workers beside it.
dev: export DEBUG = true
dev: setup
	SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} exec $(BIN)/python -m config.supervise --port $(PORT) --dev

# What `make run` supervises, and since when (run in a second terminal).
status:
	$(BIN)/supervisorctl --configuration $${HIKESHI_VAR_DIR:-var}/supervisord.conf status

# Ends with the harness table too: the guarantees' figures of this very run.
test: install
	$(BIN)/python -m pytest --harness $(PYTEST_ARGS)

# The guarantees proven: faults, hostile input, permissions; one table of figures at the end.
harness: install
	$(BIN)/python -m pytest -m "faults or hostile" --harness $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -c bandit.yaml -r . --severity-level medium

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	@# seed.py fills the database DATABASE_URL names: it runs when asked (history.py uses it).
	@for script in bench/[!_]*.py; do [ $$script = bench/seed.py ] && continue; echo "== $$script"; $(BIN)/python $$script || exit 1; done

messages: install
	$(BIN)/python manage.py makemessages -l ja -l en -e py,html,txt,md --ignore=.venv --ignore=var --ignore=tests --ignore=bench
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var
