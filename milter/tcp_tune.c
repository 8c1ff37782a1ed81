/*
 * tcp_tune.c - make libmilter's TCP connections answer without delay.
 *
 * Over loopback TCP, Postfix writes a milter command in several small
 * writes; with Nagle on its side, each later write waits for the ACK of the
 * first, and the milter side delays that ACK (up to 40 ms) because sendguard,
 * having negotiated away most replies, has nothing to send.  Measured
 * (DESIGN.md): a milter over TCP reached 0.38 of Postfix alone; with
 * TCP_NODELAY and TCP_QUICKACK re-armed after every read, ~0.63.
 *
 * libmilter owns those sockets and offers no hook, so sendguard links the
 * static libmilter with the linker's --wrap for accept and read.  --wrap
 * applies to every object of the static link (libmilter, and our own code
 * such as key.c); shared libraries keep the real functions.  The options are
 * only set while tuning is on (after start-up, inet sockets only), and on a
 * file they fail harmlessly.
 * TCP_QUICKACK is not sticky in Linux, hence the re-arm after each read.
 * Unix sockets are left alone (the options do not apply).
 */
#include "tcp_tune.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

int __real_accept(int fd, struct sockaddr *addr, socklen_t *len);
ssize_t __real_read(int fd, void *buf, size_t len);
int __wrap_accept(int fd, struct sockaddr *addr, socklen_t *len);
ssize_t __wrap_read(int fd, void *buf, size_t len);

/* Set once at start-up, before libmilter starts its threads. */
static bool tune_tcp;

/* sg_tcp_tune_enable - tune the connections of a TCP listening socket */
void
sg_tcp_tune_enable(bool enable)
{
    tune_tcp = enable;
}

/* __wrap_accept - libmilter's accept: new connections send without Nagle */
int
__wrap_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int conn = __real_accept(fd, addr, len);
    if (conn >= 0 && tune_tcp) {
        int one = 1;
        (void)setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)setsockopt(conn, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
    return conn;
}

/* __wrap_read - libmilter's read: acknowledge what arrived at once */
ssize_t
__wrap_read(int fd, void *buf, size_t len)
{
    ssize_t n = __real_read(fd, buf, len);
    if (n > 0 && tune_tcp) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
    return n;
}
