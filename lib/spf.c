/*
 * spf.c - SPF prediction and TXT lookups on libspf2 (spf.h).  The only
 * file that includes libspf2.
 *
 * DNS layers, bottom up: libspf2's resolver (libresolv, one state per
 * thread) or, for tests, a zone; libspf2's cache (shared, locked inside
 * libspf2); our counting layer.  The SPF_server_t is shared by all
 * threads; each check makes its own request and response.
 *
 * The counting layer applies RFC 7208 4.6.4, which libspf2 1.2.10 gets
 * wrong: its count of DNS-querying terms restarts in each include: (its
 * issue #51), it does not count void lookups (#24), an mx with more than 10
 * hosts only fails when none of the first 10 matches, and a ptr with more
 * than 10 names fails where the RFC ignores the rest.  libspf2 stays the
 * evaluator; the layer sees each lookup it makes, in evaluation order, so
 * terms after the matching one are not counted (as in pyspf).  It counts
 * for the check its thread runs (a thread-local pointer set by
 * sg_spf_check; sg_spf_txt lookups are not counted), above the cache, so an
 * answer from the cache counts like one from the network.  At a limit it
 * answers "temporary failure", which ends libspf2's evaluation at once, and
 * sg_spf_check turns that into permerror.
 *
 * The layer sees names and types only, so it tells lookups apart by what
 * libspf2 does: the address lookups of the hosts of an MX answer (names of
 * a PTR answer), in their order, belong to that mx (ptr); a TXT answer with
 * an SPF record after the sender's own is an include: or redirect=, one
 * without is an exp= text.  Only contrived records fool it: an exp= text
 * starting "v=spf1 " counts as an include, and an a: or exists looking up
 * exactly the host an unmatched mx in an include: would have looked up next
 * is taken for part of it.  Void lookups follow libspf2's order, which
 * stops at the matching MX host or PTR name (pyspf looks them all up first,
 * so it can count more).
 */
#include "spf.h"

#include "log.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libspf2's headers need these first. */
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_dns_cache.h>
#include <spf2/spf_dns_resolv.h>
#include <spf2/spf_dns_zone.h>

/* Cache size: 2^SG_SPF_CACHE_BITS entries. */
#define SG_SPF_CACHE_BITS 10
/* Seconds a DNS failure is remembered (messages meanwhile get temperror at once). */
#define SG_SPF_ERROR_TTL 30
/* RFC 7208 4.6.4: DNS-querying terms (include, a, mx, ptr, exists,
 * redirect) in one evaluation; void lookups (NXDOMAIN or no records); MX
 * hosts of one mx (more: permerror) and PTR names of one ptr or %{p} (more:
 * the rest is ignored). */
#define SG_SPF_MAX_TERMS 10
#define SG_SPF_MAX_VOIDS 2
#define SG_SPF_MAX_NAMES 10

enum limit { LIMIT_NONE, LIMIT_TERMS, LIMIT_VOIDS, LIMIT_MX };

/* One evaluation, as the counting layer sees its lookups. */
struct eval {
    unsigned records; /* SPF records fetched (the first is the sender's own) */
    unsigned terms;
    unsigned voids;
    enum limit exceeded;
    char where[256]; /* the name whose lookup went over the limit */
    /* The hosts of the last MX answer or the names of the last PTR answer:
     * libspf2 looks up their addresses next, in this order, for the same
     * term.  next_name: the next one expected. */
    char names[SG_SPF_MAX_NAMES][256];
    int n_names, next_name;
};

/* The evaluation this thread runs (NULL outside sg_spf_check). */
static _Thread_local struct eval *current_eval;

struct sg_spf {
    SPF_server_t *server;
    SPF_dns_server_t *dns; /* ours: SPF_server_new_dns does not take it */
};

/* spf_warning - libspf2's warnings to our log (its default prints to stdout) */
static void
spf_warning(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    sg_warn("libspf2: %s", msg);
}

/* spf_quiet - libspf2's info and debug messages: dropped */
static void
spf_quiet(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    (void)msg;
}

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

/* set_handlers - route libspf2's messages, once per process */
static void
set_handlers(void)
{
    SPF_warning_handler = spf_warning;
    SPF_info_handler = spf_quiet;
    SPF_debug_handler = spf_quiet;
}

