# Liveprop: `make run` starts the app, `make test` runs the whole test suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | md5sum | cut -c1-8)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat requirements.txt requirements-test.txt | md5sum | cut -c1-8)
PORT ?= 8501

.PHONY: chromium datasets run test test-fast test-browser lint bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(TEST_STAMP): requirements.txt requirements-test.txt | $(PY)
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

chromium:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for browser tests"; \
	  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }

# Fashion-MNIST offline: Debian/Ubuntu's package puts its IDX files in /usr/share/datasets
datasets:
	@test -d /usr/share/datasets/fashion-mnist || { echo "installing dataset-fashion-mnist"; \
	  apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || \
	  echo "dataset-fashion-mnist not installed: Fashion-MNIST falls back to MNIST offline"; }

run: $(STAMP)
	SDL_VIDEODRIVER=dummy $(PY) -m ui.serve --server.port $(PORT)

lint: $(TEST_STAMP)
	$(PY) -m ruff check .

test: $(TEST_STAMP) chromium datasets
	$(PY) -m ruff check .
	LIVEPROP_OFFLINE=1 SDL_VIDEODRIVER=dummy $(PY) -m pytest -q --timeout=600 -n 2 --durations=30 \
	  --dist loadgroup tests

test-fast: $(TEST_STAMP)
	LIVEPROP_OFFLINE=1 SDL_VIDEODRIVER=dummy $(PY) -m pytest -q -m "not browser" tests

test-browser: $(TEST_STAMP) chromium datasets
	LIVEPROP_OFFLINE=1 SDL_VIDEODRIVER=dummy $(PY) -m pytest -q -m browser tests

bench: $(TEST_STAMP) chromium
	$(PY) -m pip install -q -r bench/requirements.txt
	for f in bench/bench_*.py bench/*/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-output .pytest_data
