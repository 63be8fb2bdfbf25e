# Front door for llmthreads. `make bench` and `make test` install missing system packages,
# configure, build and run. Override BUILD, BUILD_TYPE, CMAKE_ARGS or BENCH_ARGS as needed.
BUILD      ?= build
BUILD_TYPE ?= Release
CMAKE_ARGS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
BENCH_ARGS ?= --model gpt2 --gpus 1,2,4 --strategy tp,dp --batch 4 --prompt 64 --gen 8

.PHONY: all deps configure build test bench clean sanitize asan tsan fuzz

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/llmthreads bench $(BENCH_ARGS) --json results.json --csv results.csv

# Sanitizer and fuzzer builds, each in its own directory, CPU only (DEVELOPERS.md, "Sanitizers
# and fuzzers"). Any finding fails the target.
ASAN_BUILD   ?= build-asan
TSAN_BUILD   ?= build-tsan
FUZZ_BUILD   ?= build-fuzz
# clang 16 (scripts/install-deps.sh): the reference sanitizers, libFuzzer, and here a build twice
# as fast as g++'s.
SAN_CXX      ?= clang++-16
SYMBOLIZER   ?= /usr/bin/llvm-symbolizer-16
# LLMT_MPI=OFF: Open MPI's own allocations and threads are reported by ASan and TSan (leaks at
# MPI_Finalize, races in its progress engine) and MPI jobs cannot run under the sanitizers'
# runtimes reliably; process mode is covered by `make test` instead.
SAN_CMAKE    ?= -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=$(SAN_CXX) -DLLMT_CUDA=OFF -DLLMT_MPI=OFF -DLLMT_BUILD_BENCHMARKS=OFF
# The tests that run ranks as threads: the communicator, whole parallel runs, compute/comm overlap.
TSAN_TESTS   ?= Collectives|Communicator|Parallel|EveryCombination|Overlap|AsyncComm|RankThreads|ReadProbeOnThreads
TSAN_TARGETS ?= test_communicator test_parallel test_small_gemm
FUZZ_TARGETS ?= model_config results_file cli_args safetensors
FUZZ_SECONDS ?= 60
SAN_SUPP     := $(CURDIR)/cmake/sanitizers
export ASAN_OPTIONS  ?= external_symbolizer_path=$(SYMBOLIZER):detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS ?= external_symbolizer_path=$(SYMBOLIZER):print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS  ?= external_symbolizer_path=$(SYMBOLIZER):halt_on_error=1:second_deadlock_stack=1:suppressions=$(SAN_SUPP)/tsan.supp

sanitize: asan tsan

asan: deps
	cmake -S . -B $(ASAN_BUILD) $(SAN_CMAKE) -DLLMT_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

tsan: deps
	cmake -S . -B $(TSAN_BUILD) $(SAN_CMAKE) -DLLMT_SANITIZE=thread
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TARGETS)
	ctest --test-dir $(TSAN_BUILD) --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'

# Each target runs FUZZ_SECONDS from its seed corpus and kept regressions; new inputs go to
# $(FUZZ_BUILD)/corpus/<target>, a crashing one to $(FUZZ_BUILD)/artifacts/<target>/: reproduce it
# with `$(FUZZ_BUILD)/tests/fuzz/fuzz_<target> FILE`, then keep it in tests/fuzz/<target>/regressions/.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) $(SAN_CMAKE) -DLLMT_BUILD_TESTS=OFF \
	  -DLLMT_SANITIZE=address,undefined -DLLMT_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  if ! $(FUZZ_BUILD)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	      -print_final_stats=1 -dict=tests/fuzz/$$t/dict \
	      -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	      $(FUZZ_BUILD)/corpus/$$t tests/fuzz/$$t/corpus tests/fuzz/$$t/regressions \
	      > $(FUZZ_BUILD)/fuzz-$$t.log 2>&1; then \
	    tail -n 60 $(FUZZ_BUILD)/fuzz-$$t.log; \
	    echo "fuzz: $$t FOUND A CRASH: $$(ls $(FUZZ_BUILD)/artifacts/$$t/)"; \
	    echo "fuzz: reproduce with $(FUZZ_BUILD)/tests/fuzz/fuzz_$$t FILE, then copy FILE to tests/fuzz/$$t/regressions/"; \
	    exit 1; \
	  fi; \
	  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^Done' $(FUZZ_BUILD)/fuzz-$$t.log || true; \
	done

clean:
	rm -rf $(BUILD)
