# Patron — the two commands a fresh machine needs:
#   make run    set everything up, start Patron with demo data at http://127.0.0.1:8000
#   make test   set everything up (Chromium included), then lint, type-check and test

UV_VERSION := 0.13.9
SYSTEM_UV := $(shell command -v uv 2>/dev/null)
UV := $(if $(SYSTEM_UV),$(SYSTEM_UV),tools/venv/bin/uv)
PY := .venv/bin/python
VENDOR_STAMP := patron/web/static/vendor/.stamp

.PHONY: run test setup assets lint typecheck pytest browser-deps bench clean

run: setup
	$(UV) run --frozen patron serve

test: setup browser-deps lint typecheck pytest

setup: .venv/.stamp $(VENDOR_STAMP)

tools/venv/bin/uv:
	python3 -m venv tools/venv
	tools/venv/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.stamp: pyproject.toml uv.lock $(if $(SYSTEM_UV),,tools/venv/bin/uv)
	$(UV) sync --frozen
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund

$(VENDOR_STAMP): node_modules/.package-lock.json patron/web/assets.py .venv/.stamp
	$(PY) -m patron.web.assets node_modules
	touch $@

assets: $(VENDOR_STAMP)

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's Chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

lint:
	$(UV) run --frozen ruff check patron tests bench migrations
	$(UV) run --frozen ruff format --check patron tests bench migrations

typecheck:
	$(UV) run --frozen mypy

pytest:
	$(UV) run --frozen pytest
	@if [ -n "$$PATRON_TEST_DATABASE_URL" ]; then \
	  echo "Running the suite again against $$PATRON_TEST_DATABASE_URL"; \
	  PATRON_TEST_DATABASE=url $(UV) run --frozen pytest; fi

bench: setup
	$(UV) run --frozen python -m bench

clean:
	rm -rf .venv node_modules patron/web/static/vendor tools .pytest_cache .mypy_cache .ruff_cache
