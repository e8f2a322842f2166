/* The harness's TLS mode (cluster.h, "TLS"): one test PKI per process, shared by every TLS
 * cluster of it (so that a controller and its groups, or a clerk and any node, trust each
 * other), made on first use and removed with the last user or at exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "rpc/tls.h"
#include "tlscerts.h"

static struct {
    int refs;
    bool made;
    struct tlscerts certs;
    struct tlscert proxy;
    struct cluster_tls pub;
} pki;

static void pki_remove(void)
{
    if (!pki.made)
        return;
    rpc_tls_set_default(NULL);
    rpc_tls_free(pki.pub.node);
    rpc_tls_free(pki.pub.proxy);
    rpc_tls_free(pki.pub.client);
    tlscerts_remove(&pki.certs);
    memset(&pki, 0, sizeof pki);
}

static struct rpc_tls *load(const char *cert, const char *key, const char *ca, char *err,
                            size_t errlen)
{
    struct rpc_tls_files f = { cert, key, ca };
    return rpc_tls_new(&f, err, errlen);
}

bool cluster_tls_wanted(const struct cluster_opts *o)
{
    const char *env = getenv("CLUSTER_TLS");
    return o->tls || (env && strcmp(env, "1") == 0);
}

const struct cluster_tls *cluster_tls_acquire(char *err, size_t errlen)
{
    if (pki.refs++ > 0)
        return &pki.pub;
    static bool registered;
    if (!registered && atexit(pki_remove) == 0)
        registered = true;
    if (tlscerts_make(&pki.certs, err, errlen) != 0)
        goto fail;
    pki.made = true;
    /* The nodes share one certificate: every node is dialled at 127.0.0.1 (through a proxy or
     * not), so their SANs would all be the same anyway. The proxy has its own. */
    if (tlscerts_leaf(&pki.certs, 0, "proxy", "IP:127.0.0.1", -3600, 30L * 24 * 3600,
                      &pki.proxy, err, errlen) != 0)
        goto fail;
    pki.pub.ca = pki.certs.ca;
    pki.pub.node_cert = pki.certs.server.cert;
    pki.pub.node_key = pki.certs.server.key;
    if (!(pki.pub.node = load(pki.certs.server.cert, pki.certs.server.key, pki.certs.ca, err,
                              errlen)) ||
        !(pki.pub.proxy = load(pki.proxy.cert, pki.proxy.key, pki.certs.ca, err, errlen)) ||
        !(pki.pub.client = load(pki.certs.client.cert, pki.certs.client.key, pki.certs.ca, err,
                                errlen)))
        goto fail;
    rpc_tls_set_default(pki.pub.client);
    return &pki.pub;
fail:
    pki_remove();
    return NULL;
}

void cluster_tls_release(void)
{
    if (pki.refs > 0 && --pki.refs == 0)
        pki_remove();
}
