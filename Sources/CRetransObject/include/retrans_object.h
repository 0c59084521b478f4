/* The bytes of bpf/retrans.o, compiled into the binary so that deploying is
 * copying one file. */
#ifndef RETRANS_OBJECT_H
#define RETRANS_OBJECT_H
#include <stddef.h>
const unsigned char *retrans_object_data(void);
size_t retrans_object_size(void);
#endif
