/* Test certificates (tlscerts.h): EC P-256 keys (fast to make), SHA-256 signatures, X.509 v3
 * with the extensions a verifier checks (basicConstraints, keyUsage, extendedKeyUsage for both
 * server and client authentication, subjectAltName). */
#include "tlscerts.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY (24L * 3600)

static int fail(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    snprintf(err, errlen, "%s: %s", what, e ? ERR_reason_error_string(e) : "failed");
    ERR_clear_error();
    return -1;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A certificate for key with subject CN=cn, signed by issuer_key (issuer NULL: self-signed, a
 * CA). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san, long not_before_s, long not_after_s)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    unsigned char serial[8];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    int ok = X509_set_version(x, 2) && bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), not_before_s) &&
             X509_gmtime_adj(X509_getm_notAfter(x), not_after_s) && X509_set_pubkey(x, key);
    BN_free(bn);
    X509_NAME *name = X509_get_subject_name(x);
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                          (const unsigned char *)"raftkv tests", -1, -1, 0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0);
    X509 *signer = issuer ? issuer : x;
    ok = ok && X509_set_issuer_name(x, X509_get_subject_name(signer));
    if (ok && !issuer) {
        ok = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
             add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
             add_ext(x, x, NID_subject_key_identifier, "hash") == 0;
    } else if (ok) {
        ok = add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, signer, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(x, signer, NID_ext_key_usage, "serverAuth,clientAuth") == 0 &&
             add_ext(x, signer, NID_authority_key_identifier, "keyid") == 0 &&
             (!san || add_ext(x, signer, NID_subject_alt_name, san) == 0);
    }
    if (!ok || !X509_sign(x, issuer ? issuer_key : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int make_ca(struct tlscerts *t, int i, char *err, size_t errlen)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k)
        return fail(err, errlen, "CA key");
    X509 *x = make_cert(k, i == 0 ? "raftkv test CA" : "another CA", NULL, NULL, NULL, -DAY,
                        3650 * DAY);
    if (!x) {
        EVP_PKEY_free(k);
        return fail(err, errlen, "CA certificate");
    }
    t->ca_key[i] = k;
    t->ca_cert[i] = x;
    char *path = i == 0 ? t->ca : t->ca2;
    snprintf(path, TLSCERTS_PATH, "%s/%s.pem", t->dir, i == 0 ? "ca" : "ca2");
    if (write_pem(path, x, NULL) != 0) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    return 0;
}

int tlscerts_leaf(const struct tlscerts *t, int ca, const char *name, const char *san,
                  long not_before_s, long not_after_s, struct tlscert *out, char *err,
                  size_t errlen)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k)
        return fail(err, errlen, "leaf key");
    X509 *x = make_cert(k, name, t->ca_cert[ca], t->ca_key[ca], san, not_before_s, not_after_s);
    if (!x) {
        EVP_PKEY_free(k);
        return fail(err, errlen, name);
    }
    snprintf(out->cert, sizeof out->cert, "%s/%s.pem", t->dir, name);
    snprintf(out->key, sizeof out->key, "%s/%s.key", t->dir, name);
    int rc = write_pem(out->cert, x, NULL) == 0 && write_pem(out->key, NULL, k) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "cannot write %s", out->cert);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int tlscerts_make(struct tlscerts *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    const char *tmp = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/raftkv-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(t->dir)) {
        snprintf(err, errlen, "mkdtemp %s failed", t->dir);
        return -1;
    }
    const char *local = "IP:127.0.0.1,DNS:localhost";
    if (make_ca(t, 0, err, errlen) != 0 || make_ca(t, 1, err, errlen) != 0 ||
        tlscerts_leaf(t, 0, "server", local, -3600, 30 * DAY, &t->server, err, errlen) != 0 ||
        tlscerts_leaf(t, 0, "client", local, -3600, 30 * DAY, &t->client, err, errlen) != 0 ||
        tlscerts_leaf(t, 1, "other-ca", local, -3600, 30 * DAY, &t->other_ca, err, errlen) != 0 ||
        tlscerts_leaf(t, 0, "expired", local, -2 * DAY, -DAY, &t->expired, err, errlen) != 0 ||
        tlscerts_leaf(t, 0, "future", local, DAY, 2 * DAY, &t->future, err, errlen) != 0 ||
        tlscerts_leaf(t, 0, "wrong-san", "IP:10.9.8.7,DNS:elsewhere.invalid", -3600, 30 * DAY,
                      &t->wrong_san, err, errlen) != 0) {
        tlscerts_remove(t);
        return -1;
    }
    return 0;
}

void tlscerts_remove(struct tlscerts *t)
{
    for (int i = 0; i < 2; i++) {
        EVP_PKEY_free(t->ca_key[i]);
        X509_free(t->ca_cert[i]);
        t->ca_key[i] = t->ca_cert[i] = NULL;
    }
    if (!t->dir[0])
        return;
    DIR *d = opendir(t->dir);
    if (d) {
        struct dirent *e;
        char path[sizeof t->dir + sizeof e->d_name + 2];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", t->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(t->dir);
    t->dir[0] = '\0';
}
