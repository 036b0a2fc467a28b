# Koppel: the two commands a newcomer needs.
#   make run    install what is missing, build, start a private PostgreSQL under
#               .data/, migrate, load the demo, serve on 127.0.0.1:8080, print tokens
#   make test   the same from scratch in a throwaway cluster, then every test
SHELL := /bin/bash
.DEFAULT_GOAL := build
ROOT := $(abspath .)
BUILD := $(ROOT)/build
BUILD_ASAN := $(ROOT)/build-asan
NPROC := $(shell nproc 2>/dev/null || echo 2)

.PHONY: deps build build-asan run test unit api-test lint clean db-stop bench fuzz soak

deps:
	@bash tools/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@MAKEFLAGS= cmake --build $(BUILD) -j $(NPROC) -- --no-print-directory

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DKOPPEL_SANITIZE=ON >/dev/null
	@MAKEFLAGS= cmake --build $(BUILD_ASAN) -j $(NPROC) -- --no-print-directory

run: build
	@bash tools/run.sh

db-stop:
	@bash tools/pg.sh stop .data/pg

unit: build
	@cd $(BUILD) && ctest --output-on-failure

lint: deps
	@bash tools/lint.sh

test: build build-asan
	@bash tools/test.sh

api-test: build
	@bash tools/apitest.sh

bench: build
	@bash tools/deps.sh bench
	@bash tests/bench/run.sh

# The long runs of issue 8, outside make test: every fuzz target for
# FUZZ_SECONDS each (make test runs them 10 s), and the soak (SOAK_SECONDS of
# mixed load after SOAK_WARMUP; VmRSS after the warm-up and at the end).
FUZZ_SECONDS ?= 300
SOAK_SECONDS ?= 300
SOAK_WARMUP ?= 60
fuzz:
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

soak: build
	@mkdir -p .data; set -o pipefail; bash tests/bench/soak.sh $(SOAK_SECONDS) $(SOAK_WARMUP) | tee .data/soak.log
	@sed -n 's/.*VmRSS after warm-up \([0-9]*\) KiB, at the end \([0-9]*\) KiB.*/\1 \2/p' .data/soak.log | \
	  awk '{ printf "soak: VmRSS after warm-up %d KiB, at the end %d KiB, ratio %.3f (bound 1.050)\n", $$1, $$2, $$2 / $$1 }'

clean:
	@bash tools/pg.sh stop .data/pg || true
	rm -rf $(BUILD) $(BUILD_ASAN) .data
