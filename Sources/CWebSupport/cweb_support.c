#include "cweb_support.h"

#include <crypt.h>
#include <string.h>

int cweb_crypt(const char *password, const char *setting, char *output, size_t output_size) {
    // struct crypt_data is 32 KiB: on the heap of the caller's thread would do too, but the
    // stack of a pool thread is large enough and this keeps the call allocation-free.
    struct crypt_data data;
    memset(&data, 0, sizeof data);
    const char *hashed = crypt_rn(password, setting, &data, (int)sizeof data);
    if (hashed == NULL) return -1;
    size_t length = strlen(hashed);
    // libxcrypt marks failure with a hash starting with '*' when crypt_rn is not used; be strict.
    if (length == 0 || hashed[0] == '*' || length + 1 > output_size) return -1;
    memcpy(output, hashed, length + 1);
    explicit_bzero(&data, sizeof data);
    return 0;
}
