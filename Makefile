# retrans-exporter: `make` builds the BPF object and the Swift binary.
SHELL := /bin/bash
CLANG ?= clang
SWIFT ?= swift
MULTIARCH := $(shell gcc -dumpmachine 2>/dev/null || echo $$(uname -m)-linux-gnu)
# The prefix map keeps the checkout's path out of the objects' debug info (the same bytes from any checkout).
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -I/usr/include/$(MULTIARCH) -Ibpf -fdebug-prefix-map=$(CURDIR)=.
CONFIG ?= debug
SWIFT_FLAGS ?=
BIN := .build/$(CONFIG)/retrans-exporter
FIXTURES := Tests/ELFReaderTests/Fixtures
ARGS ?=

.PHONY: all deps bpf build release test run demo deb fixtures fuzz fuzz-build fuzz-seeds fuzz-ci fuzz-coverage fuzz-minimize clean

all: build

# Everything a fresh Debian machine lacks (needs root).
deps:
	bash scripts/install-deps.sh

bpf: bpf/retrans.o

bpf/%.o: bpf/%.c bpf/bpf_defs.h bpf/retrans_event.h bpf/retrans_output.h bpf/kernel_types.h bpf/bpf_core.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build: bpf
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS)

# The static stdlib's link arguments export every symbol of the executable (-export-dynamic):
# 750 KB of dynamic string table nobody looks up. Dropping it: -1.1 MB stripped (docs/BENCHMARKS.md).
RELEASE_LINK_FLAGS := -Xlinker --no-export-dynamic
# Thin LTO drops code of the packages that is never called: -0.33 MB stripped, same instructions
# per event on the hot path (docs/BENCHMARKS.md, "Against the original, and leaner builds").
RELEASE_LTO := --experimental-lto-mode=thin
# Static archives linked instead of shared libraries: the C++ runtime under the Swift runtime,
# the unwinder and zlib (libc, libm and libxcrypt stay shared: Debian's libcrypt.a calls
# arc4random_buf, which would raise the glibc the binary needs from 2.35 to 2.36). Each shared
# library costs the dynamic loader its symbol lookups at every start and its pages in RSS:
# `--version` ran 2.86 M instructions, 1.01 M without them. The directory is searched before
# the system's, so the `-lstdc++ -lz` that the toolchain and the packages pass find these archives.
STATIC_LIBS_DIR := $(CURDIR)/.build/static-libs
STATIC_LIBS := libstdc++.a libz.a
RELEASE_LINK_FLAGS += -Xswiftc -L$(STATIC_LIBS_DIR) -Xswiftc -Xclang-linker -Xswiftc -static-libgcc
# RELEASE_RELR=1: relative relocations packed (DT_RELR): 0.98 MB of .rela.dyn becomes 8.6 KB
# and the executable stays position-independent, but it then starts only on glibc 2.36+
# (Debian 12, Ubuntu 24.04), not on Ubuntu 22.04's 2.35. Off by default: the binary is copied
# to nodes as one file (docs/BENCHMARKS.md, "Leaner link").
ifeq ($(RELEASE_RELR),1)
RELEASE_LINK_FLAGS += -Xlinker -z -Xlinker pack-relative-relocs
endif
# The functions a start, a scrape and the event path run, side by side (scripts/link/): the
# kernel maps text in 64 KiB blocks around each fault, so scattered they made most of the
# text resident. Names a build no longer has are skipped.
RELEASE_LINK_FLAGS += -Xlinker --symbol-ordering-file=$(CURDIR)/scripts/link/symbol-order.txt -Xlinker --no-warn-symbol-ordering
release: bpf $(addprefix $(STATIC_LIBS_DIR)/,$(STATIC_LIBS))
	@# SwiftPM does not know the order file is an input: a newer one removes the product, so it is linked again.
	@if [ scripts/link/symbol-order.txt -nt .build/release/retrans-exporter ]; then rm -f .build/release/retrans-exporter; fi
	$(SWIFT) build -c release --static-swift-stdlib --disable-local-rpath $(RELEASE_LTO) $(RELEASE_LINK_FLAGS) $(SWIFT_FLAGS)

$(STATIC_LIBS_DIR)/%.a:
	@mkdir -p $(STATIC_LIBS_DIR)
	@path=$$(gcc -print-file-name=$*.a); [ -f "$$path" ] || { echo "$*.a not found: install g++ and zlib1g-dev (scripts/install-deps.sh)" >&2; exit 1; }; ln -sf "$$path" $@

