/*
 * alignment.c - SPF and DMARC prediction for one message (alignment.h),
 * on spf.c and dmarc.c.
 */
#include "alignment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* rank - how bad an SPF result is for the receiver, worst highest */
static int
rank(enum sg_spf_result r)
{
    switch (r) {
    case SG_SPF_PASS:
        return 0;
    case SG_SPF_NEUTRAL:
    case SG_SPF_NONE:
        return 1;
    case SG_SPF_SOFTFAIL:
        return 2;
    case SG_SPF_TEMPERROR:
        return 3;
    case SG_SPF_PERMERROR:
        return 4;
    case SG_SPF_FAIL:
        return 5;
    }
    return 5;
}

/* stronger - the stronger of two actions */
static enum sg_config_action
stronger(enum sg_config_action a, enum sg_config_action b)
{
    return a > b ? a : b;
}

/* worst_spf - the worst SPF result over the egress IPs for mail_from; *ip_r
 * gets the IP that gave it, *explain_r (may be NULL; caller frees) its
 * explanation */
static enum sg_spf_result
worst_spf(const struct sg_config *cfg, struct sg_spf *dns, const char *mail_from,
          const char *helo, char *ip_r, size_t ip_size, char **explain_r)
{
    enum sg_spf_result worst = SG_SPF_PASS;
    char *explain = NULL;
    for (size_t i = 0; i < cfg->n_egress_ips; i++) {
        char *why = NULL;
        enum sg_spf_result r = sg_spf_check(dns, cfg->egress_ips[i], mail_from, helo,
                                            explain_r ? &why : NULL);
        if (i == 0 || rank(r) > rank(worst)) {
            worst = r;
            snprintf(ip_r, ip_size, "%s", cfg->egress_ips[i]);
            free(explain);
            explain = why;
        } else {
            free(why);
        }
    }
    if (explain_r != NULL)
        *explain_r = explain;
    return worst;
}

/* mechanism - the SPF mechanism that lists ip: "ip4" or "ip6" */
static const char *
mechanism(const char *ip)
{
    return strchr(ip, ':') != NULL ? "ip6" : "ip4";
}

/* spf_fix - what would make SPF pass and align with from_domain, for the
 * finding (caller frees): a broken record fixed, the egress IP added to the
 * envelope domain's record, or, when that domain cannot align, an envelope
 * sender in the From domain */
static char *
spf_fix(const struct sg_alignment *a, const char *from_domain, const char *spf_explain)
{
    if (sg_dmarc_aligned(a->spf_domain, from_domain, 'r') && a->spf == SG_SPF_PERMERROR)
        return sg_xasprintf("fix the SPF record of %s (%s)", a->spf_domain,
                            spf_explain ? spf_explain : "permerror");
    if (sg_dmarc_aligned(a->spf_domain, from_domain, 'r'))
        return sg_xasprintf("add %s:%s to the SPF record of %s", mechanism(a->spf_ip), a->spf_ip,
                            a->spf_domain);
    return sg_xasprintf("send with an envelope sender in %s and add %s:%s to its SPF record",
                        from_domain, mechanism(a->spf_ip), a->spf_ip);
}

/* append - add one finding to the line (taking ownership of part) */
static void
append(char **line, char *part)
{
    if (*line == NULL) {
        *line = part;
        return;
    }
    char *both = sg_xasprintf("%s; %s", *line, part);
    free(*line);
    free(part);
    *line = both;
}

/* plan_envelope - for on_spf_fail = rewrite: the envelope sender that
 * passes SPF instead - the author's own address (aligned, and bounces reach
 * the author), else bounce_address - or, in *why, why there is none */
