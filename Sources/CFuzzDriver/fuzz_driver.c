#include "fuzz_driver.h"
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

/* Provided by libclang_rt.fuzzer when linked with -sanitize=fuzzer. Weak, so
 * that a plain `swift build` of every product still links. */
extern int LLVMFuzzerRunDriver(int *argc, char ***argv,
                               int (*callback)(const uint8_t *data, size_t size))
	__attribute__((weak));
/* Exported by the Swift target with @_cdecl. */
extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int retrans_fuzz_run(int argc, char **argv)
{
	if (!LLVMFuzzerRunDriver) {
		fprintf(stderr, "error: built without libFuzzer; use `make fuzz`\n");
		return 2;
	}
	return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
