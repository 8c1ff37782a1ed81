#!/bin/sh
# daemon_mode.sh - sendguard without -f detaches, writes its pid file, drops
# to the configured user, creates its unix socket with the configured owner
# and mode, serves mail (a message from example.nl gets signed), and on
# SIGTERM (sent to the pid in the pid file) exits and removes the pid file.
# Exit status 0 pass, 1 fail.

set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

sg_need openssl miltertest
sg_find_sendguard
[ "$(id -u)" = 0 ] || sg_die "must run as root (it checks the switch to user nobody)"
trap 'stop_daemon; sg_cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

pid=
stop_daemon() {
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    return 0
}

sg_mktemp
sg_make_keys "$SG_DIR"
chmod 755 "$SG_DIR" # the socket's directory must be reachable by user nobody
conf=$SG_DIR/sendguard.conf
sg_write_conf "$SG_DIR" >"$conf"
sg_conf_set "$conf" user '"nobody"'
sg_conf_set "$conf" socket '"unix:'"$SG_DIR"'/run/sendguard.sock"'
sg_conf_set "$conf" socket_mode '"0660"'
sg_conf_set "$conf" socket_group '"nogroup"'
sg_conf_set "$conf" pid_file '"'"$SG_DIR"'/run/sendguard.pid"'
# The spool directory must be writable by the user sendguard becomes.
chown nobody "$SG_DIR/spool"
sg_conf_set "$conf" spool_directory '"'"$SG_DIR"'/spool"'

# Without -f the command returns once the daemon has detached.
timeout 20 "$SENDGUARD" -c "$conf" || sg_die "sendguard did not start (status $?)"

i=0
while [ ! -S "$SG_DIR/run/sendguard.sock" ] || [ ! -s "$SG_DIR/run/sendguard.pid" ]; do
    i=$((i + 1))
    [ $i -le 100 ] || sg_die "no socket or pid file after 10 s"
    sleep 0.1
done
pid=$(cat "$SG_DIR/run/sendguard.pid")
kill -0 "$pid" 2>/dev/null || sg_die "pid file names $pid, which is not running"
grep -q '^Name:.*sendguard' "/proc/$pid/status" || sg_die "pid $pid is not sendguard"
uid=$(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$pid/status")
nobody=$(id -u nobody)
[ "$uid" = "$nobody$nobody$nobody$nobody" ] || sg_die "daemon uids $uid, expected all $nobody"
[ "$(stat -c %a:%U:%G "$SG_DIR/run/sendguard.sock")" = "660:nobody:nogroup" ] ||
    sg_die "socket is $(stat -c %a:%U:%G "$SG_DIR/run/sendguard.sock"), expected 660:nobody:nogroup"
echo "ok   detached as pid $pid, running as nobody, socket 0660 nobody:nogroup"

# The quarantine: a directory only the daemon's user and group may enter,
# and a database that user owns (created after the switch).
[ "$(stat -c %a:%U:%G "$SG_DIR/quarantine")" = "2770:nobody:nogroup" ] ||
    sg_die "quarantine directory is $(stat -c %a:%U:%G "$SG_DIR/quarantine"), expected 2770:nobody:nogroup"
[ "$(stat -c %a:%U:%G "$SG_DIR/quarantine/sendguard.db")" = "660:nobody:nogroup" ] ||
    sg_die "database is $(stat -c %a:%U:%G "$SG_DIR/quarantine/sendguard.db"), expected 660:nobody:nogroup"
echo "ok   quarantine directory 2770 and database 0660, nobody:nogroup"

miltertest -s "$here/driver.lua" -D "sg_script=$here/sign_basic.lua" \
    -D "socket=unix:$SG_DIR/run/sendguard.sock" -D "sg_lib=$here/lib.lua" -D "sg_dir=$SG_DIR" ||
    sg_die "a message to the detached daemon was not signed"
echo "ok   the detached daemon signs"

kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le 200 ] || sg_die "still running 20 s after SIGTERM"
    sleep 0.1
done
pid=
[ ! -e "$SG_DIR/run/sendguard.pid" ] || sg_die "pid file left behind after SIGTERM"
echo "ok   SIGTERM: exited and removed its pid file"

# A start that fails after detaching must fail the command that started it:
# here the spool directory is not writable by nobody.
chmod 700 "$SG_DIR/spool" && chown root "$SG_DIR/spool"
if out=$(timeout 20 "$SENDGUARD" -c "$conf" 2>&1); then
    sg_die "sendguard reported success with an unwritable spool directory"
fi
echo "ok   a start that fails after detaching returns non-zero"

# A state directory the daemon's user cannot enter (as `sendguardctl keygen`
# once made it, 0700): a start that says which directory and what to do.
chmod 755 "$SG_DIR/spool" && chown nobody "$SG_DIR/spool"
chmod 700 "$SG_DIR"
if out=$(timeout 20 "$SENDGUARD" -f -c "$conf" -o spool_directory=/tmp 2>&1); then
    sg_die "sendguard started although user nobody cannot reach its quarantine"
fi
echo "$out" | grep -q "quarantine directory $SG_DIR/quarantine is not writable for user nobody" ||
    sg_die "the failed start did not name the quarantine directory: $out"
chmod 755 "$SG_DIR"
echo "ok   a quarantine the user cannot reach: refused, naming the directory"

# A second instance must not take over the socket of a running one.
chmod 755 "$SG_DIR/spool" && chown nobody "$SG_DIR/spool"
timeout 20 "$SENDGUARD" -c "$conf" || sg_die "restart failed"
pid=$(cat "$SG_DIR/run/sendguard.pid")
sock_before=$(stat -c %i "$SG_DIR/run/sendguard.sock")
if out=$(timeout 20 "$SENDGUARD" -f -c "$conf" 2>&1); then
    sg_die "a second sendguard started while one was running"
fi
echo "$out" | grep -q "another sendguard is running (pid $pid" ||
    sg_die "the second sendguard did not say why it stopped: $out"
[ "$(stat -c %i "$SG_DIR/run/sendguard.sock")" = "$sock_before" ] ||
    sg_die "the second sendguard replaced the socket"
echo "ok   a second instance is refused and leaves the socket alone"
