/* mr-gen-corpus: writes deterministic English-like text for the MapReduce tests and benchmark
 * (no Project Gutenberg books on the machine). A vocabulary of --vocab words (common English
 * function words first, then pronounceable made-up words, longer as they get rarer) is drawn
 * from a Zipf-Mandelbrot distribution, p(rank r) ~ 1 / (r + 2.7), as in natural text, and laid
 * out in sentences (capitalized first word, commas, full stops), lines of about 72 columns
 * and paragraphs. The vocabulary depends only on --seed; each file's text on --seed and the
 * file's base name, so a file is the same whatever else is generated with it.
 *   mr-gen-corpus [--seed N] [--vocab N] [--size BYTES] FILE... */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/util.h"

struct opts {
    int64_t seed, vocab;
    uint64_t size;
};

static const struct config_option options[] = {
    { "", "seed", "seed", CONFIG_INT, offsetof(struct opts, seed), "6824", 0, 0,
      "seed of the vocabulary and the text" },
    { "", "vocab", "vocab", CONFIG_INT, offsetof(struct opts, vocab), "50000", 100, 10000000,
      "number of distinct words to draw from" },
    { "", "size", "size", CONFIG_SIZE, offsetof(struct opts, size), "500KiB", 1, 1LL << 40,
      "bytes per file (each file ends at the first word boundary past it)" },
};

static const struct config_spec spec = {
    "mr-gen-corpus", "[OPTION]... FILE...",
    "Writes deterministic English-like text (Zipf word frequencies) into each FILE.",
    options, ARRAY_LEN(options),
};

static const char *const common_words[] = {
    "the", "of", "and", "to", "a", "in", "that", "he", "was", "it", "his", "I", "is", "with",
    "had", "as", "for", "you", "her", "not", "be", "at", "on", "she", "but", "him", "said",
    "have", "all", "by", "which", "so", "they", "my", "from", "were", "this", "me", "there",
    "one", "would", "an", "no", "what", "been", "when", "if", "or", "them", "their", "will",
    "are", "we", "up", "out", "into", "could", "who", "then", "more", "do", "man", "little",
    "now", "upon", "very", "your", "some", "time", "like", "about", "did", "over", "any",
    "know", "only", "before", "down", "again", "see", "well", "old", "made", "came", "after",
    "never", "say", "good", "go", "come", "long", "great", "must", "way", "how", "thought",
};

static const char *const onsets[] = {
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "y",
    "z", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "sh", "sl", "sp",
    "st", "str", "th", "tr", "wh", "",
};
static const char *const vowels[] = { "a", "e", "i", "o", "u", "ea", "ou", "ai", "ee", "oo", "y" };
static const char *const codas[] = { "", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck",
                                     "m", "th", "rd" };

struct vocab {
    char **words;
    size_t *lens;
    double *cdf; /* cdf[r] = P(rank <= r) */
    size_t n;
};

/* A pronounceable word for rank r: more syllables for rarer words. */
static char *make_word(struct rng *g, size_t rank)
{
    int syll = rank < 1000 ? 1 : rank < 20000 ? 2 : 3;
    syll += (int)rng_below(g, 2) - (syll > 1 ? (int)rng_below(g, 2) : 0);
    if (syll < 1)
        syll = 1;
    char buf[128];
    size_t len = 0;
    for (int s = 0; s < syll; s++) {
        const char *parts[3] = { onsets[rng_below(g, ARRAY_LEN(onsets))],
                                 vowels[rng_below(g, ARRAY_LEN(vowels))],
                                 s == syll - 1 ? codas[rng_below(g, ARRAY_LEN(codas))] : "" };
        for (int i = 0; i < 3; i++) {
            size_t l = strlen(parts[i]);
            memcpy(buf + len, parts[i], l);
            len += l;
        }
    }
    buf[len] = '\0';
    return xstrdup(buf);
}

/* Open-addressing set of the words made so far (the vocabulary has no duplicates). */
static bool seen(char **set, size_t mask, const char *w)
{
    size_t i = hash_fnv1a32(w, strlen(w)) & mask;
    while (set[i]) {
        if (strcmp(set[i], w) == 0)
            return true;
        i = (i + 1) & mask;
    }
    set[i] = (char *)w;
    return false;
}