/* is_spf_record - whether a TXT answer holds an SPF record (libspf2's
 * test): then libspf2 fetched a record, else it looked up an exp= text */
static bool
is_spf_record(const SPF_dns_rr_t *rr)
{
    if (rr->herrno != NETDB_SUCCESS || rr->rr_type != ns_t_txt)
        return false;
    for (int i = 0; i < rr->num_rr; i++)
        if (strncasecmp(rr->rr[i]->txt, SPF_VER_STR " ", sizeof(SPF_VER_STR)) == 0)
            return true;
    return false;
}

/* is_void - NXDOMAIN or no records (a temporary failure is not void) */
static bool
is_void(const SPF_dns_rr_t *rr)
{
    return rr->herrno == HOST_NOT_FOUND || rr->herrno == NO_DATA ||
           (rr->herrno == NETDB_SUCCESS && rr->num_rr == 0);
}

/* is_host_lookup - whether an A or AAAA lookup of name is for the next host
 * of the MX (or name of the PTR) answer before it: part of that mx or ptr
 * term, not a term of its own.  Any other lookup ends that term. */
static bool
is_host_lookup(struct eval *ev, const char *name, ns_type type)
{
    if ((type == ns_t_a || type == ns_t_aaaa) && ev->next_name < ev->n_names &&
        strcasecmp(name, ev->names[ev->next_name]) == 0) {
        ev->next_name++;
        return true;
    }
    ev->n_names = ev->next_name = 0;
    return false;
}

/* remember_names - the hosts of an MX answer or the names of a PTR answer */
static void
remember_names(struct eval *ev, const SPF_dns_rr_t *rr)
{
    ev->n_names = ev->next_name = 0;
    if (rr->herrno != NETDB_SUCCESS || (rr->rr_type != ns_t_mx && rr->rr_type != ns_t_ptr))
        return;
    for (int i = 0; i < rr->num_rr && i < SG_SPF_MAX_NAMES; i++)
        sg_strlcpy(ev->names[ev->n_names++],
                   rr->rr_type == ns_t_mx ? rr->rr[i]->mx : rr->rr[i]->ptr, sizeof(ev->names[0]));
}

/* exceed - note the first limit exceeded; libspf2 gets a temporary failure
 * instead of an answer, which ends its evaluation */
static SPF_dns_rr_t *
exceed(SPF_dns_server_t *layer, struct eval *ev, enum limit limit, const char *name, ns_type type)
{
    if (ev->exceeded == LIMIT_NONE) {
        ev->exceeded = limit;
        sg_strlcpy(ev->where, name, sizeof(ev->where));
    }
    return SPF_dns_rr_new_init(layer, name, type, 0, TRY_AGAIN);
}

/* count_lookup - a lookup passed down, counted against the limits of the
 * evaluation this thread runs (none: passed down only) */
static SPF_dns_rr_t *
count_lookup(SPF_dns_server_t *layer, const char *name, ns_type type, int should_cache)
{
    struct eval *ev = current_eval;
    if (ev == NULL)
        return SPF_dns_lookup(layer->layer_below, name, type, should_cache);
    if (ev->exceeded != LIMIT_NONE)
        return exceed(layer, ev, ev->exceeded, name, type);
    /* a and exists look up A or AAAA, mx MX, ptr PTR; include and redirect
     * TXT, counted below once the answer shows an SPF record.  libspf2 asks
     * for the PTR of the %{p} macro without caching: like pyspf, that is no
     * term (but its lookups, like all, count when void).  is_host_lookup
     * runs for every lookup: any other one ends the mx or ptr before. */
    bool term_type = type == ns_t_a || type == ns_t_aaaa || type == ns_t_mx ||
                     (type == ns_t_ptr && should_cache);
    if (!is_host_lookup(ev, name, type) && term_type && ++ev->terms > SG_SPF_MAX_TERMS)
        return exceed(layer, ev, LIMIT_TERMS, name, type);
    SPF_dns_rr_t *rr = SPF_dns_lookup(layer->layer_below, name, type, should_cache);
    enum limit limit = LIMIT_NONE;
    if (type == ns_t_txt) {
        /* A TXT answer without an SPF record (none, or exp= text) is not
         * counted as void: include: or redirect= to it is a permerror, the
         * sender's own is "none", an exp= text does not count (pyspf). */
        if (is_spf_record(rr) && ev->records++ > 0 && ++ev->terms > SG_SPF_MAX_TERMS)
            limit = LIMIT_TERMS;
    } else if (is_void(rr)) {
        if (++ev->voids > SG_SPF_MAX_VOIDS)
            limit = LIMIT_VOIDS;
    } else if (type == ns_t_mx && rr->num_rr > SG_SPF_MAX_NAMES) {
        limit = LIMIT_MX;
    } else if (type == ns_t_ptr && rr->num_rr > SG_SPF_MAX_NAMES) {
        /* RFC: the rest is ignored (libspf2 says permerror when none of
         * the first 10 matches).  SPF_dns_rr_free frees every buffer. */
        rr->num_rr = SG_SPF_MAX_NAMES;
    }
    if (limit != LIMIT_NONE) {
        SPF_dns_rr_free(rr);
        return exceed(layer, ev, limit, name, type);
    }
    if (type == ns_t_mx || type == ns_t_ptr)
        remember_names(ev, rr);
    return rr;
}

