#!/usr/bin/python3
"""End to end: does sendguard's rewrite make failing mail pass DMARC and SPF at the receiver?

A real Postfix in a network namespace sends through sendguard to smtp-sink (see sgtest);
unbound serves the SPF and DMARC records below.  sendguard has RSA keys for example.nl and
relay.test, one egress IP, and the two rewrite actions:

    alignment { egress_ips = {"203.0.113.25"}  on_dmarc_fail = "rewrite"
                on_spf_fail = "rewrite"  rewrite_from = "relay@relay.test"
                bounce_address = "bounces@relay.test" }

relay.test publishes "v=spf1 ip4:203.0.113.25 -all" and DMARC p=reject.  One batch of
messages, each delivered exactly once:

  display    From "Bakkerij Jansen" <factuur@mijnbakkerij.nl> (SPF fail, p=reject, no
             key), envelope factuur@mijnbakkerij.nl: From becomes
             "Bakkerij Jansen via relay.test" <relay@relay.test>, Reply-To carries the
             original From, DKIM d=relay.test (dkimpy and Mail::DKIM verify it; h= covers
             From and Reply-To), envelope bounces@relay.test (pyspf: pass); a receiver's
             DMARC check passes (From domain = verified d= = SPF-passing envelope domain);
             logged rewrite=from,envelope action=rewrite dkim=signed d=relay.test with
             spf=fail dmarc=fail policy=reject (the original message)
  replyto    the same with its own Reply-To: exactly one Reply-To, unchanged
  folded     "FROM:" folded before "<": leaves as "From:" and the Reply-To keeps the fold;
             with --canonicalization simple/simple that proves sendguard signed both
             exactly as Postfix writes them
  noname     From factuur@mijnbakkerij.nl without a display name: the address becomes
             the name ("factuur@mijnbakkerij.nl via relay.test")
  utf8       From =?UTF-8?Q?B=C3=A4ckerei_M=C3=BCller?= <info@mijnbakkerij.nl>: the
             decoded name is "Bäckerei Müller via relay.test"
  aligned    example.nl (SPF pass, key, p=reject): untouched (From, no Reply-To added,
             envelope), d=example.nl, logged action=accept without rewrite=
  envonly    From factuur@example.nl (key: DKIM aligns, DMARC passes), envelope
             bounce@spf-fail.test (v=spf1 -all): From unchanged, d=example.nl, envelope
             factuur@example.nl (the From address comes first when its SPF passes:
             aligned, and bounces reach the author; pyspf: pass), logged rewrite=envelope
  pnone      laks.test (SPF fail, p=none, no key): From not rewritten (the receiver would
             not act), envelope rewritten (SPF fails), logged rewrite=envelope

Everything else of each message (the other header fields, the body) arrives as sent.
pyspf, in the namespace on the same unbound, computes the SPF results sendguard logged.

Prints one line per check and a summary, and exits 1 on any failure.  A missing tool
(pyspf included), not being root, or a missing sendguard binary is a failure, not a skip.
Needs /usr/bin/python3 (Debian's, with python3-dkim and python3-spf) and root.
"""

import argparse
import email
import email.policy
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True          # no __pycache__ in the source tree

from sgtest.alignment import AlignmentChecks, Failed, invoice, pyspf  # noqa: E402
from sgtest.cli import (default_binary, run_world, stopped_cleanly,  # noqa: E402
                        teardown_on_signals)
from sgtest import HarnessError, World, check_prerequisites          # noqa: E402
from sgtest.mailmsg import field_value, split_message                # noqa: E402
from sgtest.milters import sendguard_milter                          # noqa: E402
from sgtest.proc import run, wait_until                              # noqa: E402
from sgtest.world import PYTHON                                      # noqa: E402

