/* Test certificates made in-process with OpenSSL: two unrelated CAs and leaf certificates
 * signed by either, with chosen subjectAltNames and validity, written as PEM files into a
 * temporary directory (for lib/rpc/tls.h's rpc_tls_new, and for daemons' --tls-* options). */
#ifndef TEST_TLSCERTS_H
#define TEST_TLSCERTS_H

#include <stddef.h>

#define TLSCERTS_PATH 320

/* One certificate and its key, as files. */
struct tlscert {
    char cert[TLSCERTS_PATH], key[TLSCERTS_PATH];
};

struct tlscerts {
    char dir[256];
    char ca[TLSCERTS_PATH];     /* the test CA's certificate (the trusted bundle) */
    char ca2[TLSCERTS_PATH];    /* another CA's, trusted by nobody */
    void *ca_key[2], *ca_cert[2]; /* EVP_PKEY *, X509 * of the test CA (0) and the other (1) */
    /* Made by tlscerts_make, all for IP:127.0.0.1 and DNS:localhost unless said otherwise: */
    struct tlscert server;      /* signed by the test CA */
    struct tlscert client;      /* another of the test CA (a second identity) */
    struct tlscert other_ca;    /* signed by the other CA */
    struct tlscert expired;     /* the test CA's, expired yesterday */
    struct tlscert future;      /* the test CA's, valid from tomorrow */
    struct tlscert wrong_san;   /* the test CA's, for IP:10.9.8.7 and DNS:elsewhere.invalid */
};

/* Makes the directory (under $TMPDIR or /tmp), both CAs and the leaves above. Returns 0, or -1
 * with a message in err. */
int tlscerts_make(struct tlscerts *t, char *err, size_t errlen);

/* Makes one more leaf, named name (file names and CN), signed by CA ca (0: the test CA, 1: the
 * other), for the subjectAltNames san (OpenSSL's syntax: "IP:127.0.0.1,DNS:localhost"), valid
 * from now + not_before_s to now + not_after_s. Returns 0, or -1 with a message in err. */
int tlscerts_leaf(const struct tlscerts *t, int ca, const char *name, const char *san,
                  long not_before_s, long not_after_s, struct tlscert *out, char *err,
                  size_t errlen);

/* Removes the files and the directory, and frees the CAs' keys. */
void tlscerts_remove(struct tlscerts *t);

#endif