static void
plan_envelope(const struct sg_config *cfg, struct sg_spf *dns, const char *helo,
              const char *mail_from, const char *from_addr, unsigned can_rewrite,
              struct sg_alignment *a, char **why)
{
    char *failed = sg_xasprintf("%s does not authorise %s (SPF %s)", a->spf_domain, a->spf_ip,
                                sg_spf_result_name(a->spf));
    const char *at = from_addr ? strrchr(from_addr, '@') : NULL;
    if (mail_from == NULL || mail_from[0] == '\0') {
        append(why, sg_xasprintf("%s; a bounce keeps its null sender: add %s:%s to the SPF "
                                 "record of %s",
                                 failed, mechanism(a->spf_ip), a->spf_ip, a->spf_domain));
    } else if (!(can_rewrite & SG_REWRITE_ENVELOPE)) {
        append(why, sg_xasprintf("%s, and the MTA does not let sendguard change the envelope "
                                 "sender (Postfix: milter_protocol = 6)",
                                 failed));
    } else {
        const char *candidates[2];
        size_t n = 0;
        if (at != NULL && strcasecmp(at + 1, a->spf_domain) != 0 && sg_addr_plain(from_addr))
            candidates[n++] = from_addr;
        if (cfg->bounce_address[0] != '\0')
            candidates[n++] = cfg->bounce_address;
        char tried[600] = "";
        for (size_t i = 0; i < n && !a->rewrite_envelope; i++) {
            char ip[64] = "";
            enum sg_spf_result r = worst_spf(cfg, dns, candidates[i], helo, ip, sizeof(ip), NULL);
            if (r == SG_SPF_PASS) {
                a->rewrite_envelope = true;
                a->envelope = sg_xstrdup(candidates[i]);
                a->action = SG_CONFIG_REWRITE;
            } else {
                size_t used = strlen(tried);
                snprintf(tried + used, sizeof(tried) - used, "%s%s (SPF %s from %s)",
                         used ? ", " : "", candidates[i], sg_spf_result_name(r), ip);
            }
        }
        if (a->rewrite_envelope)
            append(why, sg_xasprintf("%s: envelope sender rewritten to %s", failed, a->envelope));
        else
            append(why, sg_xasprintf("%s, and no envelope sender to rewrite to passes: %s; add "
                                     "%s:%s to the SPF record of %s",
                                     failed,
                                     n ? tried
                                       : "the From address is no other (plain) address and no "
                                         "bounce_address is set",
                                     mechanism(a->spf_ip), a->spf_ip,
                                     at ? at + 1 : a->spf_domain));
    }
    free(failed);
}

