# Two commands on a fresh machine: `make run` and `make test`.
# Both create .venv on first use and install the pinned dependency tree (constraints.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean lock

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing wxlogin and its pinned dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

## run: start wxlogin on embedded defaults (SQLite + the built-in WeChat simulator)
run: $(STAMP)
	$(BIN)/wxlogin dev

## test: ruff, mypy --strict, then pytest on SQLite+memory and (when reachable) PostgreSQL+Redis
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	@$(BIN)/python scripts/run_tests.py

bench: $(STAMP)
	$(BIN)/python bench/simulator_code2session.py

## lock: re-resolve the pinned tree after changing pyproject.toml
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet -e '.[dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^wxlogin' > constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build dist src/*.egg-info
