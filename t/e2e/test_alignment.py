#!/usr/bin/python3
"""End to end: does sendguard predict SPF and DMARC as receivers will, and act on it?

A real Postfix in a network namespace sends through sendguard to smtp-sink (see sgtest);
unbound serves the SPF and DMARC records below.  sendguard is configured with one egress
IP (alignment { egress_ips = {"203.0.113.25"} on_dmarc_fail = "reject" }) and an RSA key
for example.nl only, so it signs example.nl and nothing else.

  aligned       example.nl (SPF pass, DKIM aligned, p=reject): delivered, DKIM-signed
                (dkimpy and Mail::DKIM verify it), logged spf=pass dmarc=pass
  reject        mijnbakkerij.nl (SPF fail for 203.0.113.25, no key, p=reject): the client
                gets 550 5.7.1 naming the domain, the IP and the fix; nothing delivered
  p=none        laks.test (SPF fail, no key, p=none): delivered unsigned, logged
                dmarc=fail policy=none
  sp=           shop.example.co.uk (SPF -all, no key; example.co.uk has p=reject;
                sp=quarantine): the subdomain policy applies, logged dmarc=fail
                policy=quarantine, and on_dmarc_fail=reject refuses it with 550 5.7.1
  pyspf         an independent SPF implementation (pyspf, in the namespace, on the same
                unbound) computes the same result as each SPF result sendguard logged
  DNS down      unbound stopped: with sendguard's cache still warm, then after a restart
                of sendguard (cold cache) - the message is delivered and signed
                (on_dns_error = "accept"), the cold run logs temperror, sendguard stays
                up; unbound started again: the prediction is right again (within 35 s
                of the failure: a failed lookup may be cached briefly, not for long)

Prints one line per check and a summary, and exits 1 on any failure.  A missing tool
(pyspf included), not being root, or a missing sendguard binary is a failure, not a skip.
Needs /usr/bin/python3 (Debian's, with python3-dkim and python3-spf) and root.
"""

import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True          # no __pycache__ in the source tree

from sgtest.alignment import AlignmentChecks, Failed, invoice, pyspf  # noqa: E402
from sgtest.cli import (default_binary, run_world, stopped_cleanly,  # noqa: E402
                        teardown_on_signals)
from sgtest import HarnessError, World, check_prerequisites          # noqa: E402
from sgtest.milters import sendguard_milter                          # noqa: E402
from sgtest.proc import run, wait_until                              # noqa: E402
from sgtest.world import PYTHON                                      # noqa: E402

EGRESS_IP = "203.0.113.25"
HELO = "mail.example.nl"
KEY_SPECS = [("example.nl", "rsa2026", "rsa")]
DOMAINS = ["example.nl", "mijnbakkerij.nl", "laks.test", "example.co.uk",
           "shop.example.co.uk"]
TXT = {
    "example.nl": f"v=spf1 ip4:{EGRESS_IP} -all",
    "_dmarc.example.nl": "v=DMARC1; p=reject",
    "mijnbakkerij.nl": "v=spf1 ip4:192.0.2.99 -all",
    "_dmarc.mijnbakkerij.nl": "v=DMARC1; p=reject",
    "laks.test": "v=spf1 ip4:192.0.2.99 -all",
    "_dmarc.laks.test": "v=DMARC1; p=none",
    "shop.example.co.uk": "v=spf1 -all",
    "_dmarc.example.co.uk": "v=DMARC1; p=reject; sp=quarantine",
}
# How long after a DNS failure sendguard may keep predicting temperror (its cache).
ERROR_CACHE_GRACE = 35
ALIGNMENT_CONFIG = f"""\
alignment {{
    egress_ips = {{"{EGRESS_IP}"}}
    helo_name = "{HELO}"
    dns_timeout = "2s"
    on_dmarc_fail = "reject"
}}
"""


def reject_text(domain):
    """The documented reply for SPF fail, p=reject and no key for domain."""
    return (f"550 5.7.1 Not sent: {domain} publishes DMARC p=reject; SPF fail for {domain} "
            f"from {EGRESS_IP} and no aligned DKIM signature: the receiver will reject it; "
            f"add ip4:{EGRESS_IP} to the SPF record of {domain} or configure a DKIM key for "
            f"{domain} in sendguard")


