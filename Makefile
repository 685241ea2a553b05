# Two commands on a fresh machine: `make run` and `make test`.
# Both create .venv on first use and install the pinned dependency tree (constraints.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean lock

# The first install takes a minute or two: pip says what it is doing, a line per package,
# rather than sitting silent.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing wxlogin and its pinned dependencies into $(VENV) (a minute or two the first time) ..."
	@$(BIN)/python -m pip install --progress-bar off --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

## run: start wxlogin on embedded defaults (SQLite + the built-in WeChat simulator);
## `make run PORT=8001 SIM_PORT=8901` to use other ports
PORT     ?= 8000
SIM_PORT ?= 8900
run: $(STAMP)
	$(BIN)/wxlogin dev --port $(PORT) --sim-port $(SIM_PORT)

## test: ruff, mypy --strict, then pytest on SQLite+memory and (when reachable) PostgreSQL+Redis,
## the mini-program SDK's node tests (jstest) and /demo in chromium (browsertest)
test: lint typecheck pytest jstest browsertest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	@$(BIN)/python scripts/run_tests.py

## jstest: the mini-program SDK (clients/miniprogram): its committed CommonJS build is fresh,
## its types check against miniprogram-api-typings, and node's test runner drives it on a fake
## wx / uni against real `wxlogin simulate` and `wxlogin serve` processes (from .venv; the
## payment tests against `wxlogin dev`, whose WeChat Pay merchant is wired on both sides)
.PHONY: jstest
SDK_DIR   := clients/miniprogram
SDK_STAMP := $(SDK_DIR)/node_modules/.installed

$(SDK_STAMP): $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json
	@echo "installing the mini-program SDK's locked dev dependencies (npm ci) ..."
	@cd $(SDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(SDK_STAMP)

jstest: $(STAMP) $(SDK_STAMP)
	@cd $(SDK_DIR) && node scripts/build-cjs.mjs --check && npx --no-install tsc -p tsconfig.json \
		&& node --test test/*.test.mjs

## browsertest: `wxlogin dev`'s /demo clicked through in Debian's chromium by playwright-core
## (tests/browser): login, phone, avatar, nickname, protected call, subscribe message, buying
## with WeChat Pay (pay and cancel), refresh, logout. Installs
## chromium with apt when /usr/bin/chromium is missing (never a downloaded browser build), and a
## small CJK font so the screenshots are legible. Screenshots: tests/browser/artifacts/.
## Under CI=true a browser that cannot run fails the test; elsewhere it is skipped, loudly.
.PHONY: browsertest
BROWSER_DIR   := tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.installed
CHROMIUM      := /usr/bin/chromium

$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	@echo "installing the browser test's locked dependencies (npm ci: playwright-core, no browser) ..."
	@cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(BROWSER_STAMP)

browsertest: $(STAMP) $(BROWSER_STAMP)
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium (apt) ..."; \
		apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "could not install chromium: the browser test will say what that means"; }
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
		apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1; } || \
		echo "no CJK font: the screenshots will show boxes for the Chinese labels"; }
	@cd $(BROWSER_DIR) && node --test --test-concurrency=1 demo.test.mjs

## bench: wxlogin side by side with the tutorial servers (bench/side_by_side.py, ~4-5 min)
# The tutorial servers and the chart get their own virtualenv (bench/.venv) and node_modules,
# pinned in bench/requirements.txt and bench/tutorials/express_login/package-lock.json.
BENCH_VENV  := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed
EXPRESS_DIR := bench/tutorials/express_login
NODE_STAMP  := $(EXPRESS_DIR)/node_modules/.installed

$(BENCH_STAMP): bench/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	@echo "installing the bench's pinned tutorial servers and chart into $(BENCH_VENV) ..."
	@$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $(BENCH_STAMP)

$(NODE_STAMP): $(EXPRESS_DIR)/package.json $(EXPRESS_DIR)/package-lock.json
	@echo "installing the Express tutorial server's locked dependencies (npm ci) ..."
	@cd $(EXPRESS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

bench: $(STAMP) $(BENCH_STAMP) $(NODE_STAMP)
	@command -v wrk >/dev/null || { echo "installing wrk (apt) ..."; \
		apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
	$(BIN)/python bench/side_by_side.py $(BENCH_ARGS)

## lock: re-resolve the pinned tree after changing pyproject.toml
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet -e '.[dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^wxlogin' > constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(EXPRESS_DIR)/node_modules $(BROWSER_DIR)/node_modules $(BROWSER_DIR)/artifacts .mypy_cache .ruff_cache build dist src/*.egg-info
