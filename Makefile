# facert: `make demo` and `make test` build the environment from nothing and reuse it afterwards.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.facert-installed
MODELS := $(VENV)/.facert-models
# torch is pinned to the CPU wheel that lies on this kind of machine; other versions pull CUDA builds.
TORCH  ?= torch==2.13.0

.PHONY: venv models demo test test-fast test-slow test-wheel lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[export,demo,dev]'
	touch $@

# The embedded default: MTCNN weights from the facenet-pytorch wheel (PyPI), ISPL and WIPA (no weights),
# exported to ONNX into the cache (FACERT_CACHE, default ~/.cache/facert).
models: $(MODELS)

$(MODELS): $(STAMP)
	$(BIN)/facert models fetch mtcnn
	$(BIN)/facert models export mtcnn
	$(BIN)/facert models export ispl
	$(BIN)/facert models export wipa
	touch $@

demo: $(MODELS)
	$(BIN)/facert demo -o demo-out

lint: $(STAMP)
	$(BIN)/ruff check runtime export tests bench
	$(BIN)/ruff format --check runtime export tests bench
	$(BIN)/mypy runtime

test-fast: $(MODELS)
	$(BIN)/pytest -q

test: lint test-fast test-wheel

test-slow: $(MODELS)
	$(BIN)/pytest -q -m slow

# A built wheel, installed without torch into its own environment, must import and run the CLI.
test-wheel: $(MODELS)
	rm -rf build dist .venv-wheel
	$(BIN)/python -m build --wheel -q -o dist . >/dev/null
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/pip install -q dist/facert-*.whl
	.venv-wheel/bin/python tests/wheel_smoke.py

bench: $(MODELS)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-wheel build dist demo-out .pytest_cache .mypy_cache .ruff_cache
