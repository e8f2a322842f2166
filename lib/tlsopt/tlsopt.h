/* The TLS options every program has: --tls-cert, --tls-key, --tls-ca (flags and INI keys,
 * falling back to RAFTKV_TLS_CERT / RAFTKV_TLS_KEY / RAFTKV_TLS_CA, as etcdctl's ETCDCTL_CERT /
 * ETCDCTL_KEY / ETCDCTL_CACERT), and the startup step that turns them into the process's one
 * identity (lib/rpc/tls.h) before it makes any server or client. docs/TLS.md. */
#ifndef TLSOPT_TLSOPT_H
#define TLSOPT_TLSOPT_H

#include <stddef.h>

#include "base/config.h"

struct rpc_tls;

/* A program's option struct holds one of these (NULL: not given). */
struct tls_opts {
    char *cert, *key, *ca;
};

/* The three rows of a program's option table, for the struct tls_opts FIELD of TYPE, in INI
 * SECTION with keys PREFIX "cert", PREFIX "key", PREFIX "ca" (the daemons: [tls] cert = ...;
 * the others, without sections: tls_cert = ...). */
#define TLS_CONFIG_OPTIONS(section, prefix, type, field)                                         \
    { section, prefix "cert", "tls-cert", CONFIG_STRING, offsetof(type, field.cert), NULL, 0, 0, \
      "PEM certificate this process presents on every connection (TLS, mutual; with --tls-key "  \
      "and --tls-ca; default: $RAFTKV_TLS_CERT; none of the three: plain TCP)" },              \
    { section, prefix "key", "tls-key", CONFIG_STRING, offsetof(type, field.key), NULL, 0, 0,    \
      "PEM private key of --tls-cert (default: $RAFTKV_TLS_KEY)" },                             \
    { section, prefix "ca", "tls-ca", CONFIG_STRING, offsetof(type, field.ca), NULL, 0, 0,       \
      "PEM CA bundle every peer's certificate must chain to (default: $RAFTKV_TLS_CA)" }

/* Loads the identity the options, or the environment, name (all three or none) and makes it
 * the default of every server and client made from now on (rpc_tls_set_default); *out is the
 * identity, or NULL for plain TCP. Returns 0, or prints "PROGRAM: <why>" (the file and the
 * cause, or the missing options) on stderr and returns 2, the exit status of a bad option. */
int tls_opts_setup(const char *program, const struct tls_opts *o, struct rpc_tls **out);

/* For the startup log: "TLS on (certificate C, key K, CA A)" or "TLS off: plain TCP". */
void tls_opts_describe(const struct tls_opts *o, const struct rpc_tls *t, char *buf, size_t len);

/* Undoes tls_opts_setup (no default identity any more) and frees t (NULL: nothing). */
void tls_opts_teardown(struct rpc_tls *t);

#endif
