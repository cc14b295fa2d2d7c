# Two commands do all the set-up on a fresh machine:
#   make run    set up if needed, ingest seeds/, start the main job
#   make test   set up if needed, run the tests
# A second run is fast: the venv is rebuilt only when pyproject.toml or constraints.txt change, and
# models are assembled only when missing.

PYTHON ?= python3
VENV ?= .venv
export RAG_MODELS_DIR ?= $(HOME)/.cache/rag-models
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
MODEL_STAMP := $(RAG_MODELS_DIR)/.embeddinggemma-300m.ok
QUESTION ?= Who did TASS quote?

.PHONY: setup venv models run test bench clean

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
	$(PIP) install -q -c constraints.txt --find-links $(WHEELS) -e '.[test]'
	@touch $@

models: $(STAMP)
	@$(PY) -m rag.models embedding llm
	@$(PY) -m rag.embedding

run: setup
	$(VENV)/bin/rag ingest seeds/
	$(VENV)/bin/rag ask "$(QUESTION)"

test: setup
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/rag bench $(BENCH_ARGS)

clean:
	rm -rf .rag .pytest_cache
