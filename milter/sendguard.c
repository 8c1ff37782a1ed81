/*
 * sendguard.c - the daemon: options, configuration, keys, socket,
 * privileges, then libmilter's loop.
 *
 * Order matters: keys are read and the socket is opened as root; then the
 * process becomes the configured user; only then do libmilter's threads
 * start handling mail.
 */
#include "callbacks.h"
#include "config.h"
#include "dkim.h"
#include "key.h"
#include "log.h"
#include "mime.h"
#include "recorder.h"
#include "runtime.h"
#include "spool.h"
#include "store.h"
#include "tcp_tune.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <libmilter/mfapi.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/sendguard/sendguard.conf"
#define MAX_OVERRIDES 64

struct options {
    const char *config;
    bool foreground;
    bool check_only;
    char *overrides[MAX_OVERRIDES];
    size_t n_overrides;
};

/* usage - print how to call sendguard and exit */
static void
usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: sendguard [-f] [-n] [-V] [-c FILE] [-o name=value]...\n"
            "  -c FILE        configuration file (default %s)\n"
            "  -f             stay in the foreground and log to stderr too\n"
            "  -n             check the configuration and keys, print the Postfix settings, exit\n"
            "  -o name=value  override a configuration option (repeatable)\n"
            "  -V             print the version and what sendguard was built with\n",
            DEFAULT_CONFIG);
    exit(status);
}

/* print_version - version, algorithms and libraries */
static void
print_version(void)
{
    unsigned int major = 0, minor = 0, pl = 0;
    smfi_version(&major, &minor, &pl);
    printf("sendguard %s\n", SG_VERSION);
    printf("signing algorithms: rsa-sha256 ed25519-sha256\n");
    printf("libraries: libmilter %u.%u.%u, libopendkim %s, %s\n", major, minor, pl,
           sg_dkim_version(), sg_key_crypto_version());
}

/* parse_options - command line to struct options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    int ch;
    memset(o, 0, sizeof(*o));
    o->config = DEFAULT_CONFIG;
    while ((ch = getopt(argc, argv, "c:fhno:V")) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 'n':
            o->check_only = true;
            break;
        case 'o':
            if (o->n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "sendguard: too many -o options\n");
                exit(EX_USAGE);
            }
            o->overrides[o->n_overrides++] = optarg;
            break;
        case 'V':
            print_version();
            exit(EX_OK);
        case 'h':
            usage(EX_OK);
            break;
        default:
            usage(EX_USAGE);
        }
    }
    if (optind != argc)
        usage(EX_USAGE);
}

struct identity {
    bool change;
    uid_t uid;
    gid_t gid;
    gid_t socket_gid; /* (gid_t)-1: leave */
    gid_t admin_gid;  /* group of the quarantine database */
};

/* resolve_identity - the user to become and the socket's group */
static bool
resolve_identity(const struct sg_config *cfg, struct identity *id, char **error_r)
{
    id->change = cfg->user[0] != '\0';
    id->uid = getuid();
    id->gid = getgid();
    id->socket_gid = (gid_t)-1;
    if (id->change) {
        struct passwd *pw = getpwnam(cfg->user);
        if (pw == NULL) {
            *error_r = sg_xasprintf("%s: user \"%s\" does not exist; create it (adduser --system "
                                    "--group %s) or set user = \"\"",
                                    cfg->path, cfg->user, cfg->user);
            return false;
        }
        id->uid = pw->pw_uid;
        id->gid = pw->pw_gid;
    }
    if (cfg->socket_group[0] != '\0') {
        struct group *gr = getgrnam(cfg->socket_group);
        if (gr == NULL) {
            *error_r = sg_xasprintf("%s: socket_group \"%s\" does not exist", cfg->path,
                                    cfg->socket_group);
            return false;
        }
        id->socket_gid = gr->gr_gid;
    }
    id->admin_gid = id->gid;
    if (cfg->admin_group[0] != '\0') {
        struct group *gr = getgrnam(cfg->admin_group);
        if (gr == NULL) {
            *error_r = sg_xasprintf("%s: admin_group \"%s\" does not exist; create it (addgroup "
                                    "--system %s) or set admin_group = \"\"",
                                    cfg->path, cfg->admin_group, cfg->admin_group);
            return false;
        }
        id->admin_gid = gr->gr_gid;
    }
    return true;
}

/* make_parent_dir - create the directory holding path (one level) if missing;
 * owned by the run user when give_away, else by root */
