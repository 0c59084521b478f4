#!/bin/bash
# callgrind over `run`: start, three scrapes of /metrics, SIGTERM (docs/BENCHMARKS.md, "Session 6").
# Usage (root): scripts/bench/callgrind_run.sh BINARY OUT [PORT]
#   then: callgrind_annotate --inclusive=yes OUT | swift demangle --simplified
set -u
binary=$1; out=$2; port=${3:-2398}
copy=$(mktemp /tmp/rtx-callgrind-XXXXXX)
strip --strip-debug -o "$copy" "$binary"   # valgrind 3.19 cannot read DWARF 5
valgrind --tool=callgrind --callgrind-out-file="$out" "$copy" run --web.listen-address "127.0.0.1:$port" \
    > "$out.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -s -o /dev/null "127.0.0.1:$port/metrics" && break; sleep 0.1; done
curl -s -o /dev/null "127.0.0.1:$port/metrics"; curl -s -o /dev/null "127.0.0.1:$port/metrics"
sleep 0.5; kill "$pid"; wait "$pid"; rm -f "$copy"
