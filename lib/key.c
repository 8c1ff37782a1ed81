/*
 * key.c - private key files: safety checks, loading, generation and the
 * public DNS record, with OpenSSL 3.
 */
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Key files are a few KB; anything much larger is not a key. */
#define SG_KEY_MAX_FILE (64 * 1024)

struct sg_key {
    char *path;
    enum sg_key_alg alg;
    int bits;
    unsigned char *pem; /* NUL-terminated file content */
    size_t pem_len;
    char *dns_p; /* base64 public key for p= */
};

/* open_checked - open a key file without following a symbolic link and
 * check what was opened (fstat, not a second lookup by name): owned by root
 * or the daemon's user, no access for group or others */
static enum sg_rc
open_checked(const char *path, uid_t allowed_uid, int *fd_r, char **error_r)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            *error_r = sg_xasprintf("key file %s does not exist; fix the path, or generate a key "
                                    "with: sendguardctl keygen --output %s DOMAIN SELECTOR",
                                    path, path);
        else if (errno == ELOOP)
            *error_r = sg_xasprintf("key file %s is a symbolic link; name the file itself", path);
        else
            *error_r = sg_xasprintf("key file %s: %s", path, strerror(errno));
        return SG_PERM;
    }
    const char *problem = NULL;
    if (fstat(fd, &st) < 0)
        problem = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        problem = "is not a regular file";
    if (problem != NULL) {
        *error_r = sg_xasprintf("key file %s %s", path, problem);
    } else if (st.st_uid != 0 && st.st_uid != allowed_uid) {
        *error_r = sg_xasprintf("key file %s is owned by uid %u, not by root or the sendguard "
                                "user; fix: chown root %s",
                                path, (unsigned)st.st_uid, path);
    } else if ((st.st_mode & 077) != 0) {
        *error_r = sg_xasprintf("key file %s is readable or writable by group or others (mode "
                                "%04o); fix: chmod 600 %s",
                                path, (unsigned)(st.st_mode & 07777), path);
    } else {
        *fd_r = fd;
        return SG_OK;
    }
    close(fd);
    return SG_PERM;
}

/* sg_key_check_file - refuse keys others could read or replace */
enum sg_rc
sg_key_check_file(const char *path, uid_t allowed_uid, char **error_r)
{
    int fd;
    enum sg_rc rc = open_checked(path, allowed_uid, &fd, error_r);
    if (rc == SG_OK)
        close(fd);
    return rc;
}

/* discard - wipe and free key bytes */
static void
discard(unsigned char *data, size_t len)
{
    OPENSSL_cleanse(data, len);
    free(data);
}

/* read_small_file - the whole (checked) file into a NUL-terminated buffer; closes fd */
static enum sg_rc
read_small_file(int fd, const char *path, unsigned char **data_r, size_t *len_r, char **error_r)
{
    unsigned char *buf = sg_xmalloc(SG_KEY_MAX_FILE + 1);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, SG_KEY_MAX_FILE + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error_r = sg_xasprintf("key file %s: %s", path, strerror(errno));
            close(fd);
            discard(buf, len);
            return SG_PERM;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SG_KEY_MAX_FILE) {
            *error_r = sg_xasprintf("key file %s is larger than %d bytes: not a key", path,
                                    SG_KEY_MAX_FILE);
            close(fd);
            discard(buf, len);
            return SG_PERM;
        }
    }
    close(fd);
    buf[len] = '\0';
    *data_r = buf;
    *len_r = len;
    return SG_OK;
}

/* no_passphrase - OpenSSL password callback: never prompt; encrypted keys are refused */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return 0;
}

/* base64 - encode bytes (caller frees) */
static char *
base64(const unsigned char *data, size_t len)
{
    char *out = sg_xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* public_p - the p= value: SubjectPublicKeyInfo DER for RSA, the raw key for Ed25519 (RFC 8463) */
static char *
public_p(EVP_PKEY *pkey, enum sg_key_alg alg)
{
    if (alg == SG_KEY_ED25519) {
        unsigned char raw[32];
        size_t rawlen = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
            return NULL;
        return base64(raw, rawlen);
    }
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0)
        return NULL;
    char *p = base64(der, (size_t)len);
    OPENSSL_free(der);
    return p;
}