def message(sender, rcpt, tag):
    """An ordinary invoice from sender to rcpt."""
    return invoice(f"Administratie <{sender}>", rcpt, tag)


class AlignmentTest(AlignmentChecks):
    """The checks, in order, on one World; passes and failures counted."""

    def __init__(self, world):
        AlignmentChecks.__init__(self, world)
        self.logged = {}            # envelope sender -> fields of its sendguard log line

    # -- tools --

    def send(self, items):
        """Send [(name, sender, rcpt)] by SMTP from 127.0.0.1 (internal), envelope sender =
        From; return {name: agent result} (ok, reply or error)."""
        jobs = []
        for name, sender, rcpt in items:
            path = os.path.join(self.msgdir, name + ".eml")
            with open(path, "wb") as f:
                f.write(message(sender, rcpt, name))
            jobs.append({"id": name, "path": path, "mail_from": sender, "rcpts": [rcpt]})
        return self.w.send(jobs, timeout=120)

    def log_fields(self, sender, after=0):
        """The key=value fields of sendguard's log line for the message from sender (the
        last one, counting only lines from offset `after` of the log); waits up to 10 s."""
        def line():
            with open(self.w.milter.log_path, errors="replace") as f:
                text = f.read()[after:]
            found = [ln for ln in text.splitlines() if f" from=<{sender}> " in ln]
            return found[-1] if found else None
        text = wait_until(line, 10, f"sendguard's log line for from=<{sender}>", interval=0.1)
        fields = dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", text))
        fields["_line"] = text
        self.logged[sender] = fields
        return fields

    def log_size(self):
        """The log's current length: later lines are read from here."""
        with open(self.w.milter.log_path, errors="replace") as f:
            return len(f.read())

    def check_signed(self, what, captured):
        """The message carries one DKIM signature, d=example.nl s=rsa2026, that dkimpy and
        Mail::DKIM verify against the key in DNS."""
        path = self.w.write_wire_file(f"{what}.eml", captured.message)
        results = self.w.verify([path])[path]
        dkimpy, mail_dkim = results["dkimpy"], results["Mail::DKIM"]
        problems = []
        found = sorted((r.a, r.s) for r in dkimpy)
        expected = self.w.milter.expected_signatures("example.nl")
        if found != expected:
            problems.append(f"signatures {found}, expected {expected}")
        problems += [str(r) for r in dkimpy if not r.ok or r.d != "example.nl"]
        if not mail_dkim:
            problems.append("Mail::DKIM saw no signature")
        problems += [str(m) for m in mail_dkim if not m.ok]
        return self.check(not problems, f"{what}: DKIM-signed d=example.nl, verified by dkimpy "
                          "and Mail::DKIM", "; ".join(problems))

    # -- the groups, in order --

    def policies(self):
        """Cases 1-4, sent in one batch."""
        cases = [("aligned", "factuur@example.nl", "aligned@rcpt.test"),
                 ("reject", "factuur@mijnbakkerij.nl", "reject@rcpt.test"),
                 ("pnone", "factuur@laks.test", "pnone@rcpt.test"),
                 ("subdomain", "factuur@shop.example.co.uk", "subdomain@rcpt.test")]
        results = self.send(cases)
        self.w.wait_delivered(timeout=60)

        # 1. Aligned: SPF pass for example.nl, signed with d=example.nl.
        r = results["aligned"]
        got = self.copies("aligned@rcpt.test")
        if self.check(r["ok"] and len(got) == 1, "(1) example.nl (SPF pass, key): accepted "
                      "and delivered once", f"{r.get('error') or r.get('reply')}, "
                      f"{len(got)} copies"):
            self.check_signed("(1) example.nl", got[0])
        f = self.log_fields("factuur@example.nl")
        self.expect_fields("(1) example.nl", f, {
            "spf": "pass", "spf_domain": "example.nl", "dmarc": "pass", "policy": "reject",
            "dkim": "signed", "d": "example.nl", "action": "accept"})

        # 2. SPF fail, p=reject, no key: refused with the explanation and the fix.
        r = results["reject"]
        reply = r.get("error", "").removeprefix("end of data: ").replace("\n", " ")
        want = reject_text("mijnbakkerij.nl")
        self.check(not r["ok"] and reply == want,
                   f"(2) mijnbakkerij.nl (SPF fail, p=reject, no key): end of data got "
                   f"exactly: {want}",
                   f"got {r.get('error') or r.get('reply')!r}")
        got = self.copies("reject@rcpt.test")
        self.check(not got, "(2) mijnbakkerij.nl: nothing delivered, nothing queued",
                   f"{len(got)} copies arrived")
        f = self.log_fields("factuur@mijnbakkerij.nl")
        self.expect_fields("(2) mijnbakkerij.nl", f, {
            "spf": "fail", "spf_domain": "mijnbakkerij.nl", "dmarc": "fail",
            "policy": "reject", "action": "reject"})

        # 3. p=none: DMARC fails, but the receiver delivers; no key, so no signature.
        r = results["pnone"]
        got = self.copies("pnone@rcpt.test")
        if self.check(r["ok"] and len(got) == 1, "(3) laks.test (SPF fail, p=none, no key): "
                      "accepted and delivered once", f"{r.get('error') or r.get('reply')}, "
                      f"{len(got)} copies"):
            self.check(b"\r\ndkim-signature:" not in b"\r\n" + got[0].message.lower(),
                       "(3) laks.test: arrived without a DKIM-Signature (no key)")
        f = self.log_fields("factuur@laks.test")
        self.expect_fields("(3) laks.test", f, {
            "spf": "fail", "spf_domain": "laks.test", "dmarc": "fail", "policy": "none",
            "action": "accept"})

        # 4. A subdomain: the organisational domain's sp=quarantine applies, and
        # on_dmarc_fail=reject acts on quarantine policies as on reject ones.
        r = results["subdomain"]
        reply = r.get("error", "").removeprefix("end of data: ").replace("\n", " ")
        parts = ["550 5.7.1 Not sent: ", "example.co.uk publishes DMARC sp=quarantine",
                 "shop.example.co.uk", f"SPF fail for shop.example.co.uk from {EGRESS_IP}",
                 "quarantine it",
                 f"add ip4:{EGRESS_IP} to the SPF record of shop.example.co.uk or configure a "
                 "DKIM key for shop.example.co.uk in sendguard"]
        missing = [p for p in parts if p not in reply]
        self.check(not r["ok"] and reply.startswith("550 5.7.1 ") and not missing,
                   f"(4) shop.example.co.uk (sp=quarantine at example.co.uk): refused: {reply}",
                   f"got {r.get('error') or r.get('reply')!r}, lacking {missing}")
        got = self.copies("subdomain@rcpt.test")
        self.check(not got, "(4) shop.example.co.uk: nothing delivered",
                   f"{len(got)} copies arrived")
        f = self.log_fields("factuur@shop.example.co.uk")
        self.expect_fields("(4) shop.example.co.uk", f, {
            "spf": "fail", "spf_domain": "shop.example.co.uk", "dmarc": "fail",
            "policy": "quarantine", "action": "reject"})

    def independent_spf(self):
        """5. pyspf, on the same DNS, must compute what sendguard predicted."""
        senders = ["factuur@example.nl", "factuur@mijnbakkerij.nl", "factuur@laks.test",
                   "factuur@shop.example.co.uk"]
        answers = pyspf(self.w.netns, [[EGRESS_IP, s, HELO] for s in senders])
        for sender, (result, explanation) in zip(senders, answers):
            logged = self.logged.get(sender, {}).get("spf")
            self.check(logged is not None and result == logged,
                       f"(5) pyspf check2(i={EGRESS_IP}, s={sender}, h={HELO}) = {result}, "
                       f"as sendguard predicted", f"sendguard logged spf={logged} "
                       f"({explanation})")
        # And the records mean what this test says they mean.
        self.check([a[0] for a in answers[:2]] == ["pass", "fail"],
                   "(5) pyspf: example.nl pass, mijnbakkerij.nl fail",
                   f"pyspf said {answers[:2]}")

    def delivered_or_queued(self, what, rcpt):
        """Wait for the message to rcpt: delivered (returns its copy) or still in Postfix's
        queue because Postfix deferred it (returns None, says so); else Failed."""
        try:
            self.w.wait_delivered(timeout=30)
        except HarnessError as e:
            queued = [q for q in self.w.postfix.queue()
                      if any(x.get("address") == rcpt for x in q.get("recipients", []))]
            if queued:
                self.check(True, f"{what}: not lost: Postfix deferred it, it is still in the "
                           f"queue ({e})")
                return None
            raise Failed(f"{what}: neither delivered nor queued: {e}")
        got = self.copies(rcpt)
        if len(got) != 1:
            raise Failed(f"{what}: {len(got)} copies delivered, expected 1")
        self.check(True, f"{what}: not lost: delivered once (Postfix did not defer it)")
        return got[0]

    def dns_down(self):
        """6. unbound stopped: on_dns_error = "accept" lets the mail go, signed; unbound
        started again: the prediction comes right again."""
        self.w.dns.stop()
        self.check(not self.w.dns.process.alive(), "(6) unbound stopped")
        copies = {}                 # what arrived while DNS was down, verified once it is back

        # (6a) sendguard's DNS cache still holds example.nl's records.
        r = self.send([("dns-warm", "warm@example.nl", "dns-warm@rcpt.test")])["dns-warm"]
        self.check(r["ok"], "(6a) DNS down, sendguard's cache warm: the client got 250",
                   r.get("error"))
        copies["(6a) DNS down, cache warm"] = self.delivered_or_queued(
            "(6a) example.nl", "dns-warm@rcpt.test")
        f = self.log_fields("warm@example.nl")
        print(f"#    (6a) sendguard logged spf={f.get('spf')} dmarc={f.get('dmarc')} "
              f"action={f.get('action')} (answered from its cache: the DNS server is down)")
        self.check(f.get("action") == "accept" and f.get("dkim") == "signed",
                   "(6a) logged dkim=signed action=accept", f.get("_line"))
        self.alive("(6a)")

        # (6b) A fresh sendguard: nothing cached, every lookup fails.
        mark = self.log_size()
        status = self.w.restart_milter()
        self.check(status == 0, "(6b) sendguard restarted while DNS is down (SIGTERM: exit 0, "
                   "and it starts without DNS)", f"exit {status}")
        started = time.monotonic()
        results = self.send([("dns-cold", "cold@example.nl", "dns-cold@rcpt.test"),
                             ("dns-cold-mb", "cold@mijnbakkerij.nl", "dns-cold-mb@rcpt.test")])
        failed_at = time.monotonic()
        r = results["dns-cold"]
        self.check(r["ok"], f"(6b) DNS down, cache cold: example.nl: the client got 250 "
                   f"(two messages in {failed_at - started:.1f} s; on_dns_error = accept)",
                   r.get("error"))
        copies["(6b) DNS down, cache cold"] = self.delivered_or_queued(
            "(6b) example.nl", "dns-cold@rcpt.test")
        f = self.log_fields("cold@example.nl", after=mark)
        self.check("temperror" in (f.get("spf"), f.get("dmarc"))
                   and f.get("action") == "accept" and f.get("dkim") == "signed",
                   f"(6b) example.nl: logged spf={f.get('spf')} dmarc={f.get('dmarc')} "
                   "dkim=signed action=accept (a temperror, accepted)", f.get("_line"))
        # mijnbakkerij.nl cannot be judged either: on_dns_error = accept lets it go.
        r = results["dns-cold-mb"]
        got = self.copies("dns-cold-mb@rcpt.test")
        f = self.log_fields("cold@mijnbakkerij.nl", after=mark)
        self.check(r["ok"] and len(got) == 1 and "temperror" in (f.get("spf"), f.get("dmarc"))
                   and f.get("action") == "accept",
                   f"(6b) mijnbakkerij.nl: accepted and delivered, logged spf={f.get('spf')} "
                   f"dmarc={f.get('dmarc')} action=accept (on_dns_error, not on_dmarc_fail)",
                   f"{r.get('error') or r.get('reply')}, {len(got)} copies; {f.get('_line')}")
        self.alive("(6b)")

        # unbound back; what arrived meanwhile must verify now that the key is served.
        self.w.dns.start()
        self.w.wait_ready(txt=dict(self.w.dns.txt))
        self.check(True, "(6) unbound started again and serves every record")
        for what, got in copies.items():
            if got is not None:
                self.check_signed(what, got)

        # (6c) The prediction must come right again once DNS answers.  A failed lookup may
        # be cached briefly (libspf2's smallest TTL is 30 s), not for long: with
        # on_dns_error = quarantine or reject a short outage would hold mail for as long.
        wait = ERROR_CACHE_GRACE - (time.monotonic() - failed_at)
        if wait > 0:
            print(f"#    (6c) waiting {wait:.0f} s: {ERROR_CACHE_GRACE} s after the failed "
                  "lookups")
            time.sleep(wait)
        mark = self.log_size()
        results = self.send([("dns-back", "back@example.nl", "dns-back@rcpt.test"),
                             ("dns-back-mb", "back@mijnbakkerij.nl", "dns-back-mb@rcpt.test")])
        r = results["dns-back"]
        got = (self.delivered_or_queued("(6c) example.nl", "dns-back@rcpt.test")
               if r["ok"] else None)
        if self.check(r["ok"] and got is not None, "(6c) DNS back: example.nl accepted",
                      r.get("error") or "kept in the queue"):
            self.check_signed("(6c) DNS back", got)
        f = self.log_fields("back@example.nl", after=mark)
        if not self.expect_fields(f"(6c) DNS back for {ERROR_CACHE_GRACE} s after the "
                                  "failure", f, {"spf": "pass", "dmarc": "pass",
                                                 "action": "accept"}):
            print("#    (6c) probably still answered from the cache: libspf2's cache "
                  "(SPF_dns_cache_new) keeps an answer with herrno != NETDB_SUCCESS for its "
                  "err_ttl, 1800 s by default, and lib/spf.c does not set it "
                  "(SPF_dns_cache_set_ttl)")
        # The protection is back too: mijnbakkerij.nl is refused again.
        r = results["dns-back-mb"]
        reply = r.get("error", "").removeprefix("end of data: ").replace("\n", " ")
        got = self.copies("dns-back-mb@rcpt.test")
        f = self.log_fields("back@mijnbakkerij.nl", after=mark)
        self.check(not r["ok"] and reply == reject_text("mijnbakkerij.nl") and not got,
                   "(6c) DNS back: mijnbakkerij.nl refused again with 550 5.7.1, not delivered",
                   f"{r.get('error') or r.get('reply')}, {len(got)} copies; logged "
                   f"spf={f.get('spf')} dmarc={f.get('dmarc')} action={f.get('action')}")

    def run(self):
        """Every group in order; returns the number of failures."""
        for name, fn in [("(1)-(4)", self.policies), ("(5)", self.independent_spf),
                         ("(6)", self.dns_down)]:
            self.group(name, fn)
        self.alive("end")
        return self.failures