EGRESS_IP = "203.0.113.25"
HELO = "mail.example.nl"
RELAY = "relay.test"
REWRITE_FROM = f"relay@{RELAY}"
BOUNCE = f"bounces@{RELAY}"
KEY_SPECS = [("example.nl", "rsa2026", "rsa"), (RELAY, "rsa2026", "rsa")]
DOMAINS = ["example.nl", "mijnbakkerij.nl", "laks.test", "spf-fail.test", RELAY]
TXT = {
    "example.nl": f"v=spf1 ip4:{EGRESS_IP} -all",
    "_dmarc.example.nl": "v=DMARC1; p=reject",
    "mijnbakkerij.nl": "v=spf1 ip4:192.0.2.99 -all",
    "_dmarc.mijnbakkerij.nl": "v=DMARC1; p=reject",
    "laks.test": "v=spf1 ip4:192.0.2.99 -all",
    "_dmarc.laks.test": "v=DMARC1; p=none",
    "spf-fail.test": "v=spf1 -all",
    RELAY: f"v=spf1 ip4:{EGRESS_IP} -all",
    f"_dmarc.{RELAY}": "v=DMARC1; p=reject",
}
REWRITE_CONFIG = f"""\
alignment {{
    egress_ips = {{"{EGRESS_IP}"}}
    helo_name = "{HELO}"
    dns_timeout = "2s"
    on_dmarc_fail = "rewrite"
    on_spf_fail = "rewrite"
    rewrite_from = "{REWRITE_FROM}"
    bounce_address = "{BOUNCE}"
}}
"""

# The cases: name -> what is sent and what must arrive.
#   from_field   the From header's value as sent
#   envelope     MAIL FROM as sent
#   extra        more header fields (name, value), after From
#   rewrite      the rewrite= field sendguard must log (None: no such field)
#   new_name     the decoded display name of the rewritten From (None: From is untouched)
#   orig         (display name, address) of the original From, as Reply-To must carry it
#   envelope_out MAIL FROM as delivered
#   signer       the d= that must sign it, verified (None: not checked)
#   log          more fields the log line must have (the original message's results)
#   from_name    the From field's name as sent (default "From"); fold: folded before "<"
CASES = {
    "display": dict(
        from_field='"Bakkerij Jansen" <factuur@mijnbakkerij.nl>',
        envelope="factuur@mijnbakkerij.nl", extra=[], rewrite="from,envelope",
        new_name=f"Bakkerij Jansen via {RELAY}",
        orig=("Bakkerij Jansen", "factuur@mijnbakkerij.nl"),
        envelope_out=BOUNCE, signer=RELAY,
        log={"spf": "fail", "spf_domain": "mijnbakkerij.nl", "dmarc": "fail",
             "policy": "reject"}),
    "replyto": dict(
        from_field='"Bakkerij Jansen" <factuur@mijnbakkerij.nl>',
        envelope="antwoord@mijnbakkerij.nl",
        extra=[("Reply-To", "<debiteuren@mijnbakkerij.nl>")], rewrite="from,envelope",
        new_name=f"Bakkerij Jansen via {RELAY}", orig=None,
        envelope_out=BOUNCE, signer=RELAY,
        log={"spf": "fail", "dmarc": "fail", "policy": "reject"}),
    "folded": dict(
        from_field='"Bakkerij Jansen" <factuur@mijnbakkerij.nl>', from_name="FROM",
        fold=True, envelope="gevouwen@mijnbakkerij.nl", extra=[], rewrite="from,envelope",
        new_name=f"Bakkerij Jansen via {RELAY}",
        orig=("Bakkerij Jansen", "factuur@mijnbakkerij.nl"),
        envelope_out=BOUNCE, signer=RELAY,
        log={"spf": "fail", "dmarc": "fail", "policy": "reject"}),
    "noname": dict(
        from_field="factuur@mijnbakkerij.nl",
        envelope="naamloos@mijnbakkerij.nl", extra=[], rewrite="from,envelope",
        new_name=f"factuur@mijnbakkerij.nl via {RELAY}",
        orig=("", "factuur@mijnbakkerij.nl"),
        envelope_out=BOUNCE, signer=RELAY,
        log={"spf": "fail", "dmarc": "fail", "policy": "reject"}),
    "utf8": dict(
        from_field="=?UTF-8?Q?B=C3=A4ckerei_M=C3=BCller?= <info@mijnbakkerij.nl>",
        envelope="info@mijnbakkerij.nl", extra=[], rewrite="from,envelope",
        new_name=f"B\u00e4ckerei M\u00fcller via {RELAY}",
        orig=("B\u00e4ckerei M\u00fcller", "info@mijnbakkerij.nl"),
        envelope_out=BOUNCE, signer=RELAY,
        log={"spf": "fail", "dmarc": "fail", "policy": "reject"}),
    "aligned": dict(
        from_field="Administratie <factuur@example.nl>",
        envelope="factuur@example.nl", extra=[], rewrite=None, new_name=None, orig=None,
        envelope_out="factuur@example.nl", signer="example.nl",
        log={"spf": "pass", "spf_domain": "example.nl", "dmarc": "pass", "policy": "reject",
             "action": "accept", "dkim": "signed", "d": "example.nl"}),
    "envonly": dict(
        from_field="Administratie <factuur@example.nl>",
        envelope="bounce@spf-fail.test", extra=[], rewrite="envelope", new_name=None,
        orig=None, envelope_out="factuur@example.nl", signer="example.nl",
        log={"spf": "fail", "spf_domain": "spf-fail.test", "dmarc": "pass",
             "policy": "reject", "dkim": "signed", "d": "example.nl"}),
    "pnone": dict(
        from_field="Administratie <factuur@laks.test>",
        envelope="factuur@laks.test", extra=[], rewrite="envelope", new_name=None,
        orig=None, envelope_out=BOUNCE, signer=None,
        log={"spf": "fail", "spf_domain": "laks.test", "dmarc": "fail", "policy": "none"}),
}
for _case in CASES.values():
    if _case["rewrite"]:
        _case["log"].setdefault("action", "rewrite")
    if _case["new_name"]:
        _case["log"].update({"dkim": "signed", "d": RELAY})