/* sg_key_load - check the file, parse it, remember what libopendkim needs */
enum sg_rc
sg_key_load(const char *path, uid_t allowed_uid, struct sg_key **key_r, char **error_r)
{
    unsigned char *data;
    size_t len;
    enum sg_rc rc;

    int fd;
    if ((rc = open_checked(path, allowed_uid, &fd, error_r)) != SG_OK)
        return rc;
    if ((rc = read_small_file(fd, path, &data, &len, error_r)) != SG_OK)
        return rc;

    /* libopendkim would prompt on the terminal for an encrypted key, for every
     * message: refuse those here, without prompting. */
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        *error_r = sg_xasprintf("key file %s holds no PEM private key (or it is encrypted); "
                                "generate one with: sendguardctl keygen",
                                path);
        discard(data, len);
        return SG_PERM;
    }

    enum sg_key_alg alg;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        alg = SG_KEY_RSA;
        break;
    case EVP_PKEY_ED25519:
        alg = SG_KEY_ED25519;
        break;
    default:
        *error_r = sg_xasprintf("key file %s: only RSA and Ed25519 keys can sign DKIM", path);
        EVP_PKEY_free(pkey);
        discard(data, len);
        return SG_PERM;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    if (alg == SG_KEY_RSA && bits < 1024) {
        *error_r = sg_xasprintf("key file %s: RSA key of %d bits is too short (receivers ignore "
                                "signatures under 1024 bits; use 2048)",
                                path, bits);
        EVP_PKEY_free(pkey);
        discard(data, len);
        return SG_PERM;
    }
    char *p = public_p(pkey, alg);
    EVP_PKEY_free(pkey);
    if (p == NULL) {
        *error_r = sg_xasprintf("key file %s: cannot derive the public key", path);
        discard(data, len);
        return SG_INTERNAL;
    }

    struct sg_key *key = sg_xcalloc(1, sizeof(*key));
    key->path = sg_xstrdup(path);
    key->alg = alg;
    key->bits = bits;
    key->pem = data;
    key->pem_len = len;
    key->dns_p = p;
    *key_r = key;
    return SG_OK;
}

/* sg_key_free - wipe and free a key */
void
sg_key_free(struct sg_key **keyp)
{
    struct sg_key *key = *keyp;
    if (key == NULL)
        return;
    discard(key->pem, key->pem_len);
    free(key->path);
    free(key->dns_p);
    free(key);
    *keyp = NULL;
}

/* sg_key_alg - the algorithm of a key */
enum sg_key_alg
sg_key_alg(const struct sg_key *key)
{
    return key->alg;
}

/* sg_key_alg_name - the DKIM a= name */
const char *
sg_key_alg_name(enum sg_key_alg alg)
{
    return alg == SG_KEY_ED25519 ? "ed25519-sha256" : "rsa-sha256";
}

/* sg_key_bits - key size */
int
sg_key_bits(const struct sg_key *key)
{
    return key->bits;
}

/* sg_key_path - file name */
const char *
sg_key_path(const struct sg_key *key)
{
    return key->path;
}

/* sg_key_signing_data - the PEM for libopendkim */
const unsigned char *
sg_key_signing_data(const struct sg_key *key, size_t *len_r)
{
    *len_r = key->pem_len;
    return key->pem;
}

/* sg_key_dns_value - "v=DKIM1; k=rsa; p=..." */
char *
sg_key_dns_value(const struct sg_key *key)
{
    return sg_xasprintf("v=DKIM1; k=%s; p=%s", key->alg == SG_KEY_ED25519 ? "ed25519" : "rsa",
                        key->dns_p);
}

/* sg_key_crypto_version - OpenSSL's version text */
const char *
sg_key_crypto_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

/* sg_key_generate - make a key pair and write the private half, 0600, never overwriting */
enum sg_rc
sg_key_generate(const char *path, enum sg_key_alg alg, int bits, char **error_r)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_id(alg == SG_KEY_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
        (alg == SG_KEY_RSA && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) != 1) ||
        EVP_PKEY_keygen(ctx, &pkey) != 1) {
        EVP_PKEY_CTX_free(ctx);
        *error_r = sg_xasprintf("cannot generate a %s key", sg_key_alg_name(alg));
        return SG_INTERNAL;
    }
    EVP_PKEY_CTX_free(ctx);

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int err = errno;
        *error_r = sg_xasprintf("cannot create key file %s: %s", path, strerror(err));
        EVP_PKEY_free(pkey);
        return err == EEXIST ? SG_PERM : SG_TEMP;
    }
    FILE *f = fdopen(fd, "w");
    bool ok = f != NULL && PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
    if (f != NULL)
        ok = (fclose(f) == 0) && ok;
    else
        close(fd);
    EVP_PKEY_free(pkey);
    if (!ok) {
        unlink(path);
        *error_r = sg_xasprintf("cannot write key file %s", path);
        return SG_TEMP;
    }
    return SG_OK;
}
