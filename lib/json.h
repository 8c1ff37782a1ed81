/*
 * json.h - verdicts as JSON, for `sendguardctl score --json` (and later the
 * quarantine).  The only user of jansson.  The fields are a stable interface
 * that admins script against (README, sendguardctl(8)):
 *
 *   { "file": "invoice.eml",            (only when a file name is given)
 *     "action": "accept",               accept | tag | rewrite | quarantine | reject | tempfail
 *     "score": 2.5,
 *     "from": "factuur@example.nl",     null when there is not exactly one From address
 *     "from_domain": "example.nl",      null likewise
 *     "hits": [ { "rule": "urgency", "weight": 1.5, "where": "subject",
 *                 "snippet": "URGENT: factuur", "explanation": "..." } ],
 *     "alignment": {                    (only when SPF/DMARC were predicted)
 *         "spf": "fail", "spf_ip": "203.0.113.25", "spf_domain": "example.nl",
 *         "dmarc": "fail", "dmarc_record": "example.nl" (or null), "policy": "reject",
 *         "pct": 100, "spf_aligned": false, "dkim_aligned": false,
 *         "finding": "example.nl publishes DMARC p=reject; ..." (or null) } }
 */
#ifndef SG_JSON_H
#define SG_JSON_H

#include "message.h"
#include "pipeline.h"
#include "store.h"

/* sg_json_verdict - one verdict as a JSON object text (caller frees); file may be NULL */
char *sg_json_verdict(const struct sg_verdict *v, const char *file);

/* For sendguardctl; text fields that are not UTF-8 get '?' for the bad bytes.
 *
 * A quarantined message is an object with: id, time (seconds since 1970),
 * queue_id, client_addr, env_from, rcpts [..], from, subject, score,
 * reason, state; `show` adds verdict (the object above, as stored),
 * headers [[name, value]...] and preview (decoded text). */

/* sg_json_quarantine_list - an array of quarantined messages (caller frees) */
char *sg_json_quarantine_list(struct sg_quarantined *const *list, size_t n);

/* sg_json_quarantine_show - one message with its verdict, the header
 * fields of msg and a text preview (may be NULL); caller frees */
char *sg_json_quarantine_show(const struct sg_quarantined *q, const struct sg_msg *msg,
                              const char *preview);

/* sg_json_stats - {since, total, inbound, actions {name: n}, rules [{rule, n}]}
 * where the "inbound" action is reported apart from the others */
char *sg_json_stats(const struct sg_store_stats *s, long long since);

/* sg_json_verdict_explain - a stored verdict's hits as text for a person,
 * one "  +W.W  rule  where  snippet" line and one explanation line each;
 * NULL when the text is not a verdict (caller frees) */
char *sg_json_verdict_explain(const char *verdict_json);

#endif
