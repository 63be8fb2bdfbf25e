# Front door for llmthreads. `make bench` and `make test` install missing system packages,
# configure, build and run. Override BUILD, BUILD_TYPE, CMAKE_ARGS or BENCH_ARGS as needed.
BUILD      ?= build
BUILD_TYPE ?= Release
CMAKE_ARGS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
BENCH_ARGS ?= --model gpt2 --gpus 1,2,4 --strategy tp,dp --batch 4 --prompt 64 --gen 8

.PHONY: all deps configure build test bench clean

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

clean:
	rm -rf $(BUILD)
