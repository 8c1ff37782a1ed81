# common.sh - shell helpers shared by the milter-protocol tests (sourced, not run).
#
# Finds the sendguard binary, makes a private temporary directory with a test
# configuration and freshly generated keys in it, and removes it again.  Used by
# run.sh (daemon + miltertest) and config_check.sh (sendguard -n / -V).
# POSIX sh; every wait has a timeout.

# sg_die - print a message to stderr and exit 1
sg_die() {
    echo "$0: $*" >&2
    exit 1
}

# sg_find_sendguard - set SENDGUARD to an executable sendguard, or fail: the test command installs everything a test needs
sg_find_sendguard() {
    if [ -z "${SENDGUARD:-}" ]; then
        here_=$(cd "$(dirname "$0")" && pwd)
        SENDGUARD="${SG_BUILD_DIR:-$here_/../../build}/milter/sendguard"
    fi
    if [ ! -x "$SENDGUARD" ]; then
        echo "$0: FAIL: no sendguard binary at $SENDGUARD (set SENDGUARD)" >&2
        exit 1
    fi
}

# sg_need TOOL... - fail unless every tool is on PATH
sg_need() {
    for tool_ in "$@"; do
        command -v "$tool_" >/dev/null 2>&1 || {
            echo "$0: FAIL: $tool_ is not installed" >&2
            exit 1
        }
    done
}

# sg_mktemp - make the private test directory; sets SG_DIR.  The caller's
# EXIT trap must call sg_cleanup.
sg_mktemp() {
    SG_DIR=$(mktemp -d /tmp/sgmt.XXXXXXXX) || sg_die "mktemp failed"
    chmod 700 "$SG_DIR"
}

# sg_cleanup - remove the test directory (only the one sg_mktemp made)
sg_cleanup() {
    case "${SG_DIR:-}" in
    /tmp/sgmt.*) rm -rf "$SG_DIR" ;;
    esac
}

# sg_make_keys DIR - the three keys of the test configuration, mode 0600:
# rsa.pem and ed.pem for example.nl, com.pem for example.com; and DIR/spool
sg_make_keys() {
    (
        umask 077
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
            -out "$1/rsa.pem" 2>/dev/null &&
            openssl genpkey -algorithm ed25519 -out "$1/ed.pem" 2>/dev/null &&
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
                -out "$1/com.pem" 2>/dev/null
    ) || sg_die "openssl genpkey failed"
    chmod 600 "$1/rsa.pem" "$1/ed.pem" "$1/com.pem"
    mkdir -p "$1/spool" # the test configuration's spool_directory
}

# The shipped content rules, which every test configuration uses.
SG_RULES=$(cd "$(dirname "$0")/../../etc" && pwd)/rules.conf

# sg_write_conf DIR - print the test configuration for keys and socket in DIR.
# Client 127.0.0.0/8 and ::1 are internal; {daemon_name} ORIGINATING is
# outgoing; example.nl has an RSA and an Ed25519 key, example.com one RSA key;
# example.org and shop.example.nl have none.
sg_write_conf() {
    cat <<EOF
# sendguard test configuration, written by t/milter/common.sh
socket = "unix:$1/sendguard.sock"
socket_mode = "0600"
socket_group = ""
user = ""
pid_file = ""
state_directory = "$1"
spool_directory = "$1/spool"
spool_memory_limit = "1M"
key_directory = ""
internal_hosts = {"127.0.0.0/8", "::1/128"}
originating_daemons = {"ORIGINATING"}
sign_subdomains = false
domain "example.nl" {
    key "rsa2026" { file = "$1/rsa.pem" }
    key "ed2026"  { file = "$1/ed.pem" }
}
domain "example.com" { key "s1" { file = "$1/com.pem" } }
scoring {
rules = "$SG_RULES"
tag_at = 3
quarantine_at = 8
reject_at = 0
tag_header = ""
}
EOF
}

# sg_conf_set FILE NAME VALUE - replace the top-level line "NAME = ..." of FILE
sg_conf_set() {
    grep -q "^$2 = " "$1" || sg_die "no option '$2' in the test configuration"
    sed "s|^$2 = .*|$2 = $3|" "$1" >"$1.new" && mv "$1.new" "$1"
}
