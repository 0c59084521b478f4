#include "fuzz_driver.h"
#include <stddef.h>
#include <stdint.h>

/* Provided by libclang_rt.fuzzer when linked with -sanitize=fuzzer. */
extern int LLVMFuzzerRunDriver(int *argc, char ***argv,
                               int (*callback)(const uint8_t *data, size_t size));
/* Exported by the Swift target with @_cdecl. */
extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int retrans_fuzz_run(int argc, char **argv)
{
	return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