# Header fields the way through may add: Postfix's Received, sendguard's signatures.
ADDED_ON_THE_WAY = {"received", "dkim-signature"}


def envelope_sender(captured):
    """The address of MAIL FROM as smtp-sink received it ("<a@b> SIZE=.." -> "a@b")."""
    m = re.match(r"\s*<([^>]*)>", captured.mail_from)
    if not m:
        raise HarnessError(f"{captured.path}: unparsable MAIL FROM {captured.mail_from!r}")
    return m.group(1)


def postfix_queue_id(data):
    """The queue id in Postfix's own Received field of a delivered message (the id that
    sendguard's log line starts with), or None."""
    for name, raw in split_message(data)[0]:
        if name == "received":
            m = re.search(r"by mta\.sendguard\.test \(Postfix\) with \S+ id ([0-9A-Za-z]+)",
                          field_value(raw))
            if m:
                return m.group(1)
    return None


def dkim_tags(raw):
    """The tags of a raw DKIM-Signature field: {name: value without whitespace}."""
    value = re.sub(r"\s+", "", field_value(raw))
    return dict(t.split("=", 1) for t in value.split(";") if "=" in t)


def addresses(msg, name):
    """[(decoded display name, address)] of every address in every `name` field."""
    out = []
    for value in msg.get_all(name) or []:
        out += [(a.display_name, a.addr_spec) for a in value.addresses]
    return out


