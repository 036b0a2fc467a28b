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

.PHONY: deps build build-asan run test unit api-test lint clean db-stop bench

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

bench: build
	@bash tests/bench/run.sh

clean:
	@bash tools/pg.sh stop .data/pg || true
	rm -rf $(BUILD) $(BUILD_ASAN) .data
