/*
 * json.c - jansson wrapper: verdicts to JSON text.
 */
#include "json.h"

#include <jansson.h>
#include <stdlib.h>

/* str_or_null - a JSON string, or null for NULL */
static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
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
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (text == NULL)
        abort(); /* only on allocation failure */
    return text;
}