class RewriteTest(AlignmentChecks):
    """The checks, in order, on one World; passes and failures counted."""

    def __init__(self, world):
        AlignmentChecks.__init__(self, world)
        self.sent = {}              # case -> the bytes sent
        self.results = {}           # case -> agent result
        self.got = {}               # case -> its one CapturedMessage
        self.logged = {}            # case -> fields of its sendguard log line
        self.verified = {}          # case -> {"dkimpy": [...], "Mail::DKIM": [...]}

    # -- reporting --

    def case_group(self, name, fn):
        """Run the checks of one case; an exception fails that case only."""
        self.group(f"({name})", lambda: fn(name))

    # -- tools --

    def send(self, names):
        """Send the named cases by SMTP from 127.0.0.1 (internal), each with its own
        envelope sender; return {name: agent result} (ok, reply or error)."""
        jobs = []
        for name in names:
            c = CASES[name]
            data = invoice(c["from_field"], f"{name}@rcpt.test", name, c["extra"],
                           from_name=c.get("from_name", "From"), fold=c.get("fold", False))
            self.sent[name] = data
            path = os.path.join(self.msgdir, name + ".eml")
            with open(path, "wb") as f:
                f.write(data)
            jobs.append({"id": name, "path": path, "mail_from": c["envelope"],
                         "rcpts": [f"{name}@rcpt.test"]})
        return self.w.send(jobs, timeout=120)

    def log_fields(self, qid):
        """The key=value fields of sendguard's log line for queue id qid (the verdict line,
        with action=); waits up to 10 s."""
        def line():
            with open(self.w.milter.log_path, errors="replace") as f:
                text = f.read()
            found = [ln for ln in text.splitlines()
                     if f"{qid}: " in ln and " action=" in ln]
            return found[-1] if found else None
        text = wait_until(line, 10, f"sendguard's log line for queue id {qid}", interval=0.1)
        fields = dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", text.split(f"{qid}: ", 1)[1]))
        fields["_line"] = text
        return fields

    def check_signed(self, what, name, d):
        """The delivered message carries the signatures sendguard has keys for with d=,
        every one of them verified by dkimpy and Mail::DKIM against the key in DNS, and
        no signature that fails."""
        results = self.verified[name]
        dkimpy, mail_dkim = results["dkimpy"], results["Mail::DKIM"]
        problems = []
        found = sorted((r.a, r.s) for r in dkimpy if r.d == d)
        expected = self.w.milter.expected_signatures(d)
        if not expected:
            problems.append(f"the harness has no key for {d}")
        if found != expected:
            problems.append(f"signatures with d={d}: {found}, expected {expected}")
        problems += [str(r) for r in dkimpy if not r.ok]
        if not [m for m in mail_dkim if m.d == d]:
            problems.append(f"Mail::DKIM saw no signature with d={d}")
        problems += [str(m) for m in mail_dkim if not m.ok]
        others = sorted({r.d for r in dkimpy if r.d != d})
        if others:
            problems.append(f"also signed by {others}")
        return self.check(not problems, f"{what}: DKIM-signed d={d}, verified by dkimpy "
                          "and Mail::DKIM", "; ".join(problems))

    # -- the groups, in order --

    def deliver(self):
        """Send every case in one batch; each is accepted and delivered exactly once;
        verify every delivered copy's signatures in one batch."""
        self.results = self.send(list(CASES))
        try:
            self.w.wait_delivered(timeout=60)
        except HarnessError as e:
            self.check(False, "every message left Postfix's queue", str(e))
        paths = {}
        for name in CASES:
            r = self.results.get(name, {"ok": False, "error": "no result"})
            got = self.copies(f"{name}@rcpt.test")
            if self.check(r["ok"] and len(got) == 1, f"({name}) From {CASES[name]['from_field']}"
                          f", MAIL FROM <{CASES[name]['envelope']}>: accepted and delivered "
                          "exactly once", f"{r.get('error') or r.get('reply')}, "
                          f"{len(got)} copies"):
                self.got[name] = got[0]
                paths[name] = self.w.write_wire_file(f"{name}.eml", got[0].message)
        total = self.w.captured()
        self.check(len(total) == len(CASES), f"smtp-sink received {len(CASES)} messages in "
                   "all: no duplicate, no bounce", f"it received {len(total)}: "
                   f"{[(m.mail_from, m.rcpts) for m in total]}")
        if paths:
            answer = self.w.verify(list(paths.values()))
            self.verified = {name: answer[p] for name, p in paths.items()}

    def one_case(self, name):
        """Every check of one delivered case."""
        c = CASES[name]
        got = self.got.get(name)
        if got is None:
            raise Failed("not delivered: nothing more to check")
        sent_fields, sent_body = split_message(self.sent[name])
        fields, body = split_message(got.message)
        msg = email.message_from_bytes(got.message, policy=email.policy.default)

        # The rest of the message arrives as sent.
        touched = {"from", "reply-to"} if c["new_name"] else set()
        before = [raw for n, raw in sent_fields if n not in touched]
        after = [raw for n, raw in fields if n not in touched | ADDED_ON_THE_WAY]
        self.check(before == after and body == sent_body,
                   f"({name}) the body and the other header fields arrive as sent"
                   + (" (From untouched, no Reply-To added)" if not touched else ""),
                   f"sent {[f.decode('latin-1') for f in before]}, got "
                   f"{[f.decode('latin-1') for f in after]}"
                   + ("" if body == sent_body else "; the body differs"))

        # From and Reply-To.
        froms = [raw for n, raw in fields if n == "from"]
        replies = [raw for n, raw in fields if n == "reply-to"]
        if c["new_name"]:
            want = (c["new_name"], REWRITE_FROM)
            have = addresses(msg, "From")
            self.check(len(froms) == 1 and have == [want],
                       f"({name}) From rewritten to \"{c['new_name']}\" <{REWRITE_FROM}> "
                       "(decoded)", f"got {[field_value(f) for f in froms]} = {have}")
            if name == "display":
                exact = f'"Bakkerij Jansen via {RELAY}" <{REWRITE_FROM}>'
                self.check(len(froms) == 1 and field_value(froms[0]) == exact,
                           f"({name}) From field reads exactly: {exact}",
                           f"got {[field_value(f) for f in froms]}")
            if c["orig"] is not None:
                have = addresses(msg, "Reply-To")
                self.check(len(replies) == 1 and have == [c["orig"]]
                           and field_value(replies[0]) == c["from_field"],
                           f"({name}) Reply-To added, carrying the original From field's "
                           f"value {c['from_field']} (parses to {c['orig']})",
                           f"got {[field_value(f) for f in replies]} = {have}")
            else:
                original = [raw for n, raw in sent_fields if n == "reply-to"]
                self.check(replies == original,
                           f"({name}) exactly one Reply-To, the original, unchanged: "
                           f"{[field_value(f) for f in original]}",
                           f"got {[field_value(f) for f in replies]}")
        # (else: checked above with the rest of the header.)

        # The envelope sender.
        env = envelope_sender(got)
        self.check(env == c["envelope_out"],
                   f"({name}) MAIL FROM as delivered: <{c['envelope_out']}>"
                   + (" (rewritten)" if c["envelope_out"] != c["envelope"] else " (unchanged)"),
                   f"got <{env}>")

        # DKIM.
        if c["signer"]:
            self.check_signed(f"({name})", name, c["signer"])
        else:
            print(f"#    ({name}) signatures: "
                  f"{[str(r) for r in self.verified[name]['dkimpy']] or 'none'}")
        if c["new_name"]:
            sigs = [dkim_tags(raw) for n, raw in fields if n == "dkim-signature"]
            h = [t.get("h", "") for t in sigs if t.get("d") == RELAY]
            covered = [set(x.lower() for x in v.split(":")) for v in h]
            self.check(bool(covered) and all({"from", "reply-to"} <= s for s in covered),
                       f"({name}) the d={RELAY} signature covers From and Reply-To (h=)",
                       f"h= {h}")
            # A receiver's DMARC check: the From domain aligns with a verified d= (and with
            # the SPF-authorised envelope domain, checked by pyspf in its group).
            from_domain = addresses(msg, "From")[0][1].rsplit("@", 1)[1].lower()
            verified = sorted({r.d.lower() for r in self.verified[name]["dkimpy"] if r.ok}
                              & {m.d.lower() for m in self.verified[name]["Mail::DKIM"]
                                 if m.ok})
            self.check(from_domain in verified,
                       f"({name}) DMARC at the receiver: the From domain {from_domain} is a "
                       "verified DKIM d= (aligned)", f"verified d= {verified}")

        # sendguard's log line, found by Postfix's queue id.
        qid = postfix_queue_id(got.message)
        if qid is None:
            raise Failed("no Postfix queue id in the delivered message's Received fields")
        f = self.log_fields(qid)
        self.logged[name] = f
        want = dict(c["log"])
        if c["rewrite"]:
            want["rewrite"] = c["rewrite"]
        self.expect_fields(f"({name})", f, want, absent=() if c["rewrite"] else ("rewrite",))

    def independent_spf(self):
        """pyspf, on the same DNS: the records mean what this test says, sendguard's SPF
        results agree, and the rewritten envelope sender passes."""
        queries = [(name, CASES[name]["envelope"]) for name in CASES]
        answers = pyspf(self.w.netns, [[EGRESS_IP, s, HELO] for _, s in queries]
                        + [[EGRESS_IP, BOUNCE, HELO]])
        bounce_result, bounce_expl = answers.pop()
        self.check(bounce_result == "pass",
                   f"(spf) pyspf check2(i={EGRESS_IP}, s={BOUNCE}, h={HELO}) = pass: the "
                   "rewritten envelope sender is authorised", f"{bounce_result} ({bounce_expl})")
        want = {"display": "fail", "aligned": "pass", "envonly": "fail", "pnone": "fail"}
        for (name, sender), (result, explanation) in zip(queries, answers):
            logged = self.logged.get(name, {}).get("spf")
            self.check(logged is not None and result == logged
                       and result == want.get(name, result),
                       f"(spf) pyspf check2(i={EGRESS_IP}, s={sender}, h={HELO}) = {result}, "
                       f"as sendguard predicted (for the original envelope)",
                       f"sendguard logged spf={logged} ({explanation}); this test expects "
                       f"{want.get(name, result)}")
        # envonly: the envelope became the From address, which pyspf passes (aligned).
        got = self.got.get("envonly")
        if got is not None:
            env = envelope_sender(got)
            (result, expl), = pyspf(self.w.netns, [[EGRESS_IP, env, HELO]])
            self.check(env == "factuur@example.nl" and result == "pass",
                       "(spf) (envonly) the envelope became the From address factuur@example.nl, "
                       "which pyspf passes: SPF aligned with the From domain",
                       f"envelope <{env}>; pyspf: {result} ({expl})")
        # DMARC at the receiver, the SPF half: an envelope rewritten to bounces@relay.test
        # passes SPF and aligns with a From of relay.test.
        for name in ("display", "replyto", "folded", "noname", "utf8"):
            got = self.got.get(name)
            if got is None:
                continue
            env = envelope_sender(got)
            msg = email.message_from_bytes(got.message, policy=email.policy.default)
            have = addresses(msg, "From")
            from_domain = have[0][1].rsplit("@", 1)[1].lower() if have else None
            self.check(env == BOUNCE and bounce_result == "pass"
                       and from_domain == env.rsplit("@", 1)[1].lower(),
                       f"(spf) ({name}) DMARC at the receiver: SPF pass for the envelope "
                       f"domain, aligned with the From domain {from_domain}",
                       f"envelope <{env}>; pyspf for <{BOUNCE}>: {bounce_result}")

    def run(self):
        """Every group in order; returns the number of failures."""
        self.group("(delivery)", self.deliver)
        for name in CASES:
            self.case_group(name, self.one_case)
        self.group("(spf)", self.independent_spf)
        self.alive("end")
        return self.failures


def main():
    """Parse options, check prerequisites, run the checks in a fresh World, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sendguard", default=default_binary("SENDGUARD", "sendguard"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--canonicalization", default="relaxed/relaxed",
                        help="sendguard's canonicalization (simple/simple hashes the rewritten "
                             "fields exactly as Postfix writes them)")
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
        return sendguard_milter(args.sendguard, workdir, keys,
                                extra_config=f'canonicalization = "{args.canonicalization}"\n'
                                + REWRITE_CONFIG)

    print(f"# sendguard {args.sendguard}; egress IP {EGRESS_IP}, keys for example.nl and "
          f"{RELAY}; rewrite to {REWRITE_FROM}, envelope {BOUNCE}; "
          f"{args.canonicalization}")

    def checks(world):
        test = RewriteTest(world)
        failures = test.run()
        stop = stopped_cleanly(world)
        print(f"# summary: {test.passed + (1 - stop)} ok, {failures + stop} FAIL")
        return failures + stop

    return run_world(lambda: World(KEY_SPECS, factory, domains=DOMAINS, txt=TXT,
                                   keep=args.keep), checks)


if __name__ == "__main__":
    sys.exit(main())
