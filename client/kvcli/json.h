/* kvcli --json: the pieces of its one-line JSON outputs, written to standard output. */
#ifndef KVCLI_JSON_H
#define KVCLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A JSON string of the C string s (quotes, backslashes and control characters escaped). */
void json_string(const char *s);

/* A key's or value's bytes as one member of an object: `"NAME":"text"` when the bytes are UTF-8
 * (control characters, NUL included, escaped), else `"NAME_base64":"..."` (RFC 4648), so that
 * any value survives the trip into a script. */
void json_bytes_member(const char *name, const uint8_t *p, size_t len);

#endif
