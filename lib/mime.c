/*
 * mime.c - GMime wrapper: From header addresses.
 */
#include "mime.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* init - GMime's global setup */
static void
init(void)
{
    g_mime_init();
}

/* sg_mime_init - initialise GMime once */
void
sg_mime_init(void)
{
    pthread_once(&init_once, init);
}

/* count_mailboxes - mailboxes in a list, descending into groups; the first one is kept */
static int
count_mailboxes(InternetAddressList *list, InternetAddressMailbox **first_r)
{
    int n = 0;
    for (int i = 0; i < internet_address_list_length(list); i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            n += count_mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                                 first_r);
        } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            if (n == 0 && *first_r == NULL)
                *first_r = INTERNET_ADDRESS_MAILBOX(ia);
            n++;
        }
    }
    return n;
}

/* sg_mime_from - exactly one mailbox, or why not */
enum sg_from_status
sg_mime_from(const char *value, char **addr_r)
{
    sg_mime_init();
    *addr_r = NULL;
    InternetAddressList *list = internet_address_list_parse(NULL, value);
    if (list == NULL)
        return SG_FROM_NONE;
    InternetAddressMailbox *first = NULL;
    int n = count_mailboxes(list, &first);
    enum sg_from_status st = n == 0 ? SG_FROM_NONE : n == 1 ? SG_FROM_ONE : SG_FROM_MULTIPLE;
    if (st == SG_FROM_ONE) {
        const char *addr = internet_address_mailbox_get_addr(first);
        if (addr == NULL || strchr(addr, '@') == NULL)
            st = SG_FROM_NONE;
        else
            *addr_r = sg_xstrdup(addr);
    }
    g_object_unref(list);
    return st;
}

/* sg_addr_domain - lower-cased domain part */
char *
sg_addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    if (at == NULL || at[1] == '\0')
        return NULL;
    char *d = sg_str_lower(sg_xstrdup(at + 1));
    size_t len = strlen(d);
    while (len > 0 && (d[len - 1] == '.' || d[len - 1] == '>' || d[len - 1] == ' '))
        d[--len] = '\0';
    if (len == 0) {
        free(d);
        return NULL;
    }
    return d;
}