# Suites that load BPF, make namespaces, cgroups or ftrace instances, or run the exporter
# for real: one test at a time (one tracepoint, one machine). Every other suite is pure
# and runs in parallel. A new kernel suite goes under KernelTests (BPFSyscallTests) or
# EndToEnd (ExporterTests), or into this list.
KERNEL_SUITES := BPFSyscallTests\.KernelTests|ELFReaderTests\.COREWitnessTests|ExporterTests\.(EndToEnd|FlowCardinalityTests|PrivilegeDropTests|CleanExitTests|LossAccountingTests|FailureMessagesTests|ChaosScriptTests|CheckCommandTests|DeployFilesTests|DeploymentTests|DemoTests|DebianPackageTests|DashboardTests|WebConfigBinaryTests|WebPrometheusTests|ScrapeNegotiationTests|CgroupKernelTests|RunTimeStatisticsTests|WorkloadAttributionTests|KindGroundTruthTests|KindReconciliationTests)\b
test: bpf
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build --parallel --skip '$(KERNEL_SUITES)' $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build --no-parallel --filter '$(KERNEL_SUITES)' $(SWIFT_FLAGS)

# Serves :2112 until Ctrl-C. Extra flags: make run ARGS="--web.listen-address :9435"
run: build
	$(BIN) run $(ARGS)

# The original's whole set-up in one command (root): Debian's Prometheus with
# deploy/prometheus/ on loopback, the exporter, lossy traffic in namespaces of
# its own; Ctrl-C removes everything. Ports: DEMO_PROMETHEUS_PORT (9090),
# DEMO_EXPORTER_PORT (2112); see scripts/demo.sh --help.
# DEMO_ARGS="--duration 300" stops by itself.
DEMO_ARGS ?=
demo: build
	bash scripts/demo.sh --binary $(BIN) $(DEMO_ARGS)

# retrans-exporter_VERSION_ARCH.deb in .build/deb (dpkg-deb, from the release binary).
deb: release
	bash scripts/build-deb.sh .build/release/retrans-exporter .build/deb

