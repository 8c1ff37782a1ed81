/*
 * config.h - sendguard.conf, read with libconfuse into a plain struct.
 *
 * Every error names the file and line ("FILE:LINE: what is wrong").  After
 * loading, all paths are absolute (relative ones are taken relative to
 * state_directory).  A loaded config is never changed: threads share it
 * read-only through the runtime (runtime.h).
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include "cidr.h"
#include "common.h"

enum sg_canon { SG_CANON_SIMPLE, SG_CANON_RELAXED };
enum sg_on_error { SG_ON_ERROR_TEMPFAIL, SG_ON_ERROR_ACCEPT };

/* An action a finding is configured to take; the values are those of enum
 * sg_action (pipeline.h), which checks that they agree. */
enum sg_config_action {
    SG_CONFIG_ACCEPT = 0,
    SG_CONFIG_TAG = 1,
    SG_CONFIG_REWRITE = 2, /* on_dmarc_fail: From; on_spf_fail: the envelope sender */
    SG_CONFIG_QUARANTINE = 3,
    SG_CONFIG_REJECT = 4,
};

struct sg_config_key {
    char *selector;
    char *file; /* absolute */
};

struct sg_config_domain {
    char *name; /* lower case, no trailing dot */
    struct sg_config_key *keys;
    size_t nkeys;
};

struct sg_config {
    char *path;
    char *socket; /* libmilter notation */
    unsigned socket_mode;
    char *socket_group; /* "" = leave as is */
    char *user;         /* "" = do not switch */
    char *pid_file;     /* "" = none */
    char *state_directory;
    size_t spool_memory_limit;
    char *spool_directory;
    enum sg_on_error on_internal_error;
    int syslog_facility;

    struct sg_cidr_list *internal_hosts;
    char **originating_daemons;
    size_t n_originating_daemons;

    bool add_missing_headers; /* Date and Message-ID, when absent, before signing */
    bool sign_subdomains;
    enum sg_canon header_canon, body_canon;
    char **sign_headers;
    size_t n_sign_headers;
    char **oversign_headers;
    size_t n_oversign_headers;
    char *key_directory; /* "" = none */
    struct sg_config_domain *domains;
    size_t ndomains;

    /* scoring { } */
    char *rules_file; /* absolute; relative names are taken relative to the config's directory */
    double tag_at;    /* score from which the action is tag (0 = never) */
    double quarantine_at;
    double reject_at;
    char *tag_header; /* header added by tag, "" = none */

    /* alignment { } */
    char **egress_ips; /* the public addresses mail leaves from; none = no SPF/DMARC prediction */
    size_t n_egress_ips;
    char *helo_name;   /* for the null sender's SPF check; "" = this host's name */
    unsigned dns_timeout_ms;
    enum sg_config_action on_dmarc_fail; /* DMARC fails and the receiver would act on it */
    enum sg_config_action on_spf_fail;   /* SPF fail, softfail or permerror */
    enum sg_config_action on_dns_error;  /* the prediction could not be made (temperror) */
    enum sg_config_action on_bad_from;   /* no From address, or several: DMARC cannot pass */
    char *rewrite_from;   /* relay address for a DMARC-safe From; "" = none */
    char *bounce_address; /* aligned, SPF-authorised envelope sender; "" = none */

    /* quarantine { } */
    char *database;      /* absolute */
    char *admin_group;   /* group that may use the database; "" = the user's primary group */
    long long retention; /* seconds; 0 = keep forever */
    char *release_via;   /* "smtp:HOST:PORT" or "sendmail:/path" */
};

/* sg_config_load - read a file, then apply "name=value" overrides (as from
 * `sendguard -o`).  On error returns SG_PERM and a message the caller frees. */
enum sg_rc sg_config_load(const char *path, char *const *overrides, size_t n_overrides,
                          struct sg_config **cfg_r, char **error_r);
void sg_config_free(struct sg_config **cfg);

struct sg_rules_spec;

/* sg_config_load_rules - read a rules file (etc/rules.conf) into a spec;
 * SG_PERM and "FILE:LINE: message" (caller frees) on error */
enum sg_rc sg_config_load_rules(const char *path, struct sg_rules_spec **spec_r, char **error_r);

/* sg_config_valid_dns_name - letters, digits, '-', '_' and '.', no empty label */
bool sg_config_valid_dns_name(const char *name);

/* sg_config_parse_size - "512", "64k", "1M" to bytes; false when malformed */
bool sg_config_parse_size(const char *text, size_t *bytes_r);

/* sg_config_parse_duration - "90", "90s", "15m", "12h", "30d", "2w" to
 * seconds; false when malformed */
bool sg_config_parse_duration(const char *text, long long *seconds_r);

/* sg_config_release_smtp - split release_via "smtp:HOST:PORT" (IPv6 in
 * brackets) into new strings; false (and maybe *error_r, caller frees) when
 * it is not that form */
bool sg_config_release_smtp(const char *via, char **host_r, char **port_r, char **error_r);

/* sg_config_socket_postfix - the same socket as Postfix's main.cf names it
 * ("unix:sendguard/sendguard.sock", "inet:127.0.0.1:8891"); caller frees */
char *sg_config_socket_postfix(const char *socket);

/* sg_config_socket_loopback - is the socket reachable from this host only
 * (a unix socket, or inet on 127.0.0.0/8 or ::1)? */
bool sg_config_socket_loopback(const char *socket);

/* sg_config_socket_path - for unix:/local: sockets the file path (borrowed), else NULL */
const char *sg_config_socket_path(const char *socket);

#endif
