#!/bin/sh
# run.sh - run one miltertest script against a real sendguard.
#
# usage: run.sh [--set OPTION=VALUE]... [--define NAME=VALUE]... SCRIPT.lua
#
# Makes a private /tmp/sgmt.* directory with the test configuration
# (common.sh) and new keys, applies each --set to the configuration, starts
# `sendguard -f -c CONF` in the background, waits for its socket, runs
# SCRIPT through `miltertest -s driver.lua` (which loads lib.lua and prints
# any Lua error) with the Lua globals
#     socket    the milter socket ("unix:/tmp/sgmt.../sendguard.sock")
#     sg_script the case script
#     sg_lib    path of lib.lua (the sg.* helpers)
#     sg_dir    the temporary directory (the configuration is sg_dir/sendguard.conf)
#     sg_bin    the directory of the sendguard binary (and sendguardctl)
# plus every --define, then stops sendguard with SIGTERM and checks that it
# exited with status 0.  Exit status: miltertest's (0 = pass), 1 when the
# daemon misbehaved, 1 also when something needed is missing (tests never skip).
# The daemon's stderr is printed at the end.

set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

start_timeout=10 # seconds for the socket to appear
stop_timeout=15  # seconds for sendguard to exit after SIGTERM

sets=""
defines=""
while [ $# -gt 1 ]; do
    case "$1" in
    --set) sets="$sets
$2"; shift 2 ;;
    --define) defines="$defines
$2"; shift 2 ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || sg_die "usage: run.sh [--set OPTION=VALUE]... [--define NAME=VALUE]... SCRIPT.lua"
script=$1
[ -r "$script" ] || sg_die "cannot read $script"

sg_need miltertest openssl
sg_find_sendguard

pid=""
# stop_daemon - SIGTERM our sendguard, wait for it (bounded); sets daemon_status
stop_daemon() {
    daemon_status=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    i=0
    while [ $i -lt $((stop_timeout * 10)) ]; do
        # an exited child stays a zombie until waited for: read its state
        state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
        [ -z "$state" ] || [ "$state" = Z ] && break
        sleep 0.1
        i=$((i + 1))
    done
    if [ $i -ge $((stop_timeout * 10)) ]; then
        echo "$0: FAIL: sendguard (pid $pid) still running ${stop_timeout}s after SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        daemon_status=124
    else
        wait "$pid"
        daemon_status=$?
    fi
    pid=""
}

on_exit() {
    stop_daemon
    sg_cleanup
}
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

sg_mktemp
sg_make_keys "$SG_DIR"
conf="$SG_DIR/sendguard.conf"
sg_write_conf "$SG_DIR" >"$conf"
old_ifs=$IFS
IFS='
'
for s in $sets; do
    [ -n "$s" ] && sg_conf_set "$conf" "${s%%=*}" "${s#*=}"
done
IFS=$old_ifs

sock="$SG_DIR/sendguard.sock"
log="$SG_DIR/sendguard.log"
"$SENDGUARD" -f -c "$conf" >"$log" 2>&1 &
pid=$!

# wait for the socket, or for the daemon to die
i=0
while [ ! -S "$sock" ]; do
    if ! kill -0 "$pid" 2>/dev/null ||
        [ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; then
        wait "$pid"
        st=$?
        pid=""
        echo "$0: FAIL: sendguard exited with status $st before its socket appeared" >&2
        echo "--- configuration" >&2; cat "$conf" >&2
        echo "--- sendguard stderr" >&2; cat "$log" >&2
        exit 1
    fi
    if [ $i -ge $((start_timeout * 10)) ]; then
        echo "$0: FAIL: no socket $sock after ${start_timeout}s" >&2
        echo "--- sendguard stderr" >&2; cat "$log" >&2
        exit 1
    fi
    sleep 0.1
    i=$((i + 1))
done

# miltertest's own read timeout (10 s per reply) bounds this step
set -- -s "$here/driver.lua" -D "sg_script=$script" -D "socket=unix:$sock" \
    -D "sg_lib=$here/lib.lua" -D "sg_dir=$SG_DIR" -D "sg_bin=$(dirname "$SENDGUARD")"
IFS='
'
for d in $defines; do
    [ -n "$d" ] && set -- "$@" -D "$d"
done
IFS=$old_ifs
miltertest "$@"
mt_status=$?

stop_daemon
status=$mt_status
if [ "$daemon_status" -ne 0 ]; then
    echo "$0: FAIL: sendguard exited with status $daemon_status after SIGTERM (expected 0)" >&2
    status=1
fi
if [ $mt_status -ne 0 ]; then
    echo "$0: FAIL: miltertest exited with status $mt_status" >&2
fi
echo "--- sendguard stderr ($(basename "$script"))"
cat "$log"
exit $status