/* count_free - the counting layer only (SPF_dns_free frees each layer) */
static void
count_free(SPF_dns_server_t *layer)
{
    free(layer);
}

/* wrap - a server on the DNS layers dns, with our counting layer on top */
static enum sg_rc
wrap(SPF_dns_server_t *dns, struct sg_spf **spf_r, char **error_r)
{
    if (dns != NULL) {
        SPF_dns_server_t *count = sg_xcalloc(1, sizeof(*count));
        count->destroy = count_free;
        count->lookup = count_lookup;
        count->layer_below = dns;
        count->name = "count";
        dns = count;
    }
    SPF_server_t *server = dns ? SPF_server_new_dns(dns, 0) : NULL;
    if (server == NULL) {
        if (dns != NULL)
            SPF_dns_free(dns);
        *error_r = sg_xstrdup("libspf2: cannot set up an SPF server");
        return SG_INTERNAL;
    }
    struct sg_spf *spf = sg_xcalloc(1, sizeof(*spf));
    spf->server = server;
    spf->dns = dns;
    *spf_r = spf;
    return SG_OK;
}

/* sg_spf_new - resolver under a cache */
enum sg_rc
sg_spf_new(unsigned timeout_ms, struct sg_spf **spf_r, char **error_r)
{
    pthread_once(&handlers_once, set_handlers);
    *spf_r = NULL;
    /* libresolv reads its timeout from RES_OPTIONS when each thread's state
     * is set up: bound it here unless the administrator set it. */
    char opts[64];
    snprintf(opts, sizeof(opts), "timeout:%u attempts:1", (timeout_ms + 999) / 1000);
    setenv("RES_OPTIONS", opts, 0);
    SPF_dns_server_t *resolv = SPF_dns_resolv_new(NULL, "resolv", 0);
    SPF_dns_server_t *cache =
        resolv ? SPF_dns_cache_new(resolv, "cache", 0, SG_SPF_CACHE_BITS) : NULL;
    if (cache == NULL && resolv != NULL)
        SPF_dns_free(resolv);
    /* libspf2's cache keeps TXT answers and DNS failures at least 30 minutes
     * by default: a fixed SPF or DMARC record, or DNS that is back, would go
     * unseen that long.  Keep answers for their own TTL, failures 30 s. */
    if (cache != NULL)
        SPF_dns_cache_set_ttl(cache, 0, SG_SPF_ERROR_TTL, 0, 0);
    return wrap(cache, spf_r, error_r);
}

/* rr_type - a type name as libspf2 wants it, or -1 */
static int
rr_type(const char *name)
{
    static const struct {
        const char *name;
        int type;
    } types[] = {{"TXT", ns_t_txt}, {"A", ns_t_a},     {"AAAA", ns_t_aaaa},
                 {"MX", ns_t_mx},   {"PTR", ns_t_ptr}, {"SPF", ns_t_spf}};
    for (size_t i = 0; i < SG_NELEM(types); i++)
        if (strcasecmp(name, types[i].name) == 0)
            return types[i].type;
    return -1;
}

