#!/bin/sh
# score_alignment.sh - `sendguardctl score --ip --dns-zone` predicts SPF and
# DMARC at the receiver, with the configured actions: an aligned domain
# passes; SPF fail with p=reject and no key is held (the default) or
# rejected with the fix in the text; a subdomain gets its organisation's
# sp= policy; a DNS failure follows on_dns_error; an SPF record over the
# RFC 7208 lookup limits is permerror with the reason; the rewrites are
# planned when configured.  The zone and messages are
# in t/data/alignment.  Exit status 0 pass, 1 fail.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
sg_find_sendguard
ctl="$(dirname "$SENDGUARD")/sendguardctl"
data=$(cd "$here/../data/alignment" && pwd)
sg_mktemp
trap sg_cleanup EXIT
conf="$SG_DIR/sendguard.conf"
sg_make_keys "$SG_DIR" # the rewrites sign for example.com
sg_write_conf "$SG_DIR" >"$conf"
failures=0

# check NAME WANT_STATUS PATTERN ARGS... - run sendguardctl score, check status and output
check() {
    name=$1 want=$2 pattern=$3
    shift 3
    out=$("$ctl" -c "$conf" "$@" 2>&1)
    status=$?
    if [ "$status" -ne "$want" ] || ! printf '%s\n' "$out" | grep -q -- "$pattern"; then
        echo "FAIL $name: exit $status (want $want), output lacks \"$pattern\":"
        printf '%s\n' "$out"
        failures=$((failures + 1))
    else
        echo "ok   $name"
    fi
}

z="--dns-zone $data/zone --ip 203.0.113.25"
# shellcheck disable=SC2086
{
    check "aligned domain passes" 0 '"dmarc": "pass"' score --json $z "$data/example-nl.eml"
    check "SPF fail, p=reject, no key: held by default" 2 '"dmarc": "fail"' \
        score --json $z "$data/mijnbakkerij.eml"
    check "... and the finding says what to change" 2 \
        'add ip4:203.0.113.25 to the SPF record of mijnbakkerij.nl or configure a DKIM key' \
        score $z "$data/mijnbakkerij.eml"
    check "on_dmarc_fail = reject: reject" 3 '-> reject' \
        -o alignment.on_dmarc_fail=reject score $z "$data/mijnbakkerij.eml"
    check "a subdomain gets the organisation's sp=" 2 '"policy": "quarantine"' \
        score --json $z "$data/subdomain.eml"
    check "DNS failure: on_dns_error (accept)" 0 '"spf": "temperror"' \
        score --json $z "$data/broken.eml"
    check "DNS failure: on_dns_error = quarantine" 2 '"spf": "temperror"' \
        -o alignment.on_dns_error=quarantine score --json $z "$data/broken.eml"
    check "the envelope sender can differ (--mail-from)" 2 '"spf_domain": "example.nl"' \
        score --json $z --mail-from bounce@example.nl "$data/subdomain.eml"
    check "no --ip and no egress_ips: nothing predicted" 0 '"hits"' \
        score --json --dns-zone "$data/zone" "$data/mijnbakkerij.eml"
    check "a bad --ip is refused" 78 'not an IP address' score --ip 203.0.113 "$data/example-nl.eml"
    check "SPF over a limit libspf2 does not count: permerror, and why" 2 \
        'fix the SPF record of void.test (SPF permerror for factuur@void.test from 203.0.113.25: more than 2 void DNS lookups' \
        score $z "$data/void.eml"
    check "... the envelope domain cannot align: send from the From domain" 2 \
        'send with an envelope sender in mijnbakkerij.nl and add ip4:203.0.113.25 to its SPF record' \
        score $z --mail-from bounce@example.com "$data/mijnbakkerij.eml"
    check "two From addresses: on_bad_from (quarantine), and why" 2 \
        'From: the message has more than one From address: receivers cannot check DMARC' \
        score $z "$data/two-from.eml"
    check "... on_bad_from = reject" 3 '-> reject' \
        -o alignment.on_bad_from=reject score $z "$data/two-from.eml"
    rw="-o alignment.on_dmarc_fail=rewrite -o alignment.rewrite_from=relay@example.com"
    check "on_dmarc_fail = rewrite: From rewritten, the message goes" 0 '"rewrite_from": true' \
        $rw score --json $z "$data/mijnbakkerij.eml"
    check "... signed for the relay domain, the original in Reply-To" 0 \
        'From rewritten to relay@example.com, signed for example.com, the original From in Reply-To' \
        $rw score $z "$data/mijnbakkerij.eml"
    check "an aligned domain is not rewritten" 0 '"rewrite_from": false' \
        $rw score --json $z "$data/example-nl.eml"
    check "on_spf_fail = rewrite: the envelope sender is" 2 '"rewrite_envelope": true' \
        -o alignment.on_spf_fail=rewrite -o alignment.bounce_address=bounces@example.com \
        score --json $z "$data/mijnbakkerij.eml"
    check "... to the From address, aligned, when its SPF passes" 0 \
        'mijnbakkerij.nl does not authorise 203.0.113.25 (SPF fail): envelope sender rewritten to factuur@example.nl' \
        -o alignment.on_spf_fail=rewrite score $z --mail-from bounce@mijnbakkerij.nl \
        "$data/example-nl.eml"
    check "... but not to a bounce address that fails SPF itself" 2 \
        'no envelope sender to rewrite to passes: bounces@mijnbakkerij.nl (SPF fail from 203.0.113.25)' \
        -o alignment.on_spf_fail=rewrite -o alignment.bounce_address=bounces@mijnbakkerij.nl \
        score $z "$data/mijnbakkerij.eml"
}
# sendguard itself refuses a rewrite_from it has no key for: a rewritten From
# would fail DMARC just the same.
out=$("$SENDGUARD" -n -c "$conf" -o alignment.on_dmarc_fail=rewrite \
    -o alignment.rewrite_from=relay@example.org 2>&1)
status=$?
if [ "$status" -ne 78 ] || ! printf '%s\n' "$out" | grep -q 'no DKIM key for example.org'; then
    echo "FAIL sendguard -n with a rewrite_from without a key: exit $status: $out"
    failures=$((failures + 1))
else
    echo "ok   sendguard -n refuses a rewrite_from it has no key for (78)"
fi
if "$ctl" -c "$conf" score --json --dns-zone "$data/zone" "$data/mijnbakkerij.eml" |
    grep -q '"alignment"'; then
    echo "FAIL no --ip: an alignment object although nothing was predicted"
    failures=$((failures + 1))
fi
# A rewrite that cannot happen (no egress_ips) is pointed out by -n.
if ! "$SENDGUARD" -n -c "$conf" -o alignment.on_spf_fail=rewrite 2>&1 |
    grep -q 'warning: alignment: on_dmarc_fail/on_spf_fail = rewrite do nothing while egress_ips is empty'; then
    echo "FAIL sendguard -n does not warn about rewrite without egress_ips"
    failures=$((failures + 1))
else
    echo "ok   sendguard -n warns about rewrite without egress_ips"
fi
[ "$failures" -eq 0 ] || exit 1
echo "score_alignment: all passed"
