#include "retrans_object.h"

/* C23 #embed: the object file's bytes, read when this file is compiled.
 * `make` builds bpf/retrans.o before the Swift build. */
static const unsigned char bytes[] = {
#embed "../../bpf/retrans.o"
};

const unsigned char *retrans_object_data(void) { return bytes; }
size_t retrans_object_size(void) { return sizeof(bytes); }
