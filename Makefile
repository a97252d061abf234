# facert: `make demo` and `make test` build the environment from nothing and reuse it afterwards.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.facert-installed
MODELS := $(VENV)/.facert-models
# The environment is the committed lock: exact versions with sha256 hashes of every package `make
# venv` installs (pyproject's extras export, demo, dev, openvino, int8, tensorrt-rtx, kernels, video, serve, ray, camera and landmarks, torch and the build backend), and its
# run-time subset for the wheel test. `make lock` regenerates both; pyproject keeps ranges.
LOCK         := requirements.lock
RUNTIME_LOCK := requirements-runtime.lock
LOCK_PYTHON  := 3.11
# torch is pinned to the CPU wheel that lies in /opt/wheels on the CI machine (elsewhere: PyTorch's
# CPU index, see README); any other version pulls a multi-GB CUDA build from PyPI. The lock holds
# the sha256 of the /opt/wheels file (PyTorch's index was not reachable to compare it with).
TORCH  ?= torch==2.13.0+cpu
PIP_TOOLS := pip-tools==7.7.0

.PHONY: venv models demo test test-fast test-slow test-ray test-wheel test-latest lock lint bench study-screenshot gpu-check gpu-wheels kernels-fatbin clean

venv: $(STAMP)

# A changed lock or pyproject rebuilds the venv from nothing, so it holds exactly the lock.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(f"{sys.version_info[0]}.{sys.version_info[1]}" != "$(LOCK_PYTHON)")' \
	  || { echo "$(LOCK) is for Python $(LOCK_PYTHON); run with PYTHON=python$(LOCK_PYTHON)" >&2; exit 2; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

# Regenerate the locks from scratch: the newest releases pyproject's ranges allow (torch pinned),
# resolved for this Python by pip-tools in its own venv. Then run `make test` and commit both files.
lock:
	test -x .venv-lock/bin/pip-compile || \
	  { $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install -q '$(PIP_TOOLS)'; }
	CUSTOM_COMPILE_COMMAND='make lock' .venv-lock/bin/pip-compile -q --upgrade --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links --all-build-deps \
	  --extra export --extra demo --extra dev --extra openvino --extra int8 --extra tensorrt-rtx --extra kernels --extra video --extra serve --extra ray --extra camera --extra landmarks -P '$(TORCH)' -o $(LOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND='make lock' .venv-lock/bin/pip-compile -q --upgrade --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  -c $(LOCK) -o $(RUNTIME_LOCK) pyproject.toml

# The embedded default: MTCNN weights from the facenet-pytorch wheel (PyPI), ISPL and WIPA (no weights),
# exported to ONNX into the cache (FACERT_CACHE, default ~/.cache/facert).
EMBEDDED := mtcnn ispl wipa
models: $(MODELS)

$(MODELS): $(STAMP)
	$(BIN)/facert models fetch mtcnn
	for name in $(EMBEDDED); do $(BIN)/facert models export $$name || exit 1; done
	touch $@

demo: $(MODELS)
	$(BIN)/facert demo -o demo-out

lint: $(STAMP)
	$(BIN)/ruff check runtime export kernels tests bench
	$(BIN)/ruff format --check runtime export kernels tests bench
	$(BIN)/mypy runtime kernels

test-fast: $(MODELS)
	$(BIN)/pytest -q

test: lint test-fast test-wheel

test-slow: $(MODELS)
	$(BIN)/pytest -q -m slow

# Ray Serve on a local Ray cluster (one per test module: ~10 s and ~1.2 GB to start), kept out of
# the default run so that stays short; .ci/run runs both.
test-ray: $(MODELS)
	$(BIN)/pytest -q -m ray

# A built wheel, installed without torch into its own environment with the lock's run-time subset
# (hash-checked; `pip check` proves the wheel's requirements are met by it), must import and run.
test-wheel: $(MODELS)
	rm -rf build dist .venv-wheel
	$(BIN)/python -m build --wheel --no-isolation -q -o dist . >/dev/null
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/pip install -q --require-hashes --no-deps -r $(RUNTIME_LOCK)
	.venv-wheel/bin/pip install -q --no-deps dist/facert-*.whl
	.venv-wheel/bin/pip check
	.venv-wheel/bin/python tests/wheel_smoke.py

# Drift check, unlocked: the newest releases pyproject's ranges allow, in .venv-latest with its own
# model cache (weights fetched, models exported there), then the default suite. torch alone stays
# at $(TORCH): newer ones are multi-GB CUDA builds on PyPI. Run it before `make lock`.
LATEST := .venv-latest
NORMALISE := awk -F== '{ n = tolower($$1); gsub(/[-_.]+/, "-", n); print n "==" $$2 }' | sort
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	echo '$(TORCH)' > $(LATEST)/torch-pin.txt
	$(LATEST)/bin/pip install -q -c $(LATEST)/torch-pin.txt -e '.[export,demo,dev]'
	$(LATEST)/bin/pip list --format=freeze --exclude-editable | $(NORMALISE) > $(LATEST)/versions.txt
	@echo "Installed, differing from $(LOCK):"
	@sed -n 's/^\([a-z0-9][^ ]*\) .*/\1/p' $(LOCK) | $(NORMALISE) | comm -13 - $(LATEST)/versions.txt
	export FACERT_CACHE=$(CURDIR)/$(LATEST)/cache && $(LATEST)/bin/facert models fetch mtcnn && \
	  for name in $(EMBEDDED); do $(LATEST)/bin/facert models export $$name || exit 1; done && \
	  $(LATEST)/bin/pytest -q

bench: $(MODELS)
	$(BIN)/python bench/run_all.py

# The README's screenshots of `facert study` (docs/study.png, docs/study-results.png), taken by its
# browser test (headless Chromium); the default test run writes them to its temporary folder only.
study-screenshot: $(MODELS)
	mkdir -p docs
	FACERT_STUDY_SCREENSHOTS=docs $(BIN)/pytest -q -p no:cacheprovider tests/runtime/study/test_browser_study.py

# One command for a lent NVIDIA machine (bench/gpu_check.py): every gpu/trt marked test and the GPU
# bench, one JSON report. It needs no venv (the lent machines run their own python3, with PyTorch);
# here it runs in .venv and reports everything "not run". GPU_WHEELS: what `make gpu-wheels`
# downloads (for Python 3.12) into .whl-gpu/ to be carried along; empty by default, since the lent
# H100/H200 hold all the check needs except TensorRT, whose libraries are over the carry limit.
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_REPORT ?= gpu-check.json
GPU_WHEELS ?=
gpu-check:
	$(GPU_PYTHON) bench/gpu_check.py --out $(GPU_REPORT)

# The prebuilt kernels (facert.kernels.fatbin): kernels/facert_kernels.fatbin for sm_75, 86, 87, 89,
# 90 and 120 (+ PTX) with nvcc, and kernels/facert_kernels.json (its archs and sources' sha256).
# Not committed; a wheel built afterwards ships both. Without them kernels compile with NVRTC.
NVCC ?= $(if $(wildcard /usr/local/cuda/bin/nvcc),/usr/local/cuda/bin/nvcc,nvcc)
kernels-fatbin: $(STAMP)
	$(BIN)/python -m facert.kernels.fatbin --nvcc $(NVCC)

gpu-wheels: $(STAMP)
	$(BIN)/python bench/gpu_wheels.py $(GPU_WHEELS)

clean:
	rm -rf $(VENV) .venv-wheel $(LATEST) .venv-lock build dist demo-out .pytest_cache .mypy_cache .ruff_cache
