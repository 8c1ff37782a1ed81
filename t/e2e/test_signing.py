#!/usr/bin/python3
"""End to end: does mail leave Postfix DKIM-signed, verifiably, and otherwise unchanged?

A real Postfix in a network namespace sends through the milter under test (sendguard by
default, OpenDKIM with --milter opendkim to prove the harness) to smtp-sink.  Each message
of t/data/e2e (plus an 8 MB one made here) is sent from an internal client, by SMTP or by
sendmail(1); every DKIM-Signature that arrives must verify with dkimpy and, for RSA, with
Mail::DKIM, against keys published by unbound.  example.nl has an RSA and an Ed25519 key,
example.com an RSA key, unsigned.test none.  Negative controls: a domain without a key,
and a client outside internal_hosts, must arrive with no signature, byte for byte as sent.

Prints one line per case and exits 1 on any failure.  A missing tool, not being root, or a
missing sendguard binary is a failure, not a skip.  Needs /usr/bin/python3 and root.
"""

import argparse
import email.utils
import os
import pwd
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True          # no __pycache__ in the source tree
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "e2e"))

from sgtest.cli import (default_binary, run_world, stopped_cleanly,  # noqa: E402
                        teardown_on_signals)
from sgtest import HarnessError, World, check_prerequisites          # noqa: E402
from sgtest.mailmsg import field_value, make_large_message, split_message, to_crlf  # noqa: E402
from sgtest.milters import opendkim_milter, sendguard_milter         # noqa: E402
from sgtest.postfix import HOSTNAME                                  # noqa: E402
from sgtest.world import EXTERNAL_ADDR, INTERNAL_ADDR                 # noqa: E402

KEY_SPECS = [
    ("example.nl", "rsa2026", "rsa"),
    ("example.nl", "ed2026", "ed25519"),
    ("example.com", "s1", "rsa"),
]
DOMAINS = ["example.nl", "example.com", "unsigned.test"]
LARGE_SIZE = 8 * 1024 * 1024


@dataclass
class Case:
    """One message sent one way, and what must arrive."""

    name: str
    source_file: str          # file in t/data/e2e, or "" for the generated large message
    transport: str            # "smtp" (CRLF, as any client sends), "smtp-raw" (bytes as
                              # stored, bare LF stays bare), or "sendmail"
    client: str               # SMTP client address (sendmail: Postfix simulates 127.0.0.1)
    expect: str               # "signed" or "untouched"
    path: str = ""            # the file actually sent
    adds: tuple = ()          # header fields sendguard must add (lower case), once each

    @property
    def rcpt(self):
        """A unique envelope recipient, which is how the captured copy is found."""
        return f"{self.name}@rcpt.test"


CASES = [
    Case("plain-ascii", "plain-ascii.eml", "smtp", INTERNAL_ADDR, "signed"),
    Case("utf8-factuur", "utf8-factuur.eml", "smtp", INTERNAL_ADDR, "signed"),
    Case("base64-body", "base64-body.eml", "smtp", INTERNAL_ADDR, "signed"),
    Case("quoted-printable", "quoted-printable.eml", "smtp", INTERNAL_ADDR, "signed"),
    Case("multipart-pdf", "multipart-pdf.eml", "smtp", INTERNAL_ADDR, "signed"),
    Case("long-headers", "long-headers.eml", "smtp", INTERNAL_ADDR, "signed"),
    Case("bare-lf-smtp", "bare-lf.eml", "smtp-raw", INTERNAL_ADDR, "signed"),
    Case("bare-lf-sendmail", "bare-lf.eml", "sendmail", INTERNAL_ADDR, "signed"),
    Case("plain-sendmail", "plain-ascii.eml", "sendmail", INTERNAL_ADDR, "signed"),
    Case("large-8mb", "", "smtp", INTERNAL_ADDR, "signed"),
    # Bookkeeping software that sets neither Date nor Message-ID: they must arrive
    # added once, and covered by a signature that verifies.  From 127.0.0.1 Postfix
    # adds them itself (local_header_rewrite_clients) before the milter sees the
    # message; for other clients sendguard adds them before it signs (test_pipeline).
    Case("no-date-msgid", "no-date-msgid.eml", "smtp", INTERNAL_ADDR, "signed",
         adds=("date", "message-id")),
    Case("unsigned-domain", "unsigned-domain.eml", "smtp", INTERNAL_ADDR, "untouched"),
    Case("external-client", "plain-ascii.eml", "smtp", EXTERNAL_ADDR, "untouched"),
]


