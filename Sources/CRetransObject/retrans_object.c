#include "retrans_object.h"

/* C23 #embed: the object file's bytes, read when this file is compiled.
 * `make` builds bpf/retrans.o before the Swift build. */
const unsigned char retrans_object_bytes[] = {
#embed "../../bpf/retrans.o"
};
const size_t retrans_object_size = sizeof(retrans_object_bytes);
