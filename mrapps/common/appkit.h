/* Helpers shared by the applications in mrapps/ (linked into each .so, not exported). They
 * need only libc: an app is built from its own file, these, and lib/mr/mrapp.h. */
#ifndef MRAPPS_APPKIT_H
#define MRAPPS_APPKIT_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mr/mrapp.h"

/* ---- words --------------------------------------------------------------------------------- */

/* A word is a maximal run of letters, compared bytewise (case-sensitively), as the lab's Go
 * apps split (strings.FieldsFunc with !unicode.IsLetter): the text is decoded as UTF-8, a byte
 * that does not begin a valid sequence (as Go decodes: no overlong forms, no surrogates,
 * nothing past U+10FFFF) is a separator, and a code point is a letter when glibc's C.UTF-8
 * locale calls it alphabetic (iswalpha_l). That is Unicode's Alphabetic property plus non-ASCII
 * decimal digits, where Go's IsLetter is the categories L*: they agree on every letter of
 * Unicode 14 (glibc 2.36's version), but glibc also counts 2290 code points Go splits on
 * (combining marks with the Alphabetic property, e.g. Indic vowel signs: 1274; non-ASCII digits:
 * 650; letter numerals such as U+2160: 236; circled letters: 130), and Go (Unicode 15) knows
 * 4348 letters added since (mostly CJK extension H). */
static inline bool appkit_is_letter(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26u; }

/* The non-ASCII half of appkit_letter_len (p[0] >= 0x80). */
size_t appkit_utf8_letter_len(const unsigned char *p, locale_t utf8);

/* If a letter starts at p, its length in bytes (1 to 4), else 0. utf8 is a C.UTF-8 ctype locale
 * (newlocale(LC_CTYPE_MASK, "C.UTF-8", 0)). Reads past p only while the bytes are valid
 * continuation bytes (0x80-0xBF), so a NUL after the text stops it. */
static inline size_t appkit_letter_len(const unsigned char *p, locale_t utf8)
{
    return *p < 0x80 ? appkit_is_letter(*p) : appkit_utf8_letter_len(p, utf8);
}

/* The distinct words of a text, each with its number of occurrences. Words point into the text,
 * which must outlive the table. */
#define APPKIT_HEAD 16

struct appkit_word {
    unsigned char head[APPKIT_HEAD]; /* the word's first bytes, zero-padded: words that fit are
                                        compared and emitted from here */
    const char *word;
    uint32_t len;
    uint32_t hash;
    uint64_t count; /* 0 = empty slot */
};

struct appkit_words {
    struct appkit_word *slots;
    size_t mask; /* capacity - 1 (a power of two) */
    size_t used;
};

/* The bytes of a counted word: its copy in the slot when it fits (no trip to the text, which
 * is likely out of the cache), else its first occurrence in the text. */
static inline const char *appkit_word_bytes(const struct appkit_word *e)
{
    return e->len <= APPKIT_HEAD ? (const char *)e->head : e->word;
}

/* Counts every word of text[0..len), where text[len] must be readable and not a letter (the
 * framework's '\0' after a map's contents). Returns 0, or -1 when memory runs out or the
 * C.UTF-8 locale cannot be loaded (said on stderr). Free the table with appkit_words_free. */
int appkit_words_count(struct appkit_words *w, const char *text, size_t len);
void appkit_words_free(struct appkit_words *w);

/* ---- numbers and values -------------------------------------------------------------------- */

/* Writes v in decimal into buf (at least 21 bytes); returns the length. */
size_t appkit_format_u64(char *buf, uint64_t v);

/* Emits v in decimal as the one value of a reduce. */
int appkit_emit_u64(struct mr_emitter *out, uint64_t v);

/* Parses a decimal value; returns -1 if it is not one. */
int appkit_parse_u64(const struct mr_slice *s, uint64_t *v);

/* Emits prefix (may be "") followed by the values sorted bytewise and joined by sep, as the one
 * value of a reduce. Returns what mr_emit_value returns, or -1 when memory runs out. */
int appkit_emit_sorted_join(const char *prefix, const struct mr_slice *values, size_t n,
                            const char *sep, struct mr_emitter *out);

/* ---- processes and time (the lab's timing and crash apps) ---------------------------------- */

/* Uniform in [0, n), from the kernel's generator (no state in the app). */
uint64_t appkit_random_below(uint64_t n);

void appkit_sleep_ms(uint64_t ms);

/* The lab's nparallel(): creates mr-worker-<phase>-<pid> in the current directory, counts the
 * files mr-worker-<phase>-<p> whose process p is alive (itself included), sleeps 1 s, removes
 * its file, and returns the count. Returns -1 on a file system error. */
int appkit_nparallel(const char *phase);

/* The crash / nocrash pair of the lab: map emits a -> filename, b -> len(filename),
 * c -> len(contents), d -> "xyzzy"; reduce emits the values sorted and joined by spaces. With
 * crash set, each first exits the process with probability 1/3, or sleeps up to 10 s with
 * probability 1/3. */
int appkit_crashtest_map(bool crash, const char *filename, size_t len, struct mr_emitter *out);
int appkit_crashtest_reduce(bool crash, const struct mr_slice *values, size_t n,
                            struct mr_emitter *out);

#endif