def from_address(message):
    """The address in the message's From header."""
    fields, _ = split_message(to_crlf(message))
    value = next(field_value(raw) for name, raw in fields if name == "from")
    return email.utils.parseaddr(value)[1]


def is_our_received(name, raw):
    """True for the Received header our Postfix adds (smtpd or pickup)."""
    return name == "received" and f"by {HOSTNAME} (Postfix".encode() in raw.replace(b"\r\n\t", b" ")


def first_difference(a, b):
    """Index of the first byte where a and b differ."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare_content(sent, fields, body, allow_signatures, adds=()):
    """Problems (a list of text) if what arrived is not what was sent, apart from
    Postfix's Received header, (when allowed) DKIM-Signature headers, and the fields
    named in adds, which must have been added (absent in what was sent, once in what
    arrived)."""
    problems = []
    for name in adds:
        had = sum(1 for n, _ in split_message(sent)[0] if n == name)
        got = sum(1 for n, _ in fields if n == name)
        if had or got != 1:
            problems.append(f"{name}: {had} sent, {got} arrived (expected 0 and 1: added)")
    fields = [(n, raw) for n, raw in fields if n not in adds]
    sent_fields, sent_body = split_message(sent)
    if body != sent_body:
        at = first_difference(body, sent_body)
        problems.append(f"body changed ({len(sent_body)} -> {len(body)} bytes, first difference "
                        f"at byte {at}: {body[at:at + 40]!r})")
    kept = [(n, raw) for n, raw in fields if not is_our_received(n, raw)
            and not (allow_signatures and n == "dkim-signature")]
    if kept != sent_fields:
        added = [n for n, raw in kept if (n, raw) not in sent_fields]
        lost = [n for n, raw in sent_fields if (n, raw) not in kept]
        problems.append(f"header fields changed (added or altered: {added}; lost or altered: "
                        f"{lost})")
    return problems


def check_signed(domain, sent, captured, results, milter, adds=()):
    """Problems with a message that must arrive signed, and a summary of its signatures."""
    fields, body = split_message(captured.message)
    problems = compare_content(sent, fields, body, allow_signatures=True, adds=adds)
    dkimpy = results["dkimpy"]
    mail_dkim = results["Mail::DKIM"]
    expected = milter.expected_signatures(domain)
    found = sorted((r.a, r.s) for r in dkimpy)
    if found != expected:
        problems.append(f"signatures {found}, expected {expected}")
    summary = []
    for r in dkimpy:
        if r.d != domain:
            problems.append(f"signature d={r.d}, From domain is {domain}")
        if not r.ok:
            problems.append(str(r))
        verdicts = ["dkimpy pass" if r.ok else "dkimpy FAIL"]
        if r.a.startswith("rsa-"):
            twin = [m for m in mail_dkim if (m.d, m.s, m.a) == (r.d, r.s, r.a)]
            if not twin:
                problems.append(f"Mail::DKIM did not see the signature s={r.s} a={r.a}")
            elif not all(m.ok for m in twin):
                problems.extend(str(m) for m in twin if not m.ok)
            else:
                verdicts.append("Mail::DKIM pass")
        summary.append(f"{r.a} s={r.s} ({', '.join(verdicts)})")
    if len(mail_dkim) != len(dkimpy):
        problems.append(f"dkimpy saw {len(dkimpy)} signatures, Mail::DKIM {len(mail_dkim)}")
    return problems, "; ".join(summary) or "no signature"


def check_untouched(sent, captured):
    """Problems with a message that must arrive unsigned and byte for byte as sent."""
    fields, body = split_message(captured.message)
    problems = []
    signatures = [n for n, _ in fields if n == "dkim-signature"]
    if signatures:
        problems.append(f"carries {len(signatures)} DKIM-Signature header(s)")
    problems += compare_content(sent, fields, body, allow_signatures=False)
    stripped = b"".join(raw for n, raw in fields if not is_our_received(n, raw))
    if not problems and stripped + b"\r\n" + body != sent:
        problems.append("not byte for byte what was sent")
    return problems


def check_tamper_control(results):
    """Print the tampered-copy control's line; return 1 if it failed, else 0."""
    what = "control: plain-ascii with one body byte changed"
    if results is None:
        print(f"FAIL {what}: no captured plain-ascii with 'EUR 1.234,56' to tamper with")
        return 1
    dkimpy, mail_dkim = results["dkimpy"], results["Mail::DKIM"]
    rsa = [m for m in mail_dkim if m.a.startswith("rsa-")]
    if not dkimpy or any(r.ok for r in dkimpy) or not rsa or any(m.ok for m in rsa):
        print(f"FAIL {what}: verifiers did not reject it: "
              + "; ".join(str(r) for r in dkimpy + mail_dkim))
        return 1
    print(f"ok   {what}: rejected by dkimpy ({len(dkimpy)} signature(s)) and Mail::DKIM "
          f"({len(rsa)} RSA) - the verifiers are live")
    return 0


