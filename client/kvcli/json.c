#include "json.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/b64.h"
#include "base/util.h"

static void json_chars(const uint8_t *p, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '"' || p[i] == '\\')
            printf("\\%c", p[i]);
        else if (p[i] < 0x20)
            printf("\\u%04x", p[i]);
        else
            putchar(p[i]);
    }
    putchar('"');
}

void json_string(const char *s)
{
    size_t len = 0;
    while (s[len])
        len++;
    json_chars((const uint8_t *)s, len);
}

void json_bytes_member(const char *name, const uint8_t *p, size_t len)
{
    if (utf8_valid(p, len)) {
        json_string(name);
        putchar(':');
        json_chars(p, len);
        return;
    }
    printf("\"%s_base64\":\"", name);
    char *out = xmalloc(b64_encoded_len(len) + 1);
    fwrite(out, 1, b64_encode(p, len, out), stdout);
    free(out);
    putchar('"');
}
