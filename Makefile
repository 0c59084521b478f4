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

.PHONY: all deps bpf build release test run fixtures clean

all: build

# Everything a fresh Debian machine lacks (needs root).
deps:
	bash scripts/install-deps.sh

bpf: bpf/retrans.o

bpf/%.o: bpf/%.c bpf/bpf_defs.h bpf/retrans_event.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build: bpf
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS)

release: bpf
	$(SWIFT) build -c release --static-swift-stdlib $(SWIFT_FLAGS)

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

clean:
	rm -rf .build bpf/*.o
