#!/bin/sh
# config_check.sh - `sendguard -n` (check the configuration) and `sendguard -V`.
#
# usage: config_check.sh CASE
#   good           the test configuration: exit 0, no socket made
#   syntax         a syntax error on a known line: exit 78, "FILE:LINE:" on stderr
#   unknown_option an unknown option on a known line: exit 78, "FILE:LINE:" and its name
#   missing_key    a key file that does not exist: exit 78, the path and how to make one
#   key_mode       a key file with mode 0644: exit 78, the path and "chmod 600"
#   version        -V: exit 0, the project's version, rsa-sha256 and ed25519-sha256
# Exit status 0 pass, 1 fail (never skip: the test command installs what tests need).

set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

# The fix hint a missing key file must come with (extended regex, case-insensitive).
missing_key_hint='sendguardctl keygen|openssl genpkey|generate|create'
key_mode_hint='chmod 0?600'

[ $# -eq 1 ] || sg_die "usage: config_check.sh CASE"
case_=$1

sg_need openssl timeout
sg_find_sendguard
trap sg_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
sg_mktemp

failed=0
# fail - report one failed expectation and go on
fail() {
    echo "FAIL: $*" >&2
    failed=1
}

# run_sendguard ARG... - run sendguard (at most 20 s); sets st, out, err
run_sendguard() {
    timeout 20 "$SENDGUARD" "$@" >"$SG_DIR/out" 2>"$SG_DIR/err"
    st=$?
    out=$(cat "$SG_DIR/out")
    err=$(cat "$SG_DIR/err")
    echo "\$ sendguard $*   -> exit $st"
    [ -z "$out" ] || printf 'stdout:\n%s\n' "$out"
    [ -z "$err" ] || printf 'stderr:\n%s\n' "$err"
}

# expect_status N - sendguard exited with N
expect_status() {
    [ "$st" -eq "$1" ] || fail "exit status $st, expected $1"
}

# expect_stderr TEXT - stderr contains TEXT literally
expect_stderr() {
    printf '%s\n' "$err" | grep -qF -- "$1" || fail "stderr does not contain '$1'"
}

# expect_stderr_re REGEX - stderr matches the extended regex, ignoring case
expect_stderr_re() {
    printf '%s\n' "$err" | grep -qiE -- "$1" || fail "stderr does not match /$1/i"
}

# line_of FILE TEXT - number of the first line of FILE containing TEXT
line_of() {
    grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1
}

# no_socket - -n must not start a daemon: no socket left behind
no_socket() {
    [ ! -e "$SG_DIR/sendguard.sock" ] || fail "sendguard -n created the socket"
}

conf="$SG_DIR/sendguard.conf"
if [ "$case_" != version ]; then
    sg_make_keys "$SG_DIR"
    sg_write_conf "$SG_DIR" >"$conf"
fi

case "$case_" in
good)
    run_sendguard -n -c "$conf"
    expect_status 0
    no_socket
    ;;
syntax)
    # a doubled comma in a list, a typo people make
    sed 's|^internal_hosts = .*|internal_hosts = {"127.0.0.0/8",, "::1/128"}|' "$conf" >"$conf.new" &&
        mv "$conf.new" "$conf"
    n=$(line_of "$conf" 'internal_hosts = ')
    run_sendguard -n -c "$conf"
    expect_status 78
    expect_stderr "$conf:$n:"
    no_socket
    ;;
unknown_option)
    sed 's|^sign_subdomains = .*|sign_subdomains = false\nsign_subdomain = true|' "$conf" >"$conf.new" &&
        mv "$conf.new" "$conf"
    n=$(line_of "$conf" 'sign_subdomain = true')
    run_sendguard -n -c "$conf"
    expect_status 78
    expect_stderr "$conf:$n:"
    expect_stderr "sign_subdomain"
    no_socket
    ;;
missing_key)
    rm -f "$SG_DIR/com.pem"
    run_sendguard -n -c "$conf"
    expect_status 78
    expect_stderr "$SG_DIR/com.pem"
    expect_stderr_re "$missing_key_hint"
    no_socket
    ;;
key_mode)
    chmod 644 "$SG_DIR/rsa.pem"
    run_sendguard -n -c "$conf"
    expect_status 78
    expect_stderr "$SG_DIR/rsa.pem"
    expect_stderr_re "$key_mode_hint"
    no_socket
    ;;
version)
    run_sendguard -V
    expect_status 0
    all="$out
$err"
    version=""
    if [ -n "${SG_SOURCE_DIR:-}" ] && [ -r "$SG_SOURCE_DIR/CMakeLists.txt" ]; then
        version=$(sed -n 's/^project(sendguard VERSION \([0-9.]*\).*/\1/p' "$SG_SOURCE_DIR/CMakeLists.txt")
    fi
    if [ -n "$version" ]; then
        printf '%s\n' "$all" | grep -qF "$version" || fail "-V does not print the version $version"
    else
        printf '%s\n' "$all" | grep -qE '[0-9]+\.[0-9]+' || fail "-V prints no version number"
    fi
    for alg in rsa-sha256 ed25519-sha256; do
        printf '%s\n' "$all" | grep -qF "$alg" || fail "-V does not mention $alg"
    done
    ;;
*)
    sg_die "unknown case '$case_'"
    ;;
esac

[ $failed -eq 0 ] && echo "PASS: $case_"
exit $failed
