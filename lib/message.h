/*
 * message.h - one message as the milter received it: the header fields in
 * order, exactly as they arrived, and the body in a spool (memory, then a
 * temporary file).  Lives from MAIL FROM to end of message or abort, and
 * belongs to the thread handling that connection.
 */
#ifndef SG_MESSAGE_H
#define SG_MESSAGE_H

#include "common.h"
#include "spool.h"

struct sg_msg;

/* sg_msg_new - an empty message whose body moves to dir past mem_limit bytes */
struct sg_msg *sg_msg_new(size_t mem_limit, const char *spool_dir);
void sg_msg_free(struct sg_msg **msg);

/* A message's header fields are kept in memory; past this many bytes more
 * fields are dropped and the message is marked (no real mail comes close). */
#define SG_MSG_MAX_HEADER_BYTES ((size_t)1 << 20)

/* sg_msg_add_header - append (a copy of) one field; value is everything
 * after the colon, leading white space and folding included, as the MTA sent
 * it.  Past SG_MSG_MAX_HEADER_BYTES the field is dropped instead. */
void sg_msg_add_header(struct sg_msg *msg, const char *name, const char *value);

/* sg_msg_header_replace - give the first field named name (case-insensitive)
 * a copy of value (as in sg_msg_add_header), and name as it is spelt here,
 * as an MTA does with smfi_chgheader; false when there is none */
bool sg_msg_header_replace(struct sg_msg *msg, const char *name, const char *value);

/* sg_msg_header_overflow - were fields dropped for exceeding the limit? */
bool sg_msg_header_overflow(const struct sg_msg *msg);

/* Accessors return borrowed strings, valid until the message is freed. */
size_t sg_msg_header_count(const struct sg_msg *msg);
const char *sg_msg_header_name(const struct sg_msg *msg, size_t i);
const char *sg_msg_header_value(const struct sg_msg *msg, size_t i);

/* sg_msg_header_find - the first value of a field (case-insensitive name) or
 * NULL; *count_r (if not NULL) gets how many fields have that name */
const char *sg_msg_header_find(const struct sg_msg *msg, const char *name, size_t *count_r);

/* sg_msg_add_body - append body bytes; SG_TEMP when the spool file fails (caller frees *error_r) */
enum sg_rc sg_msg_add_body(struct sg_msg *msg, const void *data, size_t len, char **error_r);

/* sg_msg_body - the body spool (borrowed) */
struct sg_spool *sg_msg_body(struct sg_msg *msg);

/* sg_msg_parse - split a whole RFC 5322 message (as in a file) into fields
 * and body; for tools and tests that start from a file, not from a milter */
enum sg_rc sg_msg_parse(struct sg_msg *msg, const char *data, size_t len, char **error_r);

#endif
