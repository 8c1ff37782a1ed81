/*
 * rules.h - the content rules an admin can edit (etc/rules.conf), and the
 * compiled form the scorer uses.
 *
 * Three kinds of rule, each with an id, a weight and a one-line explanation
 * written for the admin:
 *  - term lists: words and phrases matched on case- and accent-folded text,
 *    with separate weights for the subject, the body and attachment names,
 *    and per list whole-word or prefix matching (Dutch compounds);
 *  - structural rules: fixed checks implemented in score.c, named by id
 *    (html_no_text, link_mismatch, risky_attachment, ...), weighted here;
 *  - combinations: fire when all the rules they name have fired.
 *
 * sg_rules_spec is what the file says (filled by config.c); sg_rules is it
 * compiled (one multi-term automaton for all lists), immutable and shared by
 * all threads through the runtime.
 */
#ifndef SG_RULES_H
#define SG_RULES_H

#include "common.h"
#include "match.h"

enum sg_where { SG_WHERE_SUBJECT, SG_WHERE_BODY, SG_WHERE_ATTACHMENT, SG_WHERE_COUNT };

struct sg_term_list {
    char *id;
    char *explain;
    char *lang; /* informational: "nl", "en", "nl,en" */
    enum sg_match_mode mode;
    double weight[SG_WHERE_COUNT];
    char **terms; /* as written in the file */
    size_t nterms;
};

struct sg_rule_weight {
    char *id;
    char *explain;
    double weight;
};

struct sg_combo {
    char *id;
    char *explain;
    double weight;
    char **all; /* rule ids that must all have fired */
    size_t nall;
};

struct sg_rules_spec {
    char *path;
    struct sg_term_list *lists;
    size_t nlists;
    struct sg_rule_weight *rules; /* structural */
    size_t nrules;
    struct sg_combo *combos;
    size_t ncombos;
    char **shorteners; /* URL shortener hosts */
    size_t nshorteners;
    char **risky_extensions; /* executables and scripts, without dot, lower case */
    size_t nrisky_extensions;
    char **macro_extensions; /* macro-enabled office documents */
    size_t nmacro_extensions;
    long many_recipients; /* visible recipients above this count are "many" */
    long date_skew_hours; /* Date further from now than this is "far off" */
};

/* The structural rule ids score.c implements; rules.conf weights them. */
extern const char *const sg_structural_rules[];
extern const size_t sg_structural_rules_count;

void sg_rules_spec_free(struct sg_rules_spec **spec);

struct sg_rules;

/* sg_rules_compile - build the scorer's tables from a spec (which it takes
 * over).  SG_PERM with *error_r (caller frees) when the spec is inconsistent
 * (a combination naming an unknown rule, a term that folds to nothing). */
enum sg_rc sg_rules_compile(struct sg_rules_spec *spec, struct sg_rules **rules_r, char **error_r);
void sg_rules_free(struct sg_rules **rules);

/* sg_rules_spec_of - the spec a compiled rule set came from (borrowed) */
const struct sg_rules_spec *sg_rules_spec_of(const struct sg_rules *rules);

/* sg_rules_matcher - the automaton over every term of every list (borrowed);
 * match ids encode (list index << 20) | term index */
const struct sg_matcher *sg_rules_matcher(const struct sg_rules *rules);

/* sg_rules_weight - the weight of a structural rule, 0 when the file does not list it;
 * *explain_r (borrowed) gets its explanation */
double sg_rules_weight(const struct sg_rules *rules, const char *id, const char **explain_r);

/* sg_where_name - "subject", "body", "attachment" */
const char *sg_where_name(enum sg_where where);

#endif
