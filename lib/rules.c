/*
 * rules.c - compile a rules spec: fold every term, put all of them in one
 * automaton, check that combinations name rules that exist.
 */
#include "rules.h"

#include "fold.h"

#include <stdlib.h>
#include <string.h>

/* Implemented in score.c; listed here so that rules.conf can be checked. */
const char *const sg_structural_rules[] = {
    "html_no_text",      "image_only",
    "empty_body",        "link_mismatch",
    "url_shortener",     "ip_link",
    "risky_attachment",  "macro_attachment",
    "double_extension",  "encrypted_archive",
    "no_date",           "no_message_id",
    "date_off",          "display_name_address",
    "reply_to_mismatch", "subject_shouting",
    "empty_subject",     "many_recipients",
    "malformed_mime",
};
const size_t sg_structural_rules_count = SG_NELEM(sg_structural_rules);

struct sg_rules {
    struct sg_rules_spec *spec;
    struct sg_matcher *matcher;
};

/* sg_rules_spec_free - free a spec */
void
sg_rules_spec_free(struct sg_rules_spec **sp)
{
    struct sg_rules_spec *s = *sp;
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nlists; i++) {
        free(s->lists[i].id);
        free(s->lists[i].explain);
        free(s->lists[i].lang);
        sg_strv_free(s->lists[i].terms);
    }
    free(s->lists);
    for (size_t i = 0; i < s->nrules; i++) {
        free(s->rules[i].id);
        free(s->rules[i].explain);
    }
    free(s->rules);
    for (size_t i = 0; i < s->ncombos; i++) {
        free(s->combos[i].id);
        free(s->combos[i].explain);
        sg_strv_free(s->combos[i].all);
    }
    free(s->combos);
    sg_strv_free(s->shorteners);
    sg_strv_free(s->risky_extensions);
    sg_strv_free(s->macro_extensions);
    free(s->path);
    free(s);
    *sp = NULL;
}

/* known_id - does a term list, structural rule or combination have this id? */
static bool
known_id(const struct sg_rules_spec *s, const char *id)
{
    for (size_t i = 0; i < s->nlists; i++)
        if (strcmp(s->lists[i].id, id) == 0)
            return true;
    for (size_t i = 0; i < s->nrules; i++)
        if (strcmp(s->rules[i].id, id) == 0)
            return true;
    for (size_t i = 0; i < s->ncombos; i++)
        if (strcmp(s->combos[i].id, id) == 0)
            return true;
    return false;
}

/* sg_rules_compile - spec to automaton */
enum sg_rc
sg_rules_compile(struct sg_rules_spec *spec, struct sg_rules **rules_r, char **error_r)
{
    for (size_t i = 0; i < spec->ncombos; i++) {
        for (size_t k = 0; k < spec->combos[i].nall; k++) {
            if (!known_id(spec, spec->combos[i].all[k])) {
                *error_r = sg_xasprintf("%s: combo \"%s\" names \"%s\", which is no rule or term "
                                        "list in the file",
                                        spec->path, spec->combos[i].id, spec->combos[i].all[k]);
                sg_rules_spec_free(&spec);
                return SG_PERM;
            }
        }
    }
    struct sg_matcher *m = sg_matcher_new();
    for (size_t i = 0; i < spec->nlists; i++) {
        if (spec->nlists >= (1u << 11) || spec->lists[i].nterms >= (1u << 20)) {
            *error_r = sg_xasprintf("%s: too many term lists or terms", spec->path);
            sg_matcher_free(&m);
            sg_rules_spec_free(&spec);
            return SG_PERM;
        }
        for (size_t k = 0; k < spec->lists[i].nterms; k++) {
            char *folded = sg_fold_str(spec->lists[i].terms[k]);
            if (folded[0] == '\0') {
                *error_r =
                    sg_xasprintf("%s: terms \"%s\": an empty word", spec->path, spec->lists[i].id);
                free(folded);
                sg_matcher_free(&m);
                sg_rules_spec_free(&spec);
                return SG_PERM;
            }
            sg_matcher_add(m, folded, spec->lists[i].mode, (i << 20) | k);
            free(folded);
        }
    }
    sg_matcher_compile(m);
    struct sg_rules *r = sg_xcalloc(1, sizeof(*r));
    r->spec = spec;
    r->matcher = m;
    *rules_r = r;
    return SG_OK;
}

/* sg_rules_free - free compiled rules and their spec */
void
sg_rules_free(struct sg_rules **rp)
{
    struct sg_rules *r = *rp;
    if (r == NULL)
        return;
    sg_matcher_free(&r->matcher);
    sg_rules_spec_free(&r->spec);
    free(r);
    *rp = NULL;
}

/* sg_rules_spec_of - the spec */
const struct sg_rules_spec *
sg_rules_spec_of(const struct sg_rules *r)
{
    return r->spec;
}

/* sg_rules_matcher - the automaton */
const struct sg_matcher *
sg_rules_matcher(const struct sg_rules *r)
{
    return r->matcher;
}

/* sg_rules_weight - structural rule weight by id */
double
sg_rules_weight(const struct sg_rules *r, const char *id, const char **explain_r)
{
    for (size_t i = 0; i < r->spec->nrules; i++) {
        if (strcmp(r->spec->rules[i].id, id) == 0) {
            *explain_r = r->spec->rules[i].explain;
            return r->spec->rules[i].weight;
        }
    }
    *explain_r = NULL;
    return 0.0;
}

/* sg_where_name - location word */
const char *
sg_where_name(enum sg_where where)
{
    static const char *const names[] = {"subject", "body", "attachment"};
    return where < SG_WHERE_COUNT ? names[where] : "?";
}