static void vocab_build(struct vocab *v, uint64_t seed, size_t n)
{
    struct rng g;
    rng_seed(&g, seed);
    v->n = n;
    v->words = xcalloc(n, sizeof *v->words);
    v->lens = xcalloc(n, sizeof *v->lens);
    v->cdf = xcalloc(n, sizeof *v->cdf);
    size_t cap = 1;
    while (cap < 4 * n)
        cap <<= 1;
    char **set = xcalloc(cap, sizeof *set);
    for (size_t r = 0; r < n; r++) {
        char *w = r < ARRAY_LEN(common_words) ? xstrdup(common_words[r]) : make_word(&g, r);
        while (seen(set, cap - 1, w)) {
            free(w);
            w = make_word(&g, r);
        }
        v->words[r] = w;
        v->lens[r] = strlen(w);
    }
    free(set);
    double total = 0;
    for (size_t r = 0; r < n; r++) {
        total += 1.0 / ((double)r + 1.0 + 2.7);
        v->cdf[r] = total;
    }
    for (size_t r = 0; r < n; r++)
        v->cdf[r] /= total;
}

static void vocab_free(struct vocab *v)
{
    for (size_t r = 0; r < v->n; r++)
        free(v->words[r]);
    free(v->words);
    free(v->lens);
    free(v->cdf);
}

static size_t draw(const struct vocab *v, struct rng *g)
{
    double u = (double)(rng_next(g) >> 11) / 9007199254740992.0; /* [0, 1) */
    size_t lo = 0, hi = v->n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Text being laid out: lines wrap before column 72. */
struct out {
    FILE *fp;
    uint64_t written;
    int col;
};

static void put_word(struct out *o, const char *w, size_t len, bool capital, const char *punct)
{
    size_t plen = strlen(punct);
    if (o->col > 0 && o->col + 1 + (int)(len + plen) > 72) {
        fputc('\n', o->fp);
        o->written++;
        o->col = 0;
    } else if (o->col > 0) {
        fputc(' ', o->fp);
        o->written++;
        o->col++;
    }
    if (capital && w[0] >= 'a' && w[0] <= 'z') {
        fputc(w[0] - 'a' + 'A', o->fp);
        fwrite(w + 1, 1, len - 1, o->fp);
    } else {
        fwrite(w, 1, len, o->fp);
    }
    fwrite(punct, 1, plen, o->fp);
    o->written += len + plen;
    o->col += (int)(len + plen);
}

static int write_file(const char *path, const struct vocab *v, uint64_t seed, uint64_t size)
{
    FILE *fp = fopen(path, "w");
    if (!fp) {
        fprintf(stderr, "mr-gen-corpus: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static char buf[1 << 20];
    setvbuf(fp, buf, _IOFBF, sizeof buf);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct rng g;
    rng_seed(&g, seed ^ ((uint64_t)hash_fnv1a32(base, strlen(base)) << 17));
    struct out o = { fp, 0, 0 };
    int sentences = 0;
    while (o.written < size) {
        int words = 4 + (int)rng_below(&g, 20);
        for (int i = 0; i < words; i++) {
            size_t r = draw(v, &g);
            uint64_t x = rng_below(&g, 1000);
            const char *punct = i == words - 1 ? (x < 900 ? "." : x < 950 ? "?" : "!")
                                : x < 80 ? "," : x < 90 ? ";" : x < 95 ? "'s" : "";
            if (x == 999 && i < words - 1) { /* now and then a number */
                char num[16];
                int n = snprintf(num, sizeof num, "%u", (unsigned)(1500 + rng_below(&g, 500)));
                put_word(&o, num, (size_t)n, false, "");
            }
            put_word(&o, v->words[r], v->lens[r], i == 0, punct);
        }
        if (++sentences % (3 + (int)rng_below(&g, 6)) == 0) {
            fputs("\n\n", fp);
            o.written += 2;
            o.col = 0;
        }
    }
    if (o.col > 0)
        fputc('\n', fp);
    if (fclose(fp) != 0) {
        fprintf(stderr, "mr-gen-corpus: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    if (first == argc) {
        fprintf(stderr, "mr-gen-corpus: no FILE given\n");
        config_free(&spec, &o);
        return 2;
    }
    int rc = 0;
    struct vocab v;
    vocab_build(&v, (uint64_t)o.seed, (size_t)o.vocab);
    for (int i = first; i < argc && rc == 0; i++)
        rc = write_file(argv[i], &v, (uint64_t)o.seed, o.size);
    vocab_free(&v);
    config_free(&spec, &o);
    return rc == 0 ? 0 : 1;
}