# Rebuild every committed test object from its C source (the reader's, the
# loader's and the exporter's fixtures), plus a copy of bpf/retrans.o (the
# reader's tests must not depend on a fresh `make bpf`).
# CO-RE fixtures (core_*.c) are built by both compilers the project supports,
# since each emits its own instructions and records: core_X.o by the Swift
# toolchain's clang 21, core_X.clang14.o by Debian's clang 14.
FIXTURE_CLANG21 ?= /opt/swift/usr/bin/clang
FIXTURE_CLANG14 ?= clang-14
FIXTURE_DIRS := $(FIXTURES) Tests/BPFSyscallTests/Fixtures Tests/ExporterTests/Fixtures
fixtures: bpf
	for src in $(addsuffix /*.c,$(FIXTURE_DIRS)); do \
	  case $$(basename $$src) in core_*) continue;; esac; \
	  $(CLANG) $(BPF_CFLAGS) -c $$src -o $${src%.c}.o || exit 1; \
	done
	for src in $(FIXTURES)/core_*.c; do \
	  $(FIXTURE_CLANG21) $(BPF_CFLAGS) -c $$src -o $${src%.c}.o || exit 1; \
	  $(FIXTURE_CLANG14) $(BPF_CFLAGS) -c $$src -o $${src%.c}.clang14.o || exit 1; \
	done
	cp bpf/retrans.o $(FIXTURES)/retrans.o

# libFuzzer over the object reader (docs/FUZZING.md). Seeds: the committed
# fixtures and fuzz/seeds/*.c, plus copies without DWARF (smaller, so
# mutations hit ELF and BTF structure more often). The corpus grows in
# .build-fuzz/corpus across runs.
# Every crash, timeout, OOM or slow input (> FUZZ_SLOW_MS of CPU) lands in
# Tests/ELFReaderTests/FuzzRegressions/, where FuzzRegressionTests replays it.
# Its own scratch path: the instrumented build never touches `make test`'s.
FUZZ_SECONDS ?= 60
FUZZ_SLOW_MS ?= 100
FUZZ_FLAGS ?=
FUZZ_DIR := .build-fuzz
FUZZ_ARTIFACTS := Tests/ELFReaderTests/FuzzRegressions/
FUZZ_BUILD := -c release --scratch-path $(FUZZ_DIR) -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
# SWIFT_BACKTRACE=enable=no: Swift's own crash handler would take the signal
# first (and itself crash under ASan), so libFuzzer would never save the input.
FUZZ_RUN = SWIFT_BACKTRACE=enable=no RETRANS_FUZZ_SLOW_MS=$(FUZZ_SLOW_MS) $(FUZZ_DIR)/release/ReaderFuzzer $(1) \
	  -dict=fuzz/reader.dict -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_ARTIFACTS) $(FUZZ_FLAGS)

fuzz-build:
	$(SWIFT) build $(FUZZ_BUILD) --product ReaderFuzzer

fuzz-seeds:
	mkdir -p $(FUZZ_DIR)/seeds $(FUZZ_DIR)/corpus $(FUZZ_ARTIFACTS)
	cp $(FIXTURES)/*.o $(FUZZ_DIR)/seeds/
	for src in fuzz/seeds/*.c; do \
	  $(CLANG) $(BPF_CFLAGS) -mcpu=v3 -c $$src -o $(FUZZ_DIR)/seeds/$$(basename $$src .c).o || exit 1; \
	done
	for object in $(FUZZ_DIR)/seeds/*.o; do \
	  name=$$(basename $$object .o); \
	  case $$name in *.nodwarf) continue;; esac; \
	  llvm-objcopy --strip-debug $$object $(FUZZ_DIR)/seeds/$$name.nodwarf.o 2>/dev/null || true; \
	done

fuzz: fuzz-build fuzz-seeds
	$(call FUZZ_RUN,$(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds -max_total_time=$(FUZZ_SECONDS))

# CI: a bounded run from the seeds alone (a fresh corpus, so every run is
# comparable), about a minute. Fails on any finding.
fuzz-ci: fuzz-build fuzz-seeds
	rm -rf $(FUZZ_DIR)/corpus-ci && mkdir -p $(FUZZ_DIR)/corpus-ci
	$(call FUZZ_RUN,$(FUZZ_DIR)/corpus-ci $(FUZZ_DIR)/seeds -max_total_time=60)

# Line coverage of the reader by the corpus and seeds (llvm-cov of the
# toolchain, whose profile format matches the compiler's).
FUZZ_COV_DIR := .build-fuzz-cov
TOOLCHAIN_BIN := $(dir $(shell command -v $(SWIFT)))
fuzz-coverage: fuzz-seeds
	$(SWIFT) build -c release --scratch-path $(FUZZ_COV_DIR) -Xswiftc -sanitize=fuzzer -Xcc -fsanitize=fuzzer-no-link \
	  -Xswiftc -profile-generate -Xswiftc -profile-coverage-mapping --product ReaderFuzzer
	rm -f $(FUZZ_COV_DIR)/reader.profraw
	LLVM_PROFILE_FILE=$(FUZZ_COV_DIR)/reader.profraw SWIFT_BACKTRACE=enable=no \
	  $(FUZZ_COV_DIR)/release/ReaderFuzzer $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds -runs=0 -max_len=65536
	$(TOOLCHAIN_BIN)llvm-profdata merge -o $(FUZZ_COV_DIR)/reader.profdata $(FUZZ_COV_DIR)/reader.profraw
	$(TOOLCHAIN_BIN)llvm-cov report $(FUZZ_COV_DIR)/release/ReaderFuzzer \
	  -instr-profile=$(FUZZ_COV_DIR)/reader.profdata Sources/ELFReader

# Shrinks a finding before it is committed: make fuzz-minimize INPUT=path
fuzz-minimize: fuzz-build
	$(call FUZZ_RUN,-minimize_crash=1 -runs=20000 -exact_artifact_path=$(INPUT).min $(INPUT))

# Performance figures (docs/BENCHMARKS.md), on the release binary; needs root.
# BENCH_ARGS passes options to scripts/bench/bench.py, e.g. BENCH_ARGS="--only storm,size".
# RETRANS_BENCH_OTHER="/path/to/other-exporter [args, {port}]" adds the same figures for another
# exporter, side by side with this one's, in one storm (RETRANS_BENCH_OTHER_PORT, default 2112;
# RETRANS_BENCH_OTHER_CWD, its working directory).
BENCH_DIR := .build/bench
BENCH_ARGS ?=
bench: release
	mkdir -p $(BENCH_DIR)
	$(CLANG) $(BPF_CFLAGS) -c scripts/bench/producer_bench.c -o $(BENCH_DIR)/producer_bench.o
	$(CLANG) $(BPF_CFLAGS) -DFLOW_SWEEP -c scripts/bench/producer_bench.c -o $(BENCH_DIR)/producer_sweep.o
	for step in 1 2 3 4; do \
	  $(CLANG) $(BPF_CFLAGS) -DHOSTCOST_STEP=$$step -c scripts/bench/producer_bench.c -o $(BENCH_DIR)/producer_step$$step.o || exit 1; \
	done
	$(CC) -O2 -Wall -o $(BENCH_DIR)/getppid_driver scripts/bench/getppid_driver.c
	$(CC) -O2 -Wall -o $(BENCH_DIR)/empty_attach scripts/bench/empty_attach.c
	python3 scripts/bench/bench.py --binary .build/release/retrans-exporter --bench-dir $(BENCH_DIR) $(BENCH_ARGS)

clean:
	rm -rf .build $(FUZZ_DIR) $(FUZZ_COV_DIR) bpf/*.o
