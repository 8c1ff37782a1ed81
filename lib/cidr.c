/*
 * cidr.c - network lists, stored as 16-byte addresses (IPv4 mapped into
 * ::ffff:0:0/96) with a prefix length, matched by a linear scan: lists are
 * a handful of entries.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sg_cidr {
    uint8_t addr[16];
    unsigned prefix; /* 0..128, in the IPv6 space */
};

struct sg_cidr_list {
    struct sg_cidr *items;
    size_t count;
};

/* sg_cidr_list_new - an empty list */
struct sg_cidr_list *
sg_cidr_list_new(void)
{
    return sg_xcalloc(1, sizeof(struct sg_cidr_list));
}

/* sg_cidr_list_free - free a list and clear the pointer */
void
sg_cidr_list_free(struct sg_cidr_list **list)
{
    if (*list == NULL)
        return;
    free((*list)->items);
    free(*list);
    *list = NULL;
}

/* parse_addr - text to 16 bytes; *v4_r tells whether it was IPv4 */
static bool
parse_addr(const char *text, uint8_t out[16], bool *v4_r)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4_r = true;
        return true;
    }
    *v4_r = false;
    return inet_pton(AF_INET6, text, out) == 1;
}

/* sg_cidr_list_add - parse "addr[/len]" and append it */
enum sg_rc
sg_cidr_list_add(struct sg_cidr_list *list, const char *spec, const char **error_r)
{
    char buf[64];
    char *slash;
    struct sg_cidr c;
    bool v4;

    if (strlen(spec) >= sizeof(buf)) {
        *error_r = "network too long";
        return SG_PERM;
    }
    strcpy(buf, spec);
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash++ = '\0';
    if (!parse_addr(buf, c.addr, &v4)) {
        *error_r = "not an IPv4 or IPv6 address";
        return SG_PERM;
    }
    unsigned max = v4 ? 32 : 128;
    unsigned len = max;
    if (slash != NULL) {
        char *end;
        long n = strtol(slash, &end, 10);
        if (*slash == '\0' || *end != '\0' || n < 0 || (unsigned long)n > max) {
            *error_r = v4 ? "prefix length must be 0-32" : "prefix length must be 0-128";
            return SG_PERM;
        }
        len = (unsigned)n;
    }
    c.prefix = v4 ? len + 96 : len;
    /* Clear host bits so that 10.1.2.3/8 means 10.0.0.0/8. */
    for (unsigned bit = c.prefix; bit < 128; bit++)
        c.addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));

    list->items = sg_xrealloc(list->items, (list->count + 1) * sizeof(*list->items));
    list->items[list->count++] = c;
    return SG_OK;
}

/* in_net - is addr inside network c? */
static bool
in_net(const struct sg_cidr *c, const uint8_t addr[16])
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == c->addr[full];
}

/* sg_cidr_list_match - membership test for a textual address */
bool
sg_cidr_list_match(const struct sg_cidr_list *list, const char *addr)
{
    uint8_t a[16];
    bool v4;
    char buf[64];

    if (list == NULL || addr == NULL)
        return false;
    /* Postfix may send IPv6 client addresses as "IPv6:2001:db8::1". */
    if (strncasecmp(addr, "IPv6:", 5) == 0)
        addr += 5;
    sg_strlcpy(buf, addr, sizeof(buf));
    /* Strip a zone index such as fe80::1%eth0. */
    char *pct = strchr(buf, '%');
    if (pct != NULL)
        *pct = '\0';
    if (!parse_addr(buf, a, &v4))
        return false;
    for (size_t i = 0; i < list->count; i++)
        if (in_net(&list->items[i], a))
            return true;
    return false;
}
