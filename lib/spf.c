/*
 * spf.c - SPF prediction and TXT lookups on libspf2 (spf.h).  The only
 * file that includes libspf2.
 *
 * DNS layers: libspf2's resolver (libresolv, one state per thread) under
 * its cache (shared, locked inside libspf2); or, for tests, a zone.  The
 * SPF_server_t is shared by all threads; each check makes its own request
 * and response.
 */
#include "spf.h"

#include "log.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
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

struct sg_spf {
    SPF_server_t *server;
    SPF_dns_server_t *dns; /* ours: SPF_server_new_dns does not take it */
};

/* Route libspf2's own messages to our log (its default prints to stdout). */
static void
spf_warning(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    sg_warn("libspf2: %s", msg);
}

static void
spf_quiet(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    (void)msg;
}

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void
set_handlers(void)
{
    SPF_warning_handler = spf_warning;
    SPF_info_handler = spf_quiet;
    SPF_debug_handler = spf_quiet;
}

/* wrap - a server on the DNS layers dns */
static enum sg_rc
wrap(SPF_dns_server_t *dns, struct sg_spf **spf_r, char **error_r)
{
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
    return wrap(zone, spf_r, error_r);
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

/* sg_spf_check - one request, one response */
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
    SPF_errcode_t err = SPF_request_query_mailfrom(req, &resp);
    /* A DNS failure comes back as an error code with no verdict of its own:
     * the receiver would say temperror (RFC 7208, 2.6.6). */
    if (err == SPF_E_DNS_ERROR)
        result = SG_SPF_TEMPERROR;
    else
        result = resp ? map(SPF_response_result(resp)) : SG_SPF_TEMPERROR;
    if (explain_r != NULL) {
        const char *comment = resp ? SPF_response_get_received_spf_value(resp) : NULL;
        *explain_r = sg_xasprintf("SPF %s for %s from %s: %s", sg_spf_result_name(result), sender,
                                  ip, comment && err == SPF_E_SUCCESS ? comment : SPF_strerror(err));
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
