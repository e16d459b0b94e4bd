# The project's commands. The environment (.venv) is created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-fast lint format bench study clean install-check floors-check

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## train: the main job, DnCNN on the embedded photographs (a few minutes on a CPU)
train: $(STAMP)
	$(PY) -m restore.train model=dncnn noise=gaussian

## test: the whole test suite (CPU only; tests that read ../shared skip where it is absent)
test: $(STAMP)
	$(PY) -m pytest -q

## test-fast: everything but the slow end-to-end and benchmark-reproduction tests
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

## install-check: a wheel of this clone in a fresh venv (base install), then restore-train and
## restore-eval run from a folder outside the clone (~5 min on a 2-core CPU, most of it pip)
install-check:
	PYTHON=$(PYTHON) .ci/install_check

## floors-check: the lowest allowed versions of the core libraries, and a fast subset of the tests
floors-check:
	PYTHON=$(PYTHON) .ci/floors_check

## lint / format: ruff
lint: $(STAMP)
	$(VENV)/bin/ruff check restore tests benchmarks
	$(VENV)/bin/ruff format --check restore tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff check --fix restore tests benchmarks
	$(VENV)/bin/ruff format restore tests benchmarks

## bench: benchmarks; results go to experiments/results/ (BM3D side by side needs a trained
## CPU-budget model: `python -m restore.train experiment=unet_cpu_budget`, or BENCH_CKPT=path)
BENCH_CKPT ?= budget
bench: $(STAMP)
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/denoiser_step_cost.py
	$(PY) benchmarks/bm3d_vs_model.py --ckpt $(BENCH_CKPT)

## study: issue #14's comparison (every method on the same inputs, trained models at one
## training-time budget; hours on a 2-core CPU, resumable): experiments/study/README.md
study: $(STAMP)
	$(PY) experiments/study/run.py

clean:
	rm -rf outputs/*/ .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
