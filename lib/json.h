/*
 * json.h - verdicts as JSON, for `sendguardctl score --json` (and later the
 * quarantine).  The only user of jansson.  The fields are a stable interface
 * that admins script against (README, sendguardctl(8)):
 *
 *   { "file": "invoice.eml",            (only when a file name is given)
 *     "action": "accept",               accept | tag | quarantine | reject | tempfail
 *     "score": 2.5,
 *     "from": "factuur@example.nl",     null when there is not exactly one From address
 *     "from_domain": "example.nl",      null likewise
 *     "hits": [ { "rule": "urgency", "weight": 1.5, "where": "subject",
 *                 "snippet": "URGENT: factuur", "explanation": "..." } ] }
 */
#ifndef SG_JSON_H
#define SG_JSON_H

#include "pipeline.h"

/* sg_json_verdict - one verdict as a JSON object text (caller frees); file may be NULL */
char *sg_json_verdict(const struct sg_verdict *v, const char *file);

#endif
