# The two commands the README opens with: `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install install-dev system-deps services locks demo test lint bench

install:
	$(PIP) install -q -e .

install-dev:
	$(PIP) install -q -e '.[dev]'

# Debian's Chromium for the browser test (Playwright drives /usr/bin/chromium; it never downloads a browser),
# a colour emoji font so emoji in sentences render on the annotator's page and in its screenshots, and
# Debian's PostgreSQL for the tests of Label Studio on PostgreSQL (they make their own cluster with initdb).
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] \
		|| ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium fonts-noto-color-emoji postgresql; \
	fi

# Label Studio and the embedded llama.cpp server, each in its own virtual environment installed from the
# lock shipped in the package; an environment that differs from its lock is re-created, so what the tests
# run is what a new machine gets.
services: install
	$(PYTHON) -m annotator labelstudio install --upgrade
	$(PYTHON) -m annotator llm install --upgrade

# Refresh the locks: the newest versions the services' requirements allow, their tests, then the new pins.
locks: install-dev
	$(PYTHON) -m annotator.services.relock labelstudio
	$(PYTHON) -m annotator.services.relock llm

demo: install
	$(PYTHON) -m annotator demo

# Every test: the in-process ones and those that need Label Studio, llama.cpp, Chromium, PostgreSQL
# or the package index (a plain `pytest` runs the in-process ones only).
test: install-dev system-deps services
	$(PYTHON) -m pytest --all

lint: install-dev
	ruff check annotator tests schemas benchmarks

bench: install-dev services
	$(PYTHON) -m benchmarks.run