def main():
    """Parse options, check prerequisites, run the checks in a fresh World, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sendguard", default=default_binary("SENDGUARD", "sendguard"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    teardown_on_signals()             # a signal from ctest or a user still tears down

    problems = check_prerequisites()
    if not os.access(args.sendguard, os.X_OK):
        problems.append(f"binary not found: {args.sendguard}")
    if not problems and run([PYTHON, "-c", "import spf"], check=False,
                            timeout=30).returncode != 0:
        problems.append(f"{PYTHON} lacks spf (python3-spf, pyspf)")
    if problems:
        for p in problems:
            print(f"FAIL prerequisite: {p}")
        return 1

    def factory(workdir, keys):
        return sendguard_milter(args.sendguard, workdir, keys, extra_config=ALIGNMENT_CONFIG)

    print(f"# sendguard {args.sendguard}; egress IP {EGRESS_IP}, key for example.nl only")

    def checks(world):
        test = AlignmentTest(world)
        failures = test.run()
        stop = stopped_cleanly(world)
        print(f"# summary: {test.passed + (1 - stop)} ok, {failures + stop} FAIL")
        return failures + stop

    return run_world(lambda: World(KEY_SPECS, factory, domains=DOMAINS, txt=TXT,
                                   keep=args.keep), checks)


if __name__ == "__main__":
    sys.exit(main())
