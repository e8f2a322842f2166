/* Standard base64 (RFC 4648, with padding): how etcd's JSON gateway carries keys and values
 * (kvbench), and how kvcli --json prints a value that is not UTF-8 text. */
#ifndef BASE_B64_H
#define BASE_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters b64_encode writes for len bytes (without a terminator). */
size_t b64_encoded_len(size_t len);

/* Encodes len bytes of in into out (b64_encoded_len(len) bytes; no terminator written).
 * Returns the number of characters written. */
size_t b64_encode(const uint8_t *in, size_t len, char *out);

/* Decodes len characters into out (room for len / 4 * 3 bytes). Returns the number of bytes,
 * or -1 when the input is not canonical padded base64. */
long b64_decode(const char *in, size_t len, uint8_t *out);

#endif
