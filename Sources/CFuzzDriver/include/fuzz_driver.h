/* Starts libFuzzer from a Swift executable. SwiftPM renames an executable's
 * `main`, so libFuzzer's own main never runs: we call its driver instead. */
#ifndef FUZZ_DRIVER_H
#define FUZZ_DRIVER_H
int retrans_fuzz_run(int argc, char **argv);
#endif
