/*
 * alignment.h - will the receiver's SPF and DMARC checks pass?  For one
 * outgoing message: the SPF result for each configured egress IP and the
 * envelope sender's domain (the HELO name for the null sender), the From
 * domain's DMARC policy, the alignment of both with the From domain and of
 * the d= sendguard will sign with, and the action the configuration gives
 * for what was found (alignment { } in sendguard.conf).
 */
#ifndef SG_ALIGNMENT_H
#define SG_ALIGNMENT_H

#include "config.h"
#include "dmarc.h"
#include "spf.h"

/* What the MTA lets sendguard rewrite (negotiated by the milter); a rewrite
 * it does not allow is not planned. */
#define SG_REWRITE_ENVELOPE 1u
#define SG_REWRITE_FROM 2u
#define SG_REWRITE_ALL (SG_REWRITE_ENVELOPE | SG_REWRITE_FROM)

struct sg_alignment {
    bool checked;              /* false: no egress IPs, no From domain, or not outgoing */
    bool bad_from;             /* not one From address: only action and finding are set */
    enum sg_spf_result spf;    /* the worst over the egress IPs */
    char spf_ip[64];           /* the egress IP that gave it */
    char spf_domain[256];      /* what SPF was checked for */
    struct sg_dmarc_prediction dmarc;
    enum sg_config_action action; /* the strongest configured action of the findings */
    char *finding;             /* one line for a person and the SMTP reply, NULL when fine */
    /* The rewrites that make the message pass (action rewrite): the envelope
     * sender becomes envelope (the From address, else cfg->bounce_address:
     * the first whose SPF passes), and the From becomes cfg->rewrite_from,
     * signed for its domain.  spf describes the envelope sender as it came,
     * dmarc the From domain after an envelope rewrite (what decides whether
     * the From must be rewritten too). */
    bool rewrite_envelope;
    char *envelope; /* the new envelope sender when rewrite_envelope */
    bool rewrite_from;
};

/* sg_alignment_check - fill *a (free with sg_alignment_clear) for a message
 * with envelope sender mail_from ("" = null sender) and From address
 * from_addr (domain from_domain) that sendguard will sign with dkim_d
 * (NULL: it will not);
 * relay_d is the d= it would sign a From rewritten to cfg->rewrite_from with
 * (NULL: it has no key for that domain, so it cannot rewrite the From);
 * can_rewrite is what the MTA allows (SG_REWRITE_*).  The null sender's
 * envelope is never rewritten (bounces and auto-replies keep it). */
void sg_alignment_check(const struct sg_config *cfg, struct sg_spf *dns, const char *mail_from,
                        const char *from_addr, const char *from_domain, const char *dkim_d,
                        const char *relay_d, unsigned can_rewrite, struct sg_alignment *a);

/* sg_alignment_bad_from - fill *a for an outgoing message whose From field
 * has no address (nfrom 0) or several (nfrom > 1): no receiver can check
 * DMARC for it, and the big ones refuse it.  Only when prediction is on
 * (egress IPs); the action is on_bad_from. */
void sg_alignment_bad_from(const struct sg_config *cfg, size_t nfrom, struct sg_alignment *a);

/* sg_alignment_clear - free what *a holds and zero it */
void sg_alignment_clear(struct sg_alignment *a);

/* sg_alignment_log - " spf=fail dmarc=fail policy=reject" for the log line
 * ("" when not checked); caller frees */
char *sg_alignment_log(const struct sg_alignment *a);

#endif
