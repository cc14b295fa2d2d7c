# Two commands do all the set-up on a fresh machine:
#   make run    set up if needed, ingest seeds/, open the chat page on http://127.0.0.1:7860
#   make test   set up if needed (Chromium for the browser tests included), run the tests
#   make test-fast  the unit tests only (pure logic and fakes, under a minute)
#   make lint   ruff (lint and format check) and mypy on the core
# A second run is fast: the venv is rebuilt only when pyproject.toml or constraints.txt change, and
# models are assembled only when missing.

PYTHON ?= python3
VENV ?= .venv
# models go to RAG_MODELS_DIR (default ~/.cache/rag-models, set in rag/settings.py only)
# llama-cpp-python ships only sources: built once (5-8 minutes on 2 cores) into this folder, then reused.
# GGML_NATIVE=OFF keeps the wheel portable (AVX2/FMA/F16C builds, no -march=native).
WHEELS ?= $(HOME)/.cache/rag-wheels
LLAMA_CPP := llama-cpp-python==0.3.16
export GRADIO_ANALYTICS_ENABLED = False
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1

PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860
# the browser tests drive this Chromium (Debian/Ubuntu package; see ../shared/PLATFORM.md)
export RAG_CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup venv models browser run test test-fast lint bench clean

setup: venv models

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo ">> installing torch==2.13.0 (CPU) first"
	$(PIP) install -q torch==2.13.0
	@ls $(WHEELS)/llama_cpp_python-0.3.16-*.whl >/dev/null 2>&1 || { \
	  echo ">> building $(LLAMA_CPP) once into $(WHEELS) (5-8 minutes on 2 cores)"; \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) wheel -q --no-deps -w $(WHEELS) $(LLAMA_CPP); }
	@echo ">> installing the project and its pinned dependencies"
	$(PIP) install -q -c constraints.txt --find-links $(WHEELS) -e '.[test,eval]'
	@touch $@

models: $(STAMP)
	@$(PY) -m rag.setup embedding llm

browser:
	@test -x $(RAG_CHROMIUM) || { echo ">> installing Chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

run: setup
	$(VENV)/bin/rag ingest seeds/
	$(VENV)/bin/rag chat --host $(HOST) --port $(PORT)

test: setup browser
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -q -p no:cacheprovider -m "not integration" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check rag tests
	$(VENV)/bin/ruff format --check rag tests
	$(PY) -m mypy

bench: setup
	$(VENV)/bin/rag bench $(BENCH_ARGS)

clean:
	rm -rf .rag .pytest_cache
