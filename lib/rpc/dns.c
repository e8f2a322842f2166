/* One asynchronous resolver (libevent's evdns) per event loop, shared by the loop's clients.
 *
 * Why: getaddrinfo blocks. A name the resolver does not know costs it one round trip to the
 * nameserver, but a lost UDP reply costs glibc's whole retry timeout (5 s), during which the
 * loop serves nothing: a shard clerk on the host, given a group's in-network names
 * (docs/SHARDS.md, "Docker"), stalled 5 s on about one operation in five that way. With evdns
 * the lookup runs on the loop like any socket, and the call waits for it only up to its own
 * deadline, as for a slow connect.
 *
 * A name the resolver says does not exist is believed for a second by every client of the loop
 * (a negative cache): calls to it fail at once, and the clients' reconnect attempts make no
 * lookup. Without it a host-side load of 8 shard clerks, each with a connection per in-network
 * name of 3 groups, sent the nameserver some 150 queries a second, enough for it to drop
 * replies, and every dropped reply cost a call half a second. */
#include <event2/dns.h>
#include <pthread.h>
#include <stdlib.h>

#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "rpc/internal.h"

/* A name the resolver said does not exist, believed until `until` (see rpc_dns_unresolved). */
struct negative {
    char *host, *why;
    uint64_t until;
    struct negative *next;
};

struct dns_entry {
    struct event_base *base;
    struct evdns_base *dns;
    size_t refs;
    struct negative *neg;
    struct dns_entry *next;
};

/* Loops of different threads may create clients at the same time. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct dns_entry *entries;

/* evdns's own messages ("nameserver ... has failed") go to stderr unless routed: into our log,
 * at debug (a failed lookup is reported with the call it fails). */
static void dns_log(int is_warn, const char *msg)
{
    (void)is_warn;
    LOG_DEBUG("rpc", "dns: %s", msg);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void set_log(void) { evdns_set_log_fn(dns_log); }

static struct dns_entry *entry_of(struct event_base *base);

struct evdns_base *rpc_dns_acquire(struct event_base *base)
{
    pthread_once(&log_once, set_log);
    pthread_mutex_lock(&mu);
    struct dns_entry *e = entry_of(base);
    if (!e) {
        /* /etc/resolv.conf and /etc/hosts; inactive (no event keeping the loop alive) while
         * no lookup runs. A lookup with no answer in 0.5 s is asked again (resolv.conf's
         * default is 5 s: the time a lost reply costs). */
        /* $RPC_RESOLV_CONF names another resolv.conf (tests: a nameserver of their own). */
        const char *conf = getenv("RPC_RESOLV_CONF");
        struct evdns_base *dns = evdns_base_new(
            base, (conf && conf[0] ? 0 : EVDNS_BASE_INITIALIZE_NAMESERVERS) |
                      EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (dns && conf && conf[0])
            evdns_base_resolv_conf_parse(dns, DNS_OPTIONS_ALL, conf);
        if (dns)
            evdns_base_set_option(dns, "timeout:", "0.5");
        e = xcalloc(1, sizeof *e);
        *e = (struct dns_entry){ base, dns, 0, NULL, entries };
        entries = e;
    }
    e->refs++;
    struct evdns_base *dns = e->dns;
    pthread_mutex_unlock(&mu);
    return dns;
}

void rpc_dns_release(struct event_base *base)
{
    pthread_mutex_lock(&mu);
    for (struct dns_entry **p = &entries; *p; p = &(*p)->next) {
        struct dns_entry *e = *p;
        if (e->base != base)
            continue;
        if (--e->refs == 0) {
            *p = e->next;
            if (e->dns)
                evdns_base_free(e->dns, 0);
            while (e->neg) {
                struct negative *n = e->neg;
                e->neg = n->next;
                free(n->host);
                free(n->why);
                free(n);
            }
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&mu);
}

/* The entry of base (the caller holds mu). */
static struct dns_entry *entry_of(struct event_base *base)
{
    struct dns_entry *e = entries;
    while (e && e->base != base)
        e = e->next;
    return e;
}

bool rpc_dns_unresolved(struct event_base *base, const char *host, char *why, size_t whylen)
{
    bool found = false;
    uint64_t now = clock_mono_ms();
    pthread_mutex_lock(&mu);
    struct dns_entry *e = entry_of(base);
    for (struct negative **p = e ? &e->neg : NULL; p && *p;) {
        struct negative *n = *p;
        if (n->until <= now) { /* expired: ask again */
            *p = n->next;
            free(n->host);
            free(n->why);
            free(n);
            continue;
        }
        if (strcmp(n->host, host) == 0) {
            snprintf(why, whylen, "%s", n->why);
            found = true;
        }
        p = &n->next;
    }
    pthread_mutex_unlock(&mu);
    return found;
}

void rpc_dns_note_unresolved(struct event_base *base, const char *host, const char *why,
                             uint64_t ttl_ms)
{
    pthread_mutex_lock(&mu);
    struct dns_entry *e = entry_of(base);
    if (e) {
        struct negative *n = xmalloc(sizeof *n);
        *n = (struct negative){ xstrdup(host), xstrdup(why), clock_mono_ms() + ttl_ms, e->neg };
        e->neg = n;
    }
    pthread_mutex_unlock(&mu);
}
