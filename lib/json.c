/*
 * json.c - jansson wrapper: verdicts, quarantine listings and statistics to
 * JSON text, and stored verdicts back to text for a person.
 */
#include "json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* str_or_null - a JSON string, or null for NULL; bytes that are not UTF-8 become '?' */
static json_t *
str_or_null(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char *copy = sg_xstrdup(s);
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p > 0x7f)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* dump - serialise and free o */
static char *
dump(json_t *o)
{
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (text == NULL)
        abort(); /* only on allocation failure */
    return text;
}

/* quarantined - the listing fields of one message */
static json_t *
quarantined(const struct sg_quarantined *q)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(q->id));
    json_object_set_new(o, "time", json_integer(q->time));
    json_object_set_new(o, "queue_id", str_or_null(q->queue_id));
    json_object_set_new(o, "client_addr", str_or_null(q->client_addr));
    json_object_set_new(o, "env_from", str_or_null(q->env_from));
    json_t *rcpts = json_array();
    for (size_t i = 0; i < q->nrcpts; i++)
        json_array_append_new(rcpts, str_or_null(q->rcpts[i]));
    json_object_set_new(o, "rcpts", rcpts);
    json_object_set_new(o, "from", str_or_null(q->from_header));
    json_object_set_new(o, "subject", str_or_null(q->subject));
    json_object_set_new(o, "score", json_real(q->score));
    json_object_set_new(o, "reason", str_or_null(q->reason));
    json_object_set_new(o, "state", str_or_null(q->state));
    return o;
}

/* sg_json_quarantine_list - an array */
char *
sg_json_quarantine_list(struct sg_quarantined *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, quarantined(list[i]));
    return dump(a);
}

/* sg_json_quarantine_show - listing fields, verdict, headers, preview */
char *
sg_json_quarantine_show(const struct sg_quarantined *q, const struct sg_msg *msg,
                        const char *preview)
{
    json_t *o = quarantined(q);
    json_t *verdict = q->verdict_json ? json_loads(q->verdict_json, 0, NULL) : NULL;
    json_object_set_new(o, "verdict", verdict ? verdict : json_null());
    json_t *headers = json_array();
    for (size_t i = 0; msg != NULL && i < sg_msg_header_count(msg); i++) {
        json_t *pair = json_array();
        json_array_append_new(pair, str_or_null(sg_msg_header_name(msg, i)));
        const char *value = sg_msg_header_value(msg, i);
        json_array_append_new(pair, str_or_null(value + strspn(value, " \t")));
        json_array_append_new(headers, pair);
    }
    json_object_set_new(o, "headers", headers);
    json_object_set_new(o, "preview", str_or_null(preview));
    return dump(o);
}

/* sg_json_stats - counts */
char *
sg_json_stats(const struct sg_store_stats *s, long long since)
{
    json_t *o = json_object();
    json_t *actions = json_object();
    unsigned long long inbound = 0;
    for (size_t i = 0; i < s->nactions; i++) {
        if (strcmp(s->actions[i].name, "inbound") == 0)
            inbound = s->actions[i].n;
        else
            json_object_set_new(actions, s->actions[i].name, json_integer((json_int_t)s->actions[i].n));
    }
    json_object_set_new(o, "since", json_integer(since));
    json_object_set_new(o, "total", json_integer((json_int_t)(s->total - inbound)));
    json_object_set_new(o, "inbound", json_integer((json_int_t)inbound));
    json_object_set_new(o, "actions", actions);
    json_t *rules = json_array();
    for (size_t i = 0; i < s->nrules; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "rule", str_or_null(s->rules[i].name));
        json_object_set_new(r, "n", json_integer((json_int_t)s->rules[i].n));
        json_array_append_new(rules, r);
    }
    json_object_set_new(o, "rules", rules);
    return dump(o);
}