/* sg_spf_new_zone - a zone from "NAME TYPE DATA" entries */
enum sg_rc
sg_spf_new_zone(const char *const *entries, size_t n, struct sg_spf **spf_r, char **error_r)
{
    pthread_once(&handlers_once, set_handlers);
    *spf_r = NULL;
    SPF_dns_server_t *zone = SPF_dns_zone_new(NULL, "zone", 0);
    if (zone == NULL) {
        *error_r = sg_xstrdup("libspf2: cannot make a DNS zone");
        return SG_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        char name[256], type[16];
        int used = 0;
        if (sscanf(entries[i], "%255s %15s %n", name, type, &used) < 2) {
            *error_r = sg_xasprintf("zone entry \"%s\": expected NAME TYPE [DATA]", entries[i]);
            SPF_dns_free(zone);
            return SG_PERM;
        }
        const char *data = used > 0 ? entries[i] + used : "";
        SPF_errcode_t err;
        if (strcasecmp(type, "NXDOMAIN") == 0)
            err = SPF_dns_zone_add_str(zone, name, ns_t_any, HOST_NOT_FOUND, NULL);
        else if (strcasecmp(type, "TEMPFAIL") == 0)
            err = SPF_dns_zone_add_str(zone, name, ns_t_any, TRY_AGAIN, NULL);
        else if (rr_type(type) >= 0)
            err = SPF_dns_zone_add_str(zone, name, (ns_type)rr_type(type), NETDB_SUCCESS, data);
        else {
            *error_r = sg_xasprintf("zone entry \"%s\": unknown type %s", entries[i], type);
            SPF_dns_free(zone);
            return SG_PERM;
        }
        if (err != SPF_E_SUCCESS) {
            *error_r =
                sg_xasprintf("zone entry \"%s\": libspf2 says %s", entries[i], SPF_strerror(err));
            SPF_dns_free(zone);
            return SG_PERM;
        }
    }
    /* Under a cache, as in the daemon: answers from the cache must count too. */
    SPF_dns_server_t *cache = SPF_dns_cache_new(zone, "cache", 0, SG_SPF_CACHE_BITS);
    if (cache == NULL)
        SPF_dns_free(zone);
    return wrap(cache, spf_r, error_r);
}

/* sg_spf_free - the server, then the DNS layers (each frees the one below) */
void
sg_spf_free(struct sg_spf **spfp)
{
    struct sg_spf *spf = *spfp;
    if (spf == NULL)
        return;
    SPF_server_free(spf->server);
    SPF_dns_free(spf->dns);
    free(spf);
    *spfp = NULL;
}

/* map - libspf2's result as ours */
static enum sg_spf_result
map(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_NEUTRAL:
        return SG_SPF_NEUTRAL;
    case SPF_RESULT_PASS:
        return SG_SPF_PASS;
    case SPF_RESULT_FAIL:
        return SG_SPF_FAIL;
    case SPF_RESULT_SOFTFAIL:
        return SG_SPF_SOFTFAIL;
    case SPF_RESULT_NONE:
        return SG_SPF_NONE;
    case SPF_RESULT_TEMPERROR:
        return SG_SPF_TEMPERROR;
    case SPF_RESULT_PERMERROR:
    case SPF_RESULT_INVALID:
    default:
        return SG_SPF_PERMERROR;
    }
}

/* limit_text - which RFC 7208 limit the evaluation exceeded, for a person
 * (caller frees) */
static char *
limit_text(const struct eval *ev)
{
    switch (ev->exceeded) {
    case LIMIT_TERMS:
        return sg_xasprintf("more than %d DNS lookups (RFC 7208 4.6.4): include, a, mx, ptr, "
                            "exists and redirect count over all records; the one too many "
                            "looks up %s",
                            SG_SPF_MAX_TERMS, ev->where);
    case LIMIT_VOIDS:
        return sg_xasprintf("more than %d void DNS lookups (RFC 7208 4.6.4): names that do not "
                            "exist or have no records; the one too many looks up %s",
                            SG_SPF_MAX_VOIDS, ev->where);
    case LIMIT_MX:
        return sg_xasprintf("more than %d MX hosts for mx:%s (RFC 7208 4.6.4)", SG_SPF_MAX_NAMES,
                            ev->where);
    case LIMIT_NONE:
    default:
        return sg_xstrdup("no limit exceeded");
    }
}