static bool
make_parent_dir(const char *path, const struct identity *id, bool give_away, mode_t mode,
                char **error_r)
{
    char *copy = sg_xstrdup(path);
    char *dir = dirname(copy);
    struct stat st;
    bool ok = true;
    if (stat(dir, &st) < 0) {
        if (mkdir(dir, mode) < 0) {
            *error_r = sg_xasprintf("cannot create directory %s: %s", dir, strerror(errno));
            ok = false;
        } else if (give_away && id->change && chown(dir, id->uid, id->gid) < 0) {
            *error_r = sg_xasprintf("cannot chown directory %s: %s", dir, strerror(errno));
            ok = false;
        }
    }
    free(copy);
    return ok;
}

/* open_socket - create the listening socket with the configured owner and mode.
 * The directory stays root's: were it the run user's, that user could swap
 * the socket for a symbolic link between bind() and chown(). */
static bool
open_socket(const struct sg_config *cfg, const struct identity *id, char **error_r)
{
    const char *path = sg_config_socket_path(cfg->socket);
    if (path != NULL && !make_parent_dir(path, id, false, 0755, error_r))
        return false;
    if (smfi_setconn(cfg->socket) != MI_SUCCESS) {
        *error_r = sg_xasprintf("socket %s: libmilter refused it", cfg->socket);
        return false;
    }
    /* bind() gives the socket 0777 & ~umask: the mode is set by creating it so. */
    mode_t old = umask(~cfg->socket_mode & 0777);
    int ret = smfi_opensocket(true);
    umask(old);
    if (ret != MI_SUCCESS) {
        *error_r = sg_xasprintf("cannot listen on %s (in use, or directory missing?)", cfg->socket);
        return false;
    }
    if (path != NULL &&
        fchownat(AT_FDCWD, path, id->change ? id->uid : (uid_t)-1, id->socket_gid,
                 AT_SYMLINK_NOFOLLOW) < 0) {
        *error_r = sg_xasprintf("cannot set the owner of %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* lock_pid_file - open and lock the pid file before anything else, so that a
 * second sendguard cannot take over the socket of a running one.  The file is
 * opened without following links and must be a plain file with one link:
 * its directory belongs to the run user (so that it can be removed at exit),
 * and root must not be tricked into writing elsewhere.  *fd_r stays open (and
 * locked) for the life of the process; -1 when there is no pid file. */
static bool
lock_pid_file(const struct sg_config *cfg, const struct identity *id, int *fd_r, char **error_r)
{
    *fd_r = -1;
    if (cfg->pid_file[0] == '\0')
        return true;
    if (!make_parent_dir(cfg->pid_file, id, true, 0755, error_r))
        return false;
    int fd = open(cfg->pid_file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        *error_r = sg_xasprintf("cannot open pid file %s: %s", cfg->pid_file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        *error_r = sg_xasprintf("pid file %s is not a plain file; remove it", cfg->pid_file);
        close(fd);
        return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        *error_r = sg_xasprintf("another sendguard is running (pid %s, pid file %s)",
                                buf[0] ? buf : "?", cfg->pid_file);
        close(fd);
        return false;
    }
    *fd_r = fd;
    return true;
}

/* write_pid - record our pid in the locked pid file */
static bool
write_pid(int fd, const struct sg_config *cfg, char **error_r)
{
    if (fd < 0)
        return true;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        *error_r = sg_xasprintf("cannot write pid file %s: %s", cfg->pid_file, strerror(errno));
        return false;
    }
    return true;
}

/* drop_privileges - become the configured user for good */
static bool
drop_privileges(const struct sg_config *cfg, const struct identity *id, char **error_r)
{
    if (!id->change)
        return true;
    if (setgroups(0, NULL) < 0 && errno != EPERM) {
        *error_r = sg_xasprintf("setgroups: %s", strerror(errno));
        return false;
    }
    if (initgroups(cfg->user, id->gid) < 0 && getuid() == 0) {
        *error_r = sg_xasprintf("initgroups(%s): %s", cfg->user, strerror(errno));
        return false;
    }
    if (setgid(id->gid) < 0 || setuid(id->uid) < 0) {
        *error_r = sg_xasprintf("cannot become user %s: %s", cfg->user, strerror(errno));
        return false;
    }
    if (id->uid != 0 && setuid(0) == 0) {
        *error_r = sg_xstrdup("could regain root after dropping privileges; refusing to run");
        return false;
    }
    return true;
}

/* make_database_dir - the directory of the quarantine database, if missing:
 * owned by the run user and the admin group, mode 2770 (the set-group-id
 * bit gives the database and its -wal and -shm files the admin group).
 * Others get nothing: the quarantine holds personal data.  An existing
 * directory is left as the administrator made it. */
static bool
make_database_dir(const struct sg_config *cfg, const struct identity *id, char **error_r)
{
    char *copy = sg_xstrdup(cfg->database);
    char *dir = dirname(copy);
    bool ok = true;
    struct stat st;
    /* A fresh install: the state directory itself, searchable like /var/lib. */
    if (stat(cfg->state_directory, &st) < 0 && mkdir(cfg->state_directory, 0755) < 0) {
        *error_r = sg_xasprintf("cannot create state_directory %s: %s", cfg->state_directory,
                                strerror(errno));
        free(copy);
        return false;
    }
    if (stat(dir, &st) < 0) {
        if (mkdir(dir, 0700) < 0 || chown(dir, id->change ? id->uid : (uid_t)-1, id->admin_gid) < 0 ||
            chmod(dir, 02770) < 0) {
            *error_r = sg_xasprintf("cannot create the quarantine directory %s: %s", dir,
                                    strerror(errno));
            ok = false;
        }
    }
    free(copy);
    return ok;
}

/* check_database_dir - after dropping privileges: can this user create the
 * database and its -wal and -shm files?  Says which directory to fix. */
static bool
check_database_dir(const struct sg_config *cfg, char **error_r)
{
    char *copy = sg_xstrdup(cfg->database);
    const char *dir = dirname(copy);
    bool ok = access(dir, W_OK | X_OK) == 0;
    if (!ok)
        *error_r = sg_xasprintf("the quarantine directory %s is not writable for user %s (%s): "
                                "it and every directory above it must be searchable by that "
                                "user (e.g. chmod 755 %s)",
                                dir, cfg->user[0] ? cfg->user : "(unchanged)", strerror(errno),
                                cfg->state_directory);
    free(copy);
    return ok;
}

/* The write end of the pipe to the waiting parent of a detached daemon, or -1. */
static int ready_fd = -1;

/* report_ready - tell the waiting parent how start-up ended (0: serving) */
static void
report_ready(int status)
{
    if (ready_fd < 0)
        return;
    unsigned char b = (unsigned char)status;
    (void)!write(ready_fd, &b, 1);
    close(ready_fd);
    ready_fd = -1;
}

/* daemonize - detach from the terminal.  The parent waits until the child
 * has finished starting (pid file, user switch, spool check) and exits with
 * its status, so that an init system sees a failed start as failed. */
static bool
daemonize(char **error_r)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        *error_r = sg_xasprintf("pipe: %s", strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *error_r = sg_xasprintf("fork: %s", strerror(errno));
        return false;
    }
    if (pid > 0) {
        unsigned char status = EX_SOFTWARE; /* the child died without a word */
        close(pipefd[1]);
        while (read(pipefd[0], &status, 1) < 0 && errno == EINTR)
            ;
        _exit(status);
    }
    close(pipefd[0]);
    ready_fd = pipefd[1];
    setsid();
    if (chdir("/") < 0) {
        *error_r = sg_xasprintf("chdir /: %s", strerror(errno));
        return false;
    }
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return true;
}

/* fail - report a start-up error and exit */
static void
fail(int status, char *error)
{
    sg_error("%s", error);
    free(error);
    report_ready(status);
    exit(status);
}

/* alignment_warning - a configuration that asks for rewrites that cannot
 * happen (no egress_ips: no prediction), or NULL */
static const char *
alignment_warning(const struct sg_config *cfg)
{
    if (cfg->n_egress_ips == 0 &&
        (cfg->on_dmarc_fail == SG_CONFIG_REWRITE || cfg->on_spf_fail == SG_CONFIG_REWRITE))
        return "alignment: on_dmarc_fail/on_spf_fail = rewrite do nothing while egress_ips is "
               "empty (no SPF/DMARC prediction); list the addresses mail leaves from";
    return NULL;
}

/* print_check - what `sendguard -n` tells the administrator */
static void
print_check(const struct sg_runtime *rt)
{
    char *postfix = sg_config_socket_postfix(rt->cfg->socket);
    printf("%s: configuration OK\n", rt->cfg->path);
    printf("socket: %s\n", rt->cfg->socket);
    printf("quarantine database: %s (retention %lld s, release via %s)\n", rt->cfg->database,
           rt->cfg->retention, rt->cfg->release_via);
    if (alignment_warning(rt->cfg) != NULL)
        printf("warning: %s\n", alignment_warning(rt->cfg));
    for (size_t i = 0;; i++) {
        char *line = sg_keyring_describe(rt->keys, i);
        if (line == NULL) {
            if (i == 0)
                printf("no signing keys: mail passes unsigned (see key_directory and domain)\n");
            break;
        }
        printf("key: %s\n", line);
        free(line);
    }
    printf("add to Postfix's main.cf:\n"
           "  smtpd_milters = %s\n"
           "  non_smtpd_milters = %s\n"
           "  milter_default_action = tempfail\n"
           "  # keep signed 8bit bodies as they are (else Postfix may convert them to\n"
           "  # quoted-printable for some receivers, and the signature breaks there):\n"
           "  disable_mime_output_conversion = yes\n",
           postfix, postfix);
    free(postfix);
}

int
main(int argc, char **argv)
{
    struct options opt;
    struct sg_config *cfg;
    struct sg_runtime *rt;
    struct identity id;
    char *error = NULL;

    parse_options(argc, argv, &opt);
    /* Until the configuration names a facility, errors go to stderr. */
    if (sg_config_load(opt.config, opt.overrides, opt.n_overrides, &cfg, &error) != SG_OK) {
        fprintf(stderr, "sendguard: %s\n", error);
        free(error);
        return EX_CONFIG;
    }
    if (!resolve_identity(cfg, &id, &error)) {
        fprintf(stderr, "sendguard: %s\n", error);
        free(error);
        sg_config_free(&cfg);
        return EX_CONFIG;
    }
    sg_mime_init();
    if (sg_runtime_new(cfg, id.uid, &rt, &error) != SG_OK) {
        fprintf(stderr, "sendguard: %s\n", error);
        free(error);
        return EX_CONFIG;
    }
    if (opt.check_only) {
        print_check(rt);
        sg_runtime_unref(&rt);
        return EX_OK;
    }

    sg_log_open(rt->cfg->syslog_facility, opt.foreground);
    if (alignment_warning(rt->cfg) != NULL)
        sg_warn("%s", alignment_warning(rt->cfg));
    int pid_fd;
    if (!lock_pid_file(rt->cfg, &id, &pid_fd, &error))
        fail(EX_CANTCREAT, error);
    if (smfi_register(*sg_callbacks_descriptor()) != MI_SUCCESS)
        fail(EX_SOFTWARE, sg_xstrdup("smfi_register failed"));
    if (!open_socket(rt->cfg, &id, &error))
        fail(EX_OSERR, error);
    if (!opt.foreground && !daemonize(&error))
        fail(EX_OSERR, error);
    if (!write_pid(pid_fd, rt->cfg, &error))
        fail(EX_CANTCREAT, error);
    if (!make_database_dir(rt->cfg, &id, &error))
        fail(EX_CANTCREAT, error);
    if (!drop_privileges(rt->cfg, &id, &error))
        fail(EX_NOPERM, error);
    /* As the run user: can it spool large messages?  Better to know now than at the first one. */
    if (sg_spool_check_dir(rt->cfg->spool_directory, &error) != SG_OK)
        fail(EX_CANTCREAT, error);
    /* Created as the run user, so that it owns the file. */
    if (!check_database_dir(rt->cfg, &error))
        fail(EX_NOPERM, error);
    struct sg_store *db = NULL;
    if (sg_store_open(rt->cfg->database, 0, &db, &error) != SG_OK)
        fail(EX_CANTCREAT, error);
    sg_callbacks_set_store(db);
    if (!sg_recorder_start(rt->cfg, &error))
        fail(EX_OSERR, error);
    if (!sg_config_socket_loopback(rt->cfg->socket))
        sg_warn("socket %s is reachable from other hosts: anyone who can connect to it can have "
                "mail signed for your domains; listen on 127.0.0.1 or a unix socket",
                rt->cfg->socket);

    char *postfix = sg_config_socket_postfix(rt->cfg->socket);
    sg_info("sendguard %s starting: socket %s (Postfix main.cf: smtpd_milters = %s), %zu signing "
            "domain(s), user %s, quarantine %s",
            SG_VERSION, rt->cfg->socket, postfix, sg_keyring_domains(rt->keys),
            rt->cfg->user[0] ? rt->cfg->user : "(unchanged)", rt->cfg->database);
    free(postfix);
    signal(SIGPIPE, SIG_IGN);

    sg_tcp_tune_enable(sg_config_socket_path(rt->cfg->socket) == NULL);
    sg_callbacks_set_runtime(rt);
    report_ready(EX_OK);
    /* libmilter's own signal thread turns SIGTERM/SIGINT into an orderly stop. */
    int ret = smfi_main();

    /* libmilter's session threads may still be finishing messages: the runtime
     * stays published (and the process exits with it). */
    sg_recorder_stop();
    /* The store stays open like the runtime: session threads may still use it. */
    if (rt->cfg->pid_file[0] != '\0')
        unlink(rt->cfg->pid_file);
    sg_info("sendguard stopped");
    sg_runtime_unref(&rt);
    return ret == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
}
