# retrans-exporter: `make` builds the BPF object and the Swift binary.
SHELL := /bin/bash
CLANG ?= clang
SWIFT ?= swift
MULTIARCH := $(shell gcc -dumpmachine 2>/dev/null || echo $$(uname -m)-linux-gnu)
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -I/usr/include/$(MULTIARCH) -Ibpf
CONFIG ?= debug
SWIFT_FLAGS ?=
BIN := .build/$(CONFIG)/retrans-exporter
FIXTURES := Tests/ELFReaderTests/Fixtures
ARGS ?=

.PHONY: all deps bpf build release test run fixtures fuzz bench clean

all: build

# Everything a fresh Debian machine lacks (needs root).
deps:
	bash scripts/install-deps.sh

bpf: bpf/retrans.o

bpf/%.o: bpf/%.c bpf/bpf_defs.h bpf/retrans_event.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build: bpf
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS)

# The static stdlib's link arguments export every symbol of the executable (-export-dynamic):
# 750 KB of dynamic string table nobody looks up. Dropping it: -1.1 MB stripped (docs/BENCHMARKS.md).
RELEASE_LINK_FLAGS := -Xlinker --no-export-dynamic
release: bpf
	$(SWIFT) build -c release --static-swift-stdlib $(RELEASE_LINK_FLAGS) $(SWIFT_FLAGS)

test: bpf
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_FLAGS)

run: build
	$(BIN) $(if $(ARGS),$(ARGS),inspect bpf/retrans.o)

# Rebuild the committed test objects from their C sources, plus a copy of
# bpf/retrans.o (the reader's tests must not depend on a fresh `make bpf`).
# The prefix map keeps the checkout's path out of the objects' debug info.
fixtures: bpf
	for src in $(FIXTURES)/*.c; do \
	  $(CLANG) $(BPF_CFLAGS) -fdebug-prefix-map=$(CURDIR)=. -c $$src -o $${src%.c}.o || exit 1; \
	done
	cp bpf/retrans.o $(FIXTURES)/retrans.o

# libFuzzer over the object reader. Seeds: the committed fixtures. Crashes land
# in Tests/ELFReaderTests/FuzzRegressions/, where a test replays them.
FUZZ_SECONDS ?= 60
FUZZ_BUILD := -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
fuzz:
	$(SWIFT) build $(FUZZ_BUILD) --product ReaderFuzzer
	mkdir -p .build-fuzz/corpus Tests/ELFReaderTests/FuzzRegressions
	cp $(FIXTURES)/*.o .build-fuzz/corpus/
	.build-fuzz/release/ReaderFuzzer .build-fuzz/corpus -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=65536 -print_final_stats=1 -artifact_prefix=Tests/ELFReaderTests/FuzzRegressions/

# Performance figures (docs/BENCHMARKS.md), on the release binary; needs root.
# BENCH_ARGS passes options to scripts/bench/bench.py, e.g. BENCH_ARGS="--only storm,size".
BENCH_DIR := .build/bench
BENCH_ARGS ?=
bench: release
	mkdir -p $(BENCH_DIR)
	$(CLANG) $(BPF_CFLAGS) -c scripts/bench/producer_bench.c -o $(BENCH_DIR)/producer_bench.o
	$(CLANG) $(BPF_CFLAGS) -DFLOW_SWEEP -c scripts/bench/producer_bench.c -o $(BENCH_DIR)/producer_sweep.o
	$(CC) -O2 -Wall -o $(BENCH_DIR)/getppid_driver scripts/bench/getppid_driver.c
	python3 scripts/bench/bench.py --binary .build/release/retrans-exporter --bench-dir $(BENCH_DIR) $(BENCH_ARGS)

clean:
	rm -rf .build bpf/*.o
