# The two commands of the README, and what they need. Everything is installed here, into
# .venv, from PyPI and crates.io: a fresh clone needs only Rust, Python >= 3.10 and a C
# compiler.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Where `pip install uv` puts uv when it is not already on PATH.
PIP_SCRIPTS := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)
export PATH := $(BIN):$(PATH):$(PIP_SCRIPTS)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
# The native harness (rsmpi) builds against the mpich wheel in .venv, the MPI mpi4py uses:
# its mpicc is first on PATH; bindgen loads the libclang wheel's library and needs the C
# compiler's own headers (stddef.h), which that wheel lacks. Computed when a recipe runs,
# so after `setup` has installed the wheel. docs/native-harness.md has the details.
export LIBCLANG_PATH = $(shell ls -d $(CURDIR)/$(VENV)/lib/python*/site-packages/clang/native 2>/dev/null | head -n 1)
export BINDGEN_EXTRA_CLANG_ARGS := -I$(shell $(CC) -print-file-name=include)

.PHONY: test bench stress setup build wheel native lint rust-test stubtest pytest leftovers fuzz clean

test: build native lint rust-test stubtest pytest leftovers

setup: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null || $(PYTHON) -m pip install --quiet uv
	# --inexact: keep the editable ipc-benchmark that `maturin develop` installed.
	uv sync --all-extras --locked --inexact
	@touch $@

# The extension, optimised (tests and benchmarks both want the real thing), installed
# in editable mode so that python/ changes need no rebuild.
build: setup
	maturin develop --release --uv --quiet

# The wheel, into dist/: the extension and the Python package, no dependencies needed at
# run time (tests/test_wheel.py installs one into a clean venv and uses it). maturin
# builds in target/ like `build` does, so it reuses what cargo already compiled.
wheel: setup
	maturin build --release --out dist

# The native MPI harness, target/release/ipc-mpi-bench (tests run it under mpiexec).
native: setup
	cargo build --release -p ipc-mpi-bench
	cargo build --release -p ipc-core --example peer --example payload

lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

rust-test: setup
	cargo test --workspace

stubtest: build
	python -m mypy
	python -m mypy.stubtest ipc_benchmark._core

pytest: build native
	python -m pytest

# The MPI benchmark: rank 0 writes, 3 readers read, every backend, every size
# (docs/benchmark.md), in the Python harness and then the native one; then the analysis
# of both (benchmark_plots/report.md).
# Both workloads in both harnesses: whole-snapshot reads (with 1, 2 and 3 readers: the
# scaling curve), then single-key reads (get); then the training payload (NumPy arrays: 1, 10 and 100 MiB of weights), full reads.
BENCH_FILES = benchmark_results.json benchmark_results_rust.json \
	benchmark_results_get.json benchmark_results_rust_get.json \
	benchmark_results_training.json benchmark_results_rust_training.json
bench: build native
	mpiexec -n 4 python benchmark_mpi.py --readers 1,2,3 --output benchmark_results.json
	mpiexec -n 4 target/release/ipc-mpi-bench --readers 1,2,3 --output benchmark_results_rust.json
	mpiexec -n 4 python benchmark_mpi.py --workload get --output benchmark_results_get.json
	mpiexec -n 4 target/release/ipc-mpi-bench --workload get --output benchmark_results_rust_get.json
	mpiexec -n 4 python benchmark_mpi.py --payload training --output benchmark_results_training.json
	mpiexec -n 4 target/release/ipc-mpi-bench --payload training --output benchmark_results_rust_training.json
	python analyze_results.py $(BENCH_FILES)

# The stress test of every store (tests/test_stress.py: one writer, three readers, every
# read checked, readers killed, both sides forking) for STRESS_SECONDS per store; make
# test runs it for a few seconds. Prints the counts.
STRESS_SECONDS ?= 60
stress: build
	STRESS_SECONDS=$(STRESS_SECONDS) python -m pytest tests/test_stress.py -s -q \
		--timeout=$$(( $(STRESS_SECONDS) * 2 + 120 ))
	python -m ipc_benchmark.leftovers --check

# A test that leaks a segment, a directory or a socket fails the run here.
leftovers:
	python -m ipc_benchmark.leftovers --check

# Runs the decoder fuzzer (nightly Rust, cargo-fuzz) for FUZZ_SECONDS.
FUZZ_SECONDS ?= 600
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p crates/ipc-core/fuzz/corpus/decode
	cd crates/ipc-core && cargo +nightly fuzz run decode fuzz/corpus/decode fuzz/seeds -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024

clean:
	python -m ipc_benchmark.leftovers --remove
	cargo clean
	rm -rf $(VENV) benchmark_plots dist
