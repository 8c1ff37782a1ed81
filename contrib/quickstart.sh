#!/bin/sh
# quickstart.sh - the README's two commands, on a fresh Debian 12, as root.
#
#   contrib/quickstart.sh start   install what is missing, build, generate DKIM keys
#                                 on first run, start sendguard in the foreground on the
#                                 shipped etc/sendguard.conf with its state (keys, the
#                                 quarantine) in its default place, /var/lib/sendguard,
#                                 and print the lines for Postfix's main.cf.
#   contrib/quickstart.sh test    install what is missing, build, run every test (ctest).
#
# Environment: SENDGUARD_DOMAIN (the domain to generate keys for; default
# Postfix's $mydomain), BUILD_DIR (default ./build), CTEST_ARGS (extra ctest options).
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
build=${BUILD_DIR:-$top/build}

# What building and running need, and what the tests need on top.
BUILD_PKGS="build-essential cmake pkg-config libmilter-dev libopendkim-dev libspf2-dev
  libpsl-dev libgmime-3.0-dev libssl-dev libsqlite3-dev libconfuse-dev libcmocka-dev
  libjansson-dev publicsuffix openssl postfix adduser"
TEST_PKGS="miltertest opendkim opendkim-tools python3 python3-dkim python3-dnspython
  libmail-dkim-perl python3-spf unbound swaks iproute2 procps clang libclang-rt-14-dev"

die() {
    echo "quickstart: $*" >&2
    exit 1
}

# install - apt-get install the packages that are not installed yet
install() {
    missing=
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "quickstart: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# build - configure and compile
build() {
    cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j"$(nproc)"
}

[ "$(id -u)" = 0 ] || die "run me as root (I install packages and create the sendguard user)"
[ $# = 1 ] || die "usage: $0 start|test"

case "$1" in
start)
    # shellcheck disable=SC2086
    install $BUILD_PKGS
    build
    getent passwd sendguard >/dev/null ||
        adduser --quiet --system --group --no-create-home --home /nonexistent sendguard
    # The shipped default state_directory.  Not inside this checkout: the
    # daemon reaches its quarantine there after becoming user sendguard, and
    # a checkout under /root or a home directory is not searchable for it.
    state=/var/lib/sendguard
    mkdir -p "$state"
    chmod 755 "$state"
    conf=$top/etc/sendguard.conf
    domain=${SENDGUARD_DOMAIN:-$(postconf -h mydomain 2>/dev/null || true)}
    [ -n "$domain" ] || domain=example.com
    year=$(date +%Y)
    ctl="$build/milter/sendguardctl -c $conf"
    # The shipped config finds keys in key_directory: /var/lib/sendguard/keys/DOMAIN/SELECTOR.pem.
    # --if-missing keeps the keys of an earlier run and prints their DNS records again.
    $ctl keygen --type rsa --if-missing "$domain" "s$year"
    $ctl keygen --type ed25519 --if-missing "$domain" "e$year"
    "$build/milter/sendguard" -n -c "$conf"
    echo "starting sendguard in the foreground (Ctrl-C stops it)"
    exec "$build/milter/sendguard" -f -c "$conf"
    ;;
test)
    # shellcheck disable=SC2086
    install $BUILD_PKGS $TEST_PKGS
    build
    cd "$build"
    # shellcheck disable=SC2086
    ctest --output-on-failure ${CTEST_ARGS:-}
    ;;
*)
    die "usage: $0 start|test"
    ;;
esac