/* sg_json_verdict_explain - hits for a person */
char *
sg_json_verdict_explain(const char *verdict_json)
{
    json_t *v = json_loads(verdict_json ? verdict_json : "", 0, NULL);
    json_t *hits = v ? json_object_get(v, "hits") : NULL;
    if (!json_is_array(hits)) {
        json_decref(v);
        return NULL;
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    size_t i;
    json_t *h;
    json_array_foreach(hits, i, h) {
        const char *rule = json_string_value(json_object_get(h, "rule"));
        const char *where = json_string_value(json_object_get(h, "where"));
        const char *snippet = json_string_value(json_object_get(h, "snippet"));
        const char *explain = json_string_value(json_object_get(h, "explanation"));
        fprintf(f, "  %+5.1f  %-22s %-10s %s\n         %s\n",
                json_number_value(json_object_get(h, "weight")), rule ? rule : "?",
                where ? where : "?", snippet ? snippet : "", explain ? explain : "");
    }
    if (json_array_size(hits) == 0)
        fprintf(f, "  no rule hit\n");
    fclose(f);
    json_decref(v);
    return out;
}

/* sg_json_verdict - serialise the fields documented in json.h */
char *
sg_json_verdict(const struct sg_verdict *v, const char *file)
{
    json_t *o = json_object();
    if (file != NULL)
        json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "action", json_string(sg_action_name(v->action)));
    json_object_set_new(o, "score", json_real(v->score.total));
    json_object_set_new(o, "from", str_or_null(v->from_addr));
    json_object_set_new(o, "from_domain", str_or_null(v->from_domain));
    json_t *hits = json_array();
    for (size_t i = 0; i < v->score.nhits; i++) {
        const struct sg_hit *h = &v->score.hits[i];
        json_t *hit = json_object();
        json_object_set_new(hit, "rule", json_string(h->rule));
        json_object_set_new(hit, "weight", json_real(h->weight));
        json_object_set_new(hit, "where", json_string(h->where));
        /* Snippets come from the message: jansson rejects invalid UTF-8, so fall back. */
        json_t *snippet = json_string(h->snippet);
        json_object_set_new(hit, "snippet", snippet ? snippet : json_string("(not UTF-8)"));
        json_object_set_new(hit, "explanation", json_string(h->explain));
        json_array_append_new(hits, hit);
    }
    json_object_set_new(o, "hits", hits);
    if (v->align.checked) {
        const struct sg_alignment *a = &v->align;
        json_t *al = json_object();
        json_object_set_new(al, "spf", json_string(sg_spf_result_name(a->spf)));
        json_object_set_new(al, "spf_ip", str_or_null(a->spf_ip));
        json_object_set_new(al, "spf_domain", str_or_null(a->spf_domain));
        json_object_set_new(al, "dmarc", json_string(sg_dmarc_result_name(a->dmarc.result)));
        json_object_set_new(al, "dmarc_record",
                            a->dmarc.record_domain[0] ? str_or_null(a->dmarc.record_domain)
                                                      : json_null());
        json_object_set_new(al, "policy", json_string(sg_dmarc_disp_name(a->dmarc.policy)));
        json_object_set_new(al, "pct", json_integer(a->dmarc.pct));
        json_object_set_new(al, "spf_aligned", json_boolean(a->dmarc.spf_aligned));
        json_object_set_new(al, "dkim_aligned", json_boolean(a->dmarc.dkim_aligned));
        json_object_set_new(al, "finding", str_or_null(a->finding));
        json_object_set_new(al, "rewrite_envelope", json_boolean(a->rewrite_envelope));
        json_object_set_new(al, "envelope", a->envelope ? json_string(a->envelope) : json_null());
        json_object_set_new(al, "rewrite_from", json_boolean(a->rewrite_from));
        json_object_set_new(o, "alignment", al);
    } else if (v->align.bad_from) {
        json_t *al = json_object();
        json_object_set_new(al, "finding", str_or_null(v->align.finding));
        json_object_set_new(o, "alignment", al);
    }
    return dump(o);
}
