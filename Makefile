# One-command entry points. Both create/refresh a local venv first, so they
# work on a fresh clone with nothing but python3 (>=3.9) installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ldr_mm-installed
DEMO_DIR ?= $(if $(FULL),work_dirs/demo_full,work_dirs/demo)
PYTEST_ARGS ?=

.PHONY: install test test-all demo bench bench-demo clean-demo

$(STAMP): setup.py requirements/lock.txt requirements/runtime.txt requirements/tests.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements/lock.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# Fast run after every change: everything but the tests marked `slow`
# (end-to-end trainings through the runner, subprocess and gloo runs, fault
# injection, the benchmark suite's smoke runs). Pytest's exit status 5 (no
# test selected, e.g. PYTEST_ARGS naming only slow tests) is not an error.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS) tests; \
	    rc=$$?; if [ $$rc -eq 5 ]; then echo "no fast test selected"; rc=0; fi; \
	    exit $$rc

# Everything, including the slow end-to-end tests (what .ci/run runs). Here
# exit status 5 (nothing collected) is a broken suite and fails, named.
test-all: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests; \
	    rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; \
	    exit $$rc

# The strongest baseline, LDR stage 1, stage 2 and stage 2 on the CSRA
# baseline on the demo data, trained by the benchmark suite as its demo rows
# (seed 0, narrow ResNet-18, two runs at a time on CPU), printed side by side. `make demo FULL=1`: the
# full-width ResNet-18 of the configs as written (slower).
demo: $(STAMP)
	$(BIN)/python tools/run_demo.py --work-dir $(DEMO_DIR) $(if $(FULL),--full)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_stage1.py
	$(BIN)/python benchmarks/bench_reconstruction.py

# Baselines, LDR and ablations on the demo data: one markdown table with
# mean +- sd over BENCH_SEEDS and paired-bootstrap intervals of every
# config's difference to the strongest baseline (loss or attention head, by
# validation mAP; about 25 min per seed on 2 CPU cores).
BENCH_SEEDS ?= 0 1 2
bench-demo: $(STAMP)
	$(BIN)/python tools/benchmark_suite.py --preset all-demo \
	    --seeds $(BENCH_SEEDS) --reference best-baseline \
	    --backbone-width 16 --threads 1 --work-dir work_dirs/bench_demo

clean-demo:
	rm -rf $(DEMO_DIR) data/ldr_demo