def check_privileges(pid):
    """sendguard must have dropped root for the configured user (nobody) after start-up."""
    want = pwd.getpwnam("nobody").pw_uid
    with open(f"/proc/{pid}/status") as f:
        ids = {k: v.split() for k, v in (line.split(":", 1) for line in f) if k in ("Uid", "Gid")}
    uids = {int(u) for u in ids["Uid"]}
    if uids != {want}:
        print(f"FAIL privileges: sendguard runs with uids {sorted(uids)}, expected only {want}")
        return 1
    print(f"ok   privileges: sendguard runs as nobody (real, effective, saved uid {want})")
    return 0


def make_milter(args):
    """The milter factory for World, from the command line."""
    if args.milter == "opendkim":
        return lambda workdir, keys: opendkim_milter(workdir, keys)
    binary = args.sendguard
    extra = f'canonicalization = "{args.canonicalization}"\n' if args.canonicalization else ""
    return lambda workdir, keys: sendguard_milter(binary, workdir, keys, extra_config=extra)


def send_all(world, cases):
    """Send every case; return {case name: problem text} for those that could not be sent."""
    failures = {}
    jobs = []
    for case in cases:
        with open(case.path, "rb") as f:
            sender = from_address(f.read())
        if case.transport == "sendmail":
            result = world.sendmail(case.path, sender, [case.rcpt])
            if result.returncode != 0:
                failures[case.name] = f"sendmail exit {result.returncode}"
        else:
            jobs.append({"id": case.name, "path": case.path, "mail_from": sender,
                         "rcpts": [case.rcpt], "source": case.client,
                         "raw": case.transport == "smtp-raw"})
    for name, result in world.send(jobs).items():
        if not result["ok"]:
            failures[name] = f"not accepted: {result['error']}"
    return failures


