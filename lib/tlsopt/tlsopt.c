#include "tlsopt/tlsopt.h"

#include <stdio.h>
#include <stdlib.h>

#include "rpc/tls.h"

/* The option if given, else the environment variable (NULL when neither). */
static const char *pick(const char *given, const char *env)
{
    return given ? given : getenv(env);
}

int tls_opts_setup(const char *program, const struct tls_opts *o, struct rpc_tls **out)
{
    char err[512];
    *out = NULL;
    if (rpc_tls_from_options(o->cert, o->key, o->ca, out, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err); /* the message names TLS and the file */
        return 2;
    }
    rpc_tls_set_default(*out);
    return 0;
}

void tls_opts_describe(const struct tls_opts *o, const struct rpc_tls *t, char *buf, size_t len)
{
    if (!t) {
        snprintf(buf, len, "TLS off: plain TCP");
        return;
    }
    snprintf(buf, len, "TLS on (certificate %s, key %s, CA %s)", pick(o->cert, "RAFTKV_TLS_CERT"),
             pick(o->key, "RAFTKV_TLS_KEY"), pick(o->ca, "RAFTKV_TLS_CA"));
}

void tls_opts_teardown(struct rpc_tls *t)
{
    if (!t)
        return;
    rpc_tls_set_default(NULL);
    rpc_tls_free(t);
}
