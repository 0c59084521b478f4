#ifndef CWEB_SUPPORT_H
#define CWEB_SUPPORT_H

#include <stddef.h>
#include <yaml.h>

/// Hashes `password` with the salt and cost of `setting` (a whole stored hash such as
/// "$2y$10$..."), through libxcrypt's crypt_rn. Writes the NUL-terminated result into `output`
/// (at least CWEB_CRYPT_OUTPUT_SIZE bytes); returns 0, or -1 when libxcrypt rejects the setting.
#define CWEB_CRYPT_OUTPUT_SIZE 512
int cweb_crypt(const char *password, const char *setting, char *output, size_t output_size);

#endif