def run_cases(world, milter_name, verbose=False):
    """Send, capture, verify and judge every case; return the number of failures."""
    large = os.path.join(world.workdir, "large-8mb.eml")
    with open(large, "wb") as f:
        f.write(make_large_message(LARGE_SIZE, "boekhouding@example.nl", "large-8mb@rcpt.test"))
    for case in CASES:
        case.path = os.path.join(DATA, case.source_file) if case.source_file else large

    started = time.monotonic()
    send_failures = send_all(world, CASES)
    failures = 0
    try:
        world.wait_delivered(timeout=60)
    except HarnessError as e:        # judge what did arrive; the rest shows up as missing
        failures += 1
        print(f"FAIL delivery: {e}")
    by_rcpt = {}
    for msg in world.captured():
        for addr in msg.rcpt_addresses:
            by_rcpt.setdefault(addr, []).append(msg)
    paths = {}
    for case in CASES:
        got = by_rcpt.get(case.rcpt, [])
        if len(got) == 1:
            paths[case.name] = world.write_wire_file(case.name + ".eml", got[0].message)
    tampered = None
    if "plain-ascii" in paths:
        # Control: the same signed message with one body byte changed must fail in both
        # verifiers; otherwise a "pass" above would prove nothing.
        with open(paths["plain-ascii"], "rb") as f:
            signed = f.read()
        changed = signed.replace(b"EUR 1.234,56", b"EUR 9.234,56")
        if changed != signed:
            tampered = world.write_wire_file("tampered.eml", changed)
    results = world.verify(list(paths.values()) + ([tampered] if tampered else []))
    print(f"# {len(CASES)} messages sent, delivered and verified in "
          f"{time.monotonic() - started:.1f} s")

    for case in CASES:
        with open(case.path, "rb") as f:
            sent = to_crlf(f.read())
        domain = from_address(sent).rsplit("@", 1)[1].lower()
        how = f"{case.transport} from {case.client}, From {domain}"
        got = by_rcpt.get(case.rcpt, [])
        if case.name in send_failures:
            problems, summary = [send_failures[case.name]], ""
        elif len(got) != 1:
            problems, summary = [f"{len(got)} copies arrived, expected 1"], ""
        elif case.expect == "signed":
            problems, summary = check_signed(domain, sent, got[0], results[paths[case.name]],
                                             world.milter, case.adds)
            summary += "; headers and body unchanged" if not problems else ""
        else:
            problems = check_untouched(sent, got[0])
            summary = "no signature, byte for byte as sent"
        if problems:
            failures += 1
            print(f"FAIL {case.name} ({how}): " + "; ".join(problems))
        else:
            print(f"ok   {case.name} ({how}): {summary}")
        if verbose and case.name in paths:
            for verifier_results in results[paths[case.name]].values():
                for r in verifier_results:
                    print(f"       {r}")

    failures += check_tamper_control(results.get(tampered))
    if milter_name == "sendguard":
        failures += check_privileges(world.milter.process.pid)

    return failures + stopped_cleanly(world, milter_name)


def main():
    """Parse options, check prerequisites, run the cases in a fresh World, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--milter", choices=["sendguard", "opendkim"],
                        default=os.environ.get("SG_E2E_MILTER", "sendguard"))
    parser.add_argument("--sendguard", default=default_binary("SENDGUARD", "sendguard"),
                        help="sendguard binary (default: $SENDGUARD or build/milter/sendguard)")
    parser.add_argument("--canonicalization", metavar="HEADER/BODY",
                        help="sendguard's canonicalization (default: its own, relaxed/relaxed); "
                             "simple/simple proves header fields are hashed byte for byte")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--verbose", action="store_true",
                        help="print every verifier's verdict on every signature")
    args = parser.parse_args()

    teardown_on_signals()             # a signal from ctest or a user still tears down

    problems = check_prerequisites()
    if args.milter == "sendguard" and not os.access(args.sendguard, os.X_OK):
        problems.append(f"sendguard binary not found: {args.sendguard}")
    if problems:
        for p in problems:
            print(f"FAIL prerequisite: {p}")
        return 1

    print(f"# milter under test: {args.milter}"
          + (f" ({args.sendguard})" if args.milter == "sendguard" else ""))
    return run_world(lambda: World(KEY_SPECS, make_milter(args), domains=DOMAINS, keep=args.keep),
                     lambda world: run_cases(world, args.milter, args.verbose))

if __name__ == "__main__":
    sys.exit(main())