/* sg_alignment_check - SPF per egress IP, DMARC, findings, rewrites, action */
void
sg_alignment_check(const struct sg_config *cfg, struct sg_spf *dns, const char *mail_from,
                   const char *from_addr, const char *from_domain, const char *dkim_d,
                   const char *relay_d, unsigned can_rewrite, struct sg_alignment *a)
{
    memset(a, 0, sizeof(*a));
    a->action = SG_CONFIG_ACCEPT;
    if (cfg->n_egress_ips == 0 || dns == NULL || from_domain == NULL)
        return;
    a->checked = true;

    char host[256] = "localhost";
    const char *helo = cfg->helo_name;
    if (helo[0] == '\0') {
        gethostname(host, sizeof(host) - 1);
        helo = host;
    }
    const char *at = mail_from ? strrchr(mail_from, '@') : NULL;
    snprintf(a->spf_domain, sizeof(a->spf_domain), "%s",
             mail_from && mail_from[0] && at ? at + 1 : helo);
    char *spf_explain = NULL;
    a->spf = worst_spf(cfg, dns, mail_from, helo, a->spf_ip, sizeof(a->spf_ip), &spf_explain);

    /* SPF fails: an envelope sender that passes can take its place. */
    char *why = NULL;
    enum sg_spf_result spf = a->spf; /* as the receiver will see it */
    const char *spf_domain = a->spf_domain;
    bool spf_bad = a->spf == SG_SPF_FAIL || a->spf == SG_SPF_SOFTFAIL || a->spf == SG_SPF_PERMERROR;
    if (spf_bad && cfg->on_spf_fail == SG_CONFIG_REWRITE)
        plan_envelope(cfg, dns, helo, mail_from, from_addr, can_rewrite, a, &why);
    if (a->rewrite_envelope) {
        spf = SG_SPF_PASS;
        spf_domain = strrchr(a->envelope, '@') + 1;
    }

    struct sg_dmarc_policy policy;
    char *error = NULL;
    enum sg_rc rc = sg_dmarc_discover(dns, from_domain, &policy, &error);
    free(error);
    sg_dmarc_predict(rc == SG_PERM ? NULL : &policy, from_domain, spf, spf_domain, dkim_d,
                     &a->dmarc);

    if (a->dmarc.result == SG_DMARC_RESULT_FAIL && a->dmarc.policy != SG_DMARC_DISP_NONE) {
        char *text = sg_dmarc_explain(&a->dmarc, a->spf_ip);
        if (cfg->on_dmarc_fail == SG_CONFIG_REWRITE && relay_d != NULL &&
            (can_rewrite & SG_REWRITE_FROM)) {
            /* Sent on behalf of the author, by a domain that signs. */
            a->rewrite_from = true;
            a->action = stronger(a->action, SG_CONFIG_REWRITE);
            append(&why, sg_xasprintf("%s; From rewritten to %s, signed for %s, the original "
                                      "From in Reply-To",
                                      text, cfg->rewrite_from, relay_d));
        } else {
            /* A rewrite that cannot be made - no key for the relay domain
             * (sendguard refuses to start like that, sendguardctl score
             * may not), or an MTA that does not allow header changes -
             * holds it. */
            a->action = stronger(a->action, cfg->on_dmarc_fail == SG_CONFIG_REWRITE
                                                ? SG_CONFIG_QUARANTINE
                                                : cfg->on_dmarc_fail);
            char *fix = spf_fix(a, from_domain, spf_explain);
            append(&why, sg_xasprintf("%s; %s or configure a DKIM key for %s in sendguard", text,
                                      fix, from_domain));
            free(fix);
        }
        free(text);
    } else if (a->dmarc.result == SG_DMARC_RESULT_TEMPERROR || a->spf == SG_SPF_TEMPERROR) {
        a->action = stronger(a->action, cfg->on_dns_error);
        append(&why, sg_xasprintf("SPF/DMARC of %s could not be checked (DNS temporary error)",
                                  from_domain));
    }
    if (spf_bad && cfg->on_spf_fail != SG_CONFIG_REWRITE) {
        a->action = stronger(a->action, cfg->on_spf_fail);
        if (why == NULL && a->spf == SG_SPF_PERMERROR)
            /* A broken record fails for every sender: say what is wrong with it. */
            why = sg_xasprintf("the SPF record of %s is broken for receivers (%s); fix it",
                               a->spf_domain, spf_explain ? spf_explain : "permerror");
        else if (why == NULL)
            why = sg_xasprintf("%s does not authorise %s (SPF %s); add %s:%s to the SPF record "
                               "of %s",
                               a->spf_domain, a->spf_ip, sg_spf_result_name(a->spf),
                               mechanism(a->spf_ip), a->spf_ip, a->spf_domain);
    }
    free(spf_explain);
    a->finding = why;
}

/* sg_alignment_bad_from - no From address, or several */
void
sg_alignment_bad_from(const struct sg_config *cfg, size_t nfrom, struct sg_alignment *a)
{
    memset(a, 0, sizeof(*a));
    a->action = SG_CONFIG_ACCEPT;
    if (cfg->n_egress_ips == 0)
        return;
    a->bad_from = true;
    a->action = cfg->on_bad_from;
    a->finding = sg_xasprintf("%s: receivers cannot check DMARC for it, and large ones (Gmail, "
                              "Outlook) refuse it; send it with exactly one address in one From "
                              "field",
                              nfrom == 0 ? "the message has no (readable) From address"
                                         : "the message has more than one From address");
}

/* sg_alignment_clear - the finding text */
void
sg_alignment_clear(struct sg_alignment *a)
{
    free(a->finding);
    free(a->envelope);
    memset(a, 0, sizeof(*a));
}

/* sg_alignment_log - key=value fields */
char *
sg_alignment_log(const struct sg_alignment *a)
{
    if (!a->checked)
        return sg_xstrdup("");
    return sg_xasprintf(" spf=%s spf_domain=%s dmarc=%s policy=%s", sg_spf_result_name(a->spf),
                        a->spf_domain, sg_dmarc_result_name(a->dmarc.result),
                        sg_dmarc_disp_name(a->dmarc.policy));
}