/* sg_spf_check - one request, one response, counted by the layer */
enum sg_spf_result
sg_spf_check(struct sg_spf *spf, const char *ip, const char *mail_from, const char *helo,
             char **explain_r)
{
    if (explain_r != NULL)
        *explain_r = NULL;
    SPF_request_t *req = SPF_request_new(spf->server);
    SPF_response_t *resp = NULL;
    enum sg_spf_result result = SG_SPF_PERMERROR;
    const char *problem = NULL;
    char *sender = NULL;
    if (strchr(ip, ':') != NULL ? SPF_request_set_ipv6_str(req, ip) != SPF_E_SUCCESS
                                : SPF_request_set_ipv4_str(req, ip) != SPF_E_SUCCESS) {
        problem = "not an IP address";
        goto out;
    }
    if (helo != NULL && helo[0] != '\0')
        SPF_request_set_helo_dom(req, helo);
    /* The null sender: receivers check postmaster@HELO (RFC 7208, 2.4). */
    if (mail_from == NULL || mail_from[0] == '\0') {
        if (helo == NULL || helo[0] == '\0') {
            problem = "the null sender and no HELO name";
            goto out;
        }
        sender = sg_xasprintf("postmaster@%s", helo);
    } else {
        sender = sg_xstrdup(mail_from);
    }
    if (SPF_request_set_env_from(req, sender) != 0) {
        problem = "an envelope sender without a domain";
        goto out;
    }
    struct eval ev = {.exceeded = LIMIT_NONE};
    current_eval = &ev;
    SPF_errcode_t err = SPF_request_query_mailfrom(req, &resp);
    current_eval = NULL;
    /* Over a limit the layer answered "temporary failure": permerror.  A
     * real DNS failure comes back as an error code with no verdict of its
     * own: the receiver would say temperror (RFC 7208, 2.6.6). */
    if (ev.exceeded != LIMIT_NONE)
        result = SG_SPF_PERMERROR;
    else if (err == SPF_E_DNS_ERROR)
        result = SG_SPF_TEMPERROR;
    else
        result = resp ? map(SPF_response_result(resp)) : SG_SPF_TEMPERROR;
    if (explain_r != NULL && ev.exceeded != LIMIT_NONE) {
        char *why = limit_text(&ev);
        *explain_r = sg_xasprintf("SPF permerror for %s from %s: %s", sender, ip, why);
        free(why);
    } else if (explain_r != NULL) {
        const char *comment = resp ? SPF_response_get_received_spf_value(resp) : NULL;
        *explain_r =
            sg_xasprintf("SPF %s for %s from %s: %s", sg_spf_result_name(result), sender, ip,
                         comment && err == SPF_E_SUCCESS ? comment : SPF_strerror(err));
    }
out:
    if (problem != NULL && explain_r != NULL)
        *explain_r = sg_xasprintf("SPF permerror: %s (%s)", problem, ip);
    free(sender);
    if (resp != NULL)
        SPF_response_free(resp);
    SPF_request_free(req);
    return result;
}

/* sg_spf_txt - TXT through the DNS layers */
enum sg_rc
sg_spf_txt(struct sg_spf *spf, const char *name, char ***txts_r, size_t *n_r, char **error_r)
{
    *txts_r = NULL;
    *n_r = 0;
    SPF_dns_rr_t *rr = SPF_dns_lookup(spf->dns, name, ns_t_txt, 1);
    if (rr == NULL) {
        *error_r = sg_xasprintf("DNS lookup of %s TXT failed", name);
        return SG_TEMP;
    }
    enum sg_rc rc = SG_OK;
    if (rr->herrno == TRY_AGAIN || rr->herrno == NO_RECOVERY) {
        *error_r = sg_xasprintf("DNS lookup of %s TXT: temporary failure", name);
        rc = SG_TEMP;
    } else if (rr->herrno == NETDB_SUCCESS && rr->rr_type == ns_t_txt) {
        char **txts = sg_xcalloc((size_t)rr->num_rr + 1, sizeof(*txts));
        for (int i = 0; i < rr->num_rr; i++)
            txts[i] = sg_xstrdup(rr->rr[i]->txt);
        *txts_r = txts;
        *n_r = (size_t)rr->num_rr;
    }
    SPF_dns_rr_free(rr);
    return rc;
}

/* sg_spf_result_name - RFC 7208's words */
const char *
sg_spf_result_name(enum sg_spf_result result)
{
    static const char *const names[] = {"none", "neutral", "pass", "fail", "softfail",
                                        "temperror", "permerror"};
    return (size_t)result < SG_NELEM(names) ? names[result] : "permerror";
}
