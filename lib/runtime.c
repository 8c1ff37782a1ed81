/*
 * runtime.c - the shared, reference-counted runtime.
 */
#include "runtime.h"

#include "mime.h"

#include <stdlib.h>

/* sg_runtime_load_rules - the configured rules file, compiled; NULL for rules = "" */
enum sg_rc
sg_runtime_load_rules(const struct sg_config *cfg, struct sg_rules **rules_r, char **error_r)
{
    struct sg_rules_spec *spec;
    *rules_r = NULL;
    if (cfg->rules_file[0] == '\0')
        return SG_OK;
    enum sg_rc rc = sg_config_load_rules(cfg->rules_file, &spec, error_r);
    if (rc == SG_OK)
        rc = sg_rules_compile(spec, rules_r, error_r);
    return rc;
}

/* check_relay_key - a From rewritten to rewrite_from is signed for its
 * domain: without a key the rewrite would fail DMARC just the same */
static enum sg_rc
check_relay_key(const struct sg_config *cfg, const struct sg_keyring *keys, char **error_r)
{
    if (cfg->on_dmarc_fail != SG_CONFIG_REWRITE)
        return SG_OK;
    char *relay = sg_addr_domain(cfg->rewrite_from);
    const struct sg_signing_key *selected;
    const char *d;
    enum sg_rc rc = SG_OK;
    if (sg_keyring_select(keys, relay, false, &selected, &d) == 0) { /* its own key */
        *error_r = sg_xasprintf("alignment: rewrite_from %s: sendguard has no DKIM key for %s, "
                                "so a rewritten From would fail DMARC too; create one "
                                "(sendguardctl keygen %s SELECTOR) and publish it",
                                cfg->rewrite_from, relay, relay);
        rc = SG_PERM;
    }
    free(relay);
    return rc;
}

/* sg_runtime_new - config + keys + DKIM + rules */
enum sg_rc
sg_runtime_new(struct sg_config *cfg, uid_t uid, struct sg_runtime **rt_r, char **error_r)
{
    struct sg_keyring *keys = NULL;
    struct sg_dkim *dkim = NULL;
    struct sg_rules *rules = NULL;
    enum sg_rc rc = sg_keyring_load(cfg, uid, &keys, error_r);
    if (rc == SG_OK)
        rc = check_relay_key(cfg, keys, error_r);
    if (rc == SG_OK)
        rc = sg_dkim_new(cfg, &dkim, error_r);
    if (rc == SG_OK)
        rc = sg_runtime_load_rules(cfg, &rules, error_r);
    struct sg_spf *spf = NULL;
    if (rc == SG_OK && cfg->n_egress_ips > 0)
        rc = sg_spf_new(cfg->dns_timeout_ms, &spf, error_r);
    if (rc != SG_OK) {
        sg_rules_free(&rules);
        sg_dkim_free(&dkim);
        sg_keyring_free(&keys);
        sg_config_free(&cfg);
        return rc;
    }
    struct sg_runtime *rt = sg_xcalloc(1, sizeof(*rt));
    rt->cfg = cfg;
    rt->keys = keys;
    rt->dkim = dkim;
    rt->rules = rules;
    rt->spf = spf;
    rt->refs = 1;
    *rt_r = rt;
    return SG_OK;
}

/* sg_runtime_ref - count a holder */
struct sg_runtime *
sg_runtime_ref(struct sg_runtime *rt)
{
    __atomic_add_fetch(&rt->refs, 1, __ATOMIC_RELAXED);
    return rt;
}

/* sg_runtime_unref - drop a holder; free at zero */
void
sg_runtime_unref(struct sg_runtime **rtp)
{
    struct sg_runtime *rt = *rtp;
    if (rt == NULL)
        return;
    *rtp = NULL;
    if (__atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    struct sg_config *cfg = (struct sg_config *)rt->cfg;
    struct sg_keyring *keys = (struct sg_keyring *)rt->keys;
    struct sg_rules *rules = (struct sg_rules *)rt->rules;
    sg_rules_free(&rules);
    sg_spf_free(&rt->spf);
    sg_dkim_free(&rt->dkim);
    sg_keyring_free(&keys);
    sg_config_free(&cfg);
    free(rt);
}
