#!/usr/bin/python3
"""End to end: does the quarantine hold what the policy holds, and release it intact once?

A real Postfix in a network namespace sends through sendguard to smtp-sink (see sgtest).
Outgoing mail from example.nl (RSA and Ed25519 keys in DNS) with phishing content scores
above quarantine_at and must be stored in sendguard's SQLite database and discarded (the
client gets 250, nothing arrives); an invoice must arrive signed.  Then `sendguardctl
quarantine` (run as root inside the namespace, with the milter's configuration):

  list/show     the held message with its envelope, subject, verdict hits and a preview
  release       delivers it exactly once, DKIM-signed (dkimpy; Mail::DKIM for RSA), body
                byte for byte and header fields as sent, no X-Sendguard-Release header;
                by SMTP (-o quarantine.release_via=smtp:127.0.0.1:2525), and by the
                configured release_via, a sendmail program that returns before the milter
                sees the message (as Postfix's sendmail(1) does: it hands the message to
                Postfix's sendmail a second later)
  release again exit 65, nothing delivered; an unreachable MTA: exit 69, still held
  tokens        a forged X-Sendguard-Release token and a replayed one (captured by an
                SMTP-speaking sendmail program, like msmtp, after the milter took it) get
                no free pass: the message is quarantined again; no token is left over
  release --to  delivers to that address only
  stats         action counts before and after a known batch (accept, quarantine, inbound)
  delete/purge  delete by id (unknown id: 65), purge by age, retention at start-up
  exit codes    64 usage, 66 no database, 75 database locked, 77 not permitted, 78 config

Prints one line per check and exits 1 on any failure.  A missing tool, not being root, or a
missing sendguard or sendguardctl binary is a failure, not a skip.  Needs /usr/bin/python3
and root.
"""

import argparse
import json
import os
import pwd
import re
import shutil
import stat
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True          # no __pycache__ in the source tree

from sgtest.cli import (Checks, default_binary, run_world, stopped_cleanly,  # noqa: E402
                        teardown_on_signals)
from sgtest import HarnessError, World, check_prerequisites          # noqa: E402
from sgtest.mailmsg import split_message                             # noqa: E402
from sgtest.milters import sendguard_milter                          # noqa: E402
from sgtest.postfix import HOSTNAME                                  # noqa: E402
from sgtest.quarantine import (PHISH_SUBJECT, PHISHER, PREVIEW_PHRASE, SENDER,  # noqa: E402
                               DatabaseLock, database_path, db_query, invoice, phishing)
from sgtest.world import EXTERNAL_ADDR, SMTP_PORT                    # noqa: E402

KEY_SPECS = [
    ("example.nl", "rsa2026", "rsa"),
    ("example.nl", "ed2026", "ed25519"),
]
DOMAINS = ["example.nl"]
RELEASE_SMTP = f"quarantine.release_via=smtp:127.0.0.1:{SMTP_PORT}"
HEX64 = "0123456789abcdef" * 4
EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE = 64, 65, 66, 69
EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 75, 77, 78
LIST_KEYS = {"id", "time", "queue_id", "client_addr", "env_from", "rcpts", "from", "subject",
             "score", "reason", "state"}


class Failed(Exception):
    """A check failed in a way that makes the rest of its group meaningless."""


# -- helpers -------------------------------------------------------------------------------

def release_wrappers(workdir, capture_dir, postfix_config_dir, smtp_port):
    """Write two sendmail programs for release_via = "sendmail:PATH"; both keep a copy of
    the message they are given (with its release token) and of their arguments in
    capture_dir.  Returns their paths:

    release-sendmail   a queueing sendmail: takes the message and exits 0 at once; a
                       second later it hands the message to the test Postfix's sendmail(1)
                       and writes COPY.done (its exit status).  Postfix's own sendmail
                       also returns before the milter sees the message (it is in the
                       maildrop until pickup and cleanup get to it); the delay makes that
                       order certain instead of a race
    release-smtp       submits it by SMTP to 127.0.0.1:smtp_port before it exits, like
                       msmtp: the milter has seen it (and taken the token) by then
    """
    os.makedirs(capture_dir, exist_ok=True)
    os.chmod(capture_dir, 0o1777)         # sendguardctl may run them as the daemon user
    sendmail = os.path.join(workdir, "release-sendmail")
    with open(sendmail, "w") as f:
        f.write(f"""#!/bin/sh
# A queueing sendmail(1) for sendguardctl's release (written by t/e2e/test_quarantine.py):
# accepts the message at once, hands it to Postfix's sendmail a second later.
umask 022
copy=$(mktemp {capture_dir}/sendmail.XXXXXX) || exit 75
cat > "$copy" || exit 75
printf '%s\\n' "$@" > "$copy.args"
(sleep 1; /usr/sbin/sendmail -C {postfix_config_dir} "$@" < "$copy"; echo $? > "$copy.done") \\
    < /dev/null > /dev/null 2>&1 &
exit 0
""")
    smtp = os.path.join(workdir, "release-smtp")
    with open(smtp, "w") as f:
        f.write(f"""#!/usr/bin/python3
# A sendmail(1) that submits by SMTP at once, like msmtp, for sendguardctl's release
# (written by t/e2e/test_quarantine.py).  Understands -i, -f SENDER, -- and recipients.
import os, smtplib, sys, tempfile
args, sender, rcpts = sys.argv[1:], "", []
while args:
    a = args.pop(0)
    if a == "--":
        rcpts += args
        break
    if a == "-f":
        sender = args.pop(0)
    elif a.startswith("-f"):
        sender = a[2:]
    elif not a.startswith("-"):
        rcpts.append(a)
data = sys.stdin.buffer.read()
fd, copy = tempfile.mkstemp(prefix="smtp.", dir="{capture_dir}")
os.write(fd, data)
os.close(fd)
with open(copy + ".args", "w") as f:
    f.write("\\n".join(sys.argv[1:]) + "\\n")
try:
    with smtplib.SMTP("127.0.0.1", {smtp_port}, timeout=60) as s:
        s.sendmail(sender, rcpts, data)
except smtplib.SMTPResponseException as e:
    sys.exit(75 if 400 <= e.smtp_code < 500 else 69)
except (smtplib.SMTPException, OSError):
    sys.exit(75)
""")
    for path in (sendmail, smtp):
        os.chmod(path, 0o755)
    return sendmail, smtp


# -- the test -------------------------------------------------------------------------------

class QuarantineTest(Checks):
    """The checks, in order, on one World; failures counted."""

    def __init__(self, world, verbose=False):
        self.w = world
        self.verbose = verbose
        Checks.__init__(self)
        self.msgdir = os.path.join(world.workdir, "messages")
        os.makedirs(self.msgdir, exist_ok=True)
        self.sent = {}              # name -> bytes sent
        self.db = database_path(world.milter)
        self.capture_dir = os.path.join(world.workdir, "release-copies")
        self.smtp_wrapper = os.path.join(world.workdir, "release-smtp")

    # -- reporting --

    def group(self, name, fn):
        """Run one group of checks; an exception fails the group, not the test run."""
        try:
            fn()
        except (Failed, HarnessError, KeyError, TypeError, ValueError, IndexError) as e:
            self.fail(f"{name}: {type(e).__name__}: {e}" if not isinstance(e, Failed)
                      else f"{name}: {e}")

    # -- tools --

    def ctl(self, *args, release_via=RELEASE_SMTP, user=None, timeout=60):
        """sendguardctl -c CONF [-o release_via] ARGS; returns (exit, stdout, stderr) as text."""
        opts = ["-o", release_via] if release_via else []
        r = self.w.sendguardctl(opts + list(args), user=user, timeout=timeout)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if self.verbose:
            print(f"       $ sendguardctl {' '.join(opts + list(args))} -> {r.returncode}\n"
                  + "".join(f"       | {line}\n" for line in (out + err).splitlines()[:20]),
                  end="")
        return r.returncode, out, err

    def ctl_json(self, *args):
        """sendguardctl ... --json: the parsed output; Failed unless exit 0 and valid JSON."""
        code, out, err = self.ctl(*args)
        if code != 0:
            raise Failed(f"sendguardctl {' '.join(args)}: exit {code}: {(err + out).strip()}")
        try:
            return json.loads(out)
        except ValueError as e:
            raise Failed(f"sendguardctl {' '.join(args)}: not JSON ({e}): {out[:300]!r}")

    def listing(self, *extra, state="all"):
        """quarantine list --json --state STATE [extra]."""
        return self.ctl_json("quarantine", "list", "--json", "--state", state, *extra)

    def write(self, name, data):
        """Keep a message to send under workdir/messages; return its path."""
        path = os.path.join(self.msgdir, name + ".eml")
        with open(path, "wb") as f:
            f.write(data)
        self.sent[name] = data
        return path

    def send(self, items, source=None):
        """Send [(name, data, mail_from, rcpts)] by SMTP; Failed unless every one got 250."""
        jobs = []
        for name, data, mail_from, rcpts in items:
            job = {"id": name, "path": self.write(name, data), "mail_from": mail_from,
                   "rcpts": rcpts}
            if source:
                job["source"] = source
            jobs.append(job)
        results = self.w.send(jobs)
        bad = {k: r["error"] for k, r in results.items() if not r["ok"]}
        if bad:
            raise Failed(f"not accepted by Postfix: {bad}")
        self.w.wait_delivered(timeout=60)

    def copies(self, rcpt):
        """Captured messages addressed (envelope) to rcpt."""
        return [m for m in self.w.captured() if rcpt in m.rcpt_addresses]

    def log(self):
        """sendguard's whole log (every run)."""
        with open(self.w.milter.log_path, errors="replace") as f:
            return f.read()

    def db_query(self, sql):
        """Rows of a read-only query on the quarantine database (sendguard must be running)."""
        return db_query(self.db, sql)

    def entry_for(self, rcpt, entries):
        """The one list entry whose recipients include rcpt; Failed unless exactly one."""
        found = [e for e in entries if rcpt in e.get("rcpts", [])]
        if len(found) != 1:
            raise Failed(f"{len(found)} quarantine entries for {rcpt}, expected 1: {entries}")
        return found[0]

    def check_signed_intact(self, what, sent, captured):
        """The released copy: one DKIM signature per key of example.nl that dkimpy (and
        Mail::DKIM for RSA) verifies, no release header, header fields and body as sent."""
        problems = []
        fields, body = split_message(captured.message)
        sent_fields, sent_body = split_message(sent)
        if body != sent_body:
            problems.append(f"body changed ({len(sent_body)} -> {len(body)} bytes)")
        if any(n == "x-sendguard-release" for n, _ in fields):
            problems.append("carries an X-Sendguard-Release header")
        kept = [(n, raw) for n, raw in fields if n != "dkim-signature"
                and not (n == "received" and f"by {HOSTNAME} (Postfix".encode()
                         in raw.replace(b"\r\n\t", b" ").replace(b"\r\n ", b" "))]
        if kept != sent_fields:
            added = [raw.decode(errors="replace").strip() for n, raw in kept
                     if (n, raw) not in sent_fields]
            lost = [n for n, raw in sent_fields if (n, raw) not in kept]
            problems.append(f"header fields changed (added or altered: {added}; lost or "
                            f"altered: {lost})")
        path = self.w.write_wire_file(f"{what.replace(' ', '-')}.eml", captured.message)
        results = self.w.verify([path])[path]
        dkimpy, mail_dkim = results["dkimpy"], results["Mail::DKIM"]
        expected = self.w.milter.expected_signatures("example.nl")
        found = sorted((r.a, r.s) for r in dkimpy)
        if found != expected:
            problems.append(f"signatures {found}, expected {expected}")
        problems += [str(r) for r in dkimpy if not r.ok or r.d != "example.nl"]
        rsa = [m for m in mail_dkim if m.a.startswith("rsa-")]
        if not rsa:
            problems.append("Mail::DKIM saw no RSA signature")
        problems += [str(m) for m in rsa if not m.ok]
        algorithms = ", ".join(a for a, _ in found)
        return self.check(not problems, f"{what}: signed ({algorithms} verified), body byte "
                          "for byte and header fields as sent, no X-Sendguard-Release",
                          "; ".join(problems))

    # -- the groups, in order --

    def setup_checks(self):
        """The daemon made the quarantine directory and database as documented."""
        qdir = os.path.dirname(self.db)
        st = os.stat(qdir)
        nobody = pwd.getpwnam("nobody")
        mode = stat.S_IMODE(st.st_mode)
        self.check(mode == 0o2770 and st.st_uid == nobody.pw_uid
                   and st.st_gid == nobody.pw_gid,
                   "quarantine directory: mode 2770, owner nobody, group nogroup (admin_group "
                   "\"\" = the user's primary group)",
                   f"mode {mode:o}, uid {st.st_uid}, gid {st.st_gid}")
        self.check(os.path.isfile(self.db), f"database created at start-up: {self.db}")

    def first_batch(self):
        """(a) an invoice is delivered and signed; (b) phishing is held, not delivered."""
        inv, ph = invoice("a"), phishing("b")
        self.send([("invoice-a", inv, SENDER, ["invoice-a@rcpt.test"]),
                   ("phish-b", ph, PHISHER, ["phish-b1@rcpt.test", "phish-b2@rcpt.test"])])
        got = self.copies("invoice-a@rcpt.test")
        if self.check(len(got) == 1, "(a) invoice from example.nl delivered",
                      f"{len(got)} copies"):
            self.check_signed_intact("(a) invoice", inv, got[0])
        got = self.copies("phish-b1@rcpt.test") + self.copies("phish-b2@rcpt.test")
        self.check(not got, "(b) phishing message: client got 250, queue drained, nothing "
                   "arrived at smtp-sink", f"{len(got)} copies arrived")

        held = self.listing(state="held")
        if not (isinstance(held, list) and len(held) == 1):
            raise Failed(f"(b) quarantine list --json: expected one held message: {held}")
        e = held[0]
        self.phish_id = e["id"]
        problems = []
        missing = LIST_KEYS - set(e)
        if missing:
            problems.append(f"keys missing: {sorted(missing)}")
        want = {"env_from": PHISHER, "subject": PHISH_SUBJECT, "state": "held",
                "client_addr": "127.0.0.1", "reason": "ip_link"}
        problems += [f"{k}={e.get(k)!r}, expected {v!r}" for k, v in want.items()
                     if e.get(k) != v]
        if sorted(e.get("rcpts", [])) != ["phish-b1@rcpt.test", "phish-b2@rcpt.test"]:
            problems.append(f"rcpts={e.get('rcpts')!r}")
        if PHISHER not in str(e.get("from")):
            problems.append(f"from={e.get('from')!r}")
        if not (isinstance(e.get("score"), (int, float)) and e["score"] >= 8):
            problems.append(f"score={e.get('score')!r}, expected >= 8")
        if not (isinstance(e.get("time"), int) and abs(e["time"] - time.time()) < 300):
            problems.append(f"time={e.get('time')!r}, expected about now")
        qid = e.get("queue_id") or "?"
        if not re.search(rf"\b{re.escape(qid)}: milter-discard", self.w.postfix.log()):
            problems.append(f"queue_id {qid!r}: no 'milter-discard' for it in Postfix's log")
        self.check(not problems, f"(b) list --json: id {e.get('id')}, env_from, rcpts, subject, "
                   f"from, score {e.get('score')}, reason, client, queue id {qid} "
                   "(Postfix logged its DISCARD)", "; ".join(problems))
        self.check(re.search(rf"\b{re.escape(qid)}: .*action=quarantine quarantine_id="
                             rf"{self.phish_id}\b", self.log()),
                   f"(b) sendguard logged '{qid}: ... action=quarantine quarantine_id="
                   f"{self.phish_id}'", "no such line in sendguard.log")

        shown = self.ctl_json("quarantine", "show", "--json", str(self.phish_id))
        problems = []
        missing = (LIST_KEYS | {"verdict", "headers", "preview"}) - set(shown)
        if missing:
            problems.append(f"keys missing: {sorted(missing)}")
        verdict = shown.get("verdict", {})
        if verdict.get("action") != "quarantine":
            problems.append(f"verdict.action={verdict.get('action')!r}")
        if verdict.get("from_domain") != "example.nl":
            problems.append(f"verdict.from_domain={verdict.get('from_domain')!r}")
        hits = verdict.get("hits", [])
        rules = {h.get("rule") for h in hits}
        if not {"ip_link", "credentials", "urgency"} <= rules:
            problems.append(f"hits {sorted(map(str, rules))} lack ip_link/credentials/urgency")
        bare = [h for h in hits if not (h.get("explanation") and h.get("where")
                                        and isinstance(h.get("weight"), (int, float)))]
        if bare:
            problems.append(f"hits without explanation, where or weight: {bare}")
        if ["Subject", PHISH_SUBJECT] not in shown.get("headers", []):
            problems.append(f"headers lack [Subject, {PHISH_SUBJECT!r}]")
        if PREVIEW_PHRASE not in shown.get("preview", ""):
            problems.append(f"preview lacks {PREVIEW_PHRASE!r} (quoted-printable decoded): "
                            f"{shown.get('preview', '')[:200]!r}")
        self.check(not problems, f"(b) show --json: {len(hits)} hits with explanations "
                   f"({', '.join(sorted(map(str, rules)))}), headers, decoded preview",
                   "; ".join(problems))

        filters = [(("--from", "security@example"), 1), (("--from", "nobody-else"), 0),
                   (("--to", "PHISH-B2@"), 1), (("--to", "invoice-a"), 0),
                   (("--rule", "ip_link"), 1), (("--rule", "invoice"), 0),
                   (("--since", "1h"), 1), (("--state", "released"), 0)]
        problems = []
        for args, n in filters:
            got = self.ctl_json("quarantine", "list", "--json", *args)
            if len(got) != n:
                problems.append(f"{' '.join(args)}: {len(got)} entries, expected {n}")
        self.check(not problems, "(b) list filters --from, --to (case-insensitive), --rule, "
                   "--since, --state", "; ".join(problems))

    def release_smtp(self):
        """(c) release by SMTP delivers once, signed and intact; (d) never twice."""
        code, out, err = self.ctl("quarantine", "release", str(self.phish_id))
        if code != 0:
            raise Failed(f"(c) quarantine release {self.phish_id}: exit {code}: {err}{out}")
        self.w.wait_delivered(timeout=60)
        got1, got2 = self.copies("phish-b1@rcpt.test"), self.copies("phish-b2@rcpt.test")
        if self.check(len(got1) == 1 and len(got2) == 1,
                      f"(c) release {self.phish_id} (smtp): exit 0, one copy for each of the "
                      "two recipients", f"{len(got1)} and {len(got2)} copies"):
            self.check_signed_intact("(c) released message", self.sent["phish-b"], got1[0])
            mail_from = got1[0].mail_from
            self.check(mail_from.startswith(f"<{PHISHER}>"),
                       "(c) released with the original envelope sender", mail_from)
        self.check(re.search(rf"\breleased={self.phish_id}\b", self.log()),
                   f"(c) sendguard logged released={self.phish_id}",
                   "no such line in sendguard.log")
        e = self.entry_for("phish-b1@rcpt.test", self.listing())
        self.check(e["state"] == "released" and not self.listing(state="held"),
                   "(c) the entry is now state released, none held", f"{e}")
        tokens = self.db_query("SELECT count(*) FROM release_token")[0][0]
        self.check(tokens == 0, "(c) table release_token is empty: the token was consumed",
                   f"{tokens} rows")

        before = len(self.w.captured())
        code, out, err = self.ctl("quarantine", "release", str(self.phish_id))
        time.sleep(1)
        self.w.wait_delivered(timeout=30)
        after = len(self.w.captured())
        self.check(code == EX_DATAERR and after == before,
                   f"(d) second release {self.phish_id}: exit 65, nothing delivered",
                   f"exit {code} ({(err + out).strip()}), {after - before} new messages")

    def tokens(self):
        """(e) release by sendmail(1); a forged token and a replayed (used) one buy nothing."""
        forged = f"X-Sendguard-Release: {HEX64}\r\n".encode() + self.sent["phish-b"]
        self.send([("forged", forged, PHISHER, ["forged@rcpt.test"])])
        e = self.entry_for("forged@rcpt.test", self.listing(state="held"))
        self.check(not self.copies("forged@rcpt.test"),
                   f"(e) forged X-Sendguard-Release token: not delivered, quarantined "
                   f"(id {e['id']})")

        # The configured release_via: a sendmail(1) that returns before the milter sees
        # the message (and its token), as Postfix's does.
        self.group("(e) sendmail", self.release_sendmail)

        # A token the milter really took, captured on its way by an SMTP-speaking sendmail.
        self.send([("replay-source", phishing("e2"), PHISHER, ["replay@rcpt.test"])])
        e = self.entry_for("replay@rcpt.test", self.listing(state="held"))
        via = f"quarantine.release_via=sendmail:{self.smtp_wrapper}"
        code, out, err = self.ctl("quarantine", "release", str(e["id"]), release_via=via)
        self.w.wait_delivered(timeout=60)
        got = self.copies("replay@rcpt.test")
        if not self.check(code == 0 and len(got) == 1 and re.search(
                rf"\breleased={e['id']}\b", self.log()),
                f"(e) release {e['id']} via an SMTP-speaking sendmail program (like msmtp): "
                "exit 0, delivered once, the milter took the token",
                f"exit {code} ({(err + out).strip()}), {len(got)} copies"):
            return
        issued = self.captured_release("smtp.")
        token = re.search(rb"(?im)^X-Sendguard-Release:[ \t]*(\S+)", issued).group(1)
        tokens = self.db_query("SELECT count(*) FROM release_token")[0][0]
        self.check(tokens == 0, "(e) table release_token is empty after that release",
                   f"{tokens} rows")
        self.send([("replayed", issued, PHISHER, ["replayed@rcpt.test"])])
        e = self.entry_for("replayed@rcpt.test", self.listing(state="held"))
        self.check(not self.copies("replayed@rcpt.test"),
                   f"(e) replayed token {token[:12].decode()}... (used by that release): not "
                   f"delivered, quarantined again (id {e['id']})")

    def captured_release(self, prefix):
        """The one message a release wrapper (prefix "sendmail." or "smtp.") was given."""
        copies = sorted(p for p in os.listdir(self.capture_dir)
                        if p.startswith(prefix) and not p.endswith((".args", ".done")))
        if len(copies) != 1:
            raise Failed(f"the {prefix[:-1]} release wrapper kept {len(copies)} messages, "
                         "expected 1")
        with open(os.path.join(self.capture_dir, copies[0]), "rb") as f:
            issued = f.read()
        if not re.search(rb"(?im)^X-Sendguard-Release:[ \t]*\S+", issued):
            raise Failed(f"what sendguardctl gave {prefix[:-1]} has no X-Sendguard-Release "
                         f"header: {issued[:300]!r}")
        return issued

    def release_sendmail(self):
        """(e) release by the configured release_via, Postfix's sendmail(1)."""
        self.send([("sendmail-release", phishing("e1"), PHISHER, ["by-sendmail@rcpt.test"])])
        e = self.entry_for("by-sendmail@rcpt.test", self.listing(state="held"))
        code, out, err = self.ctl("quarantine", "release", str(e["id"]), release_via=None)
        if code != 0:
            raise Failed(f"release {e['id']} by sendmail(1): exit {code}: {err}{out}")
        self.captured_release("sendmail.")
        done = [os.path.join(self.capture_dir, p) for p in os.listdir(self.capture_dir)
                if p.startswith("sendmail.") and p.endswith(".done")]
        deadline = time.monotonic() + 30
        while not done and time.monotonic() < deadline:
            time.sleep(0.1)
            done = [os.path.join(self.capture_dir, p) for p in os.listdir(self.capture_dir)
                    if p.startswith("sendmail.") and p.endswith(".done")]
        if not done:
            raise Failed("the queueing sendmail did not hand the message on within 30 s")
        time.sleep(0.1)                     # its "echo $?" may still be writing
        with open(done[0]) as f:
            status = f.read().strip()
        if status != "0":
            raise Failed(f"Postfix's sendmail(1) exited {status!r} for the released message")
        self.w.wait_delivered(timeout=60)
        got = self.copies("by-sendmail@rcpt.test")
        entries = [x for x in self.listing() if "by-sendmail@rcpt.test" in x["rcpts"]]
        if self.check(len(got) == 1 and len(entries) == 1 and "warning" not in err.lower(),
                      f"(e) release {e['id']} via sendmail(1) (the configured release_via): "
                      "exit 0, no warning, delivered once, not quarantined again",
                      f"{len(got)} copies delivered, {len(entries)} quarantine entries "
                      f"({[(x['id'], x['state']) for x in entries]}); sendguardctl said: "
                      f"{(err + out).strip()}"):
            self.check_signed_intact("(e) released by sendmail", self.sent["sendmail-release"],
                                     got[0])

    def release_to(self):
        """(f) release --to delivers to that address only; an unreachable MTA keeps it held."""
        self.send([("release-to", phishing("f"), PHISHER, ["f1@rcpt.test", "f2@rcpt.test"])])
        e = self.entry_for("f1@rcpt.test", self.listing(state="held"))
        code, out, err = self.ctl("quarantine", "release", str(e["id"]),
                                  release_via="quarantine.release_via=smtp:127.0.0.1:1")
        self.check(code == EX_UNAVAILABLE and self.entry_for(
            "f1@rcpt.test", self.listing())["state"] == "held",
            f"(f) release {e['id']} to an MTA that does not listen: exit 69, still held",
            f"exit {code}: {(err + out).strip()}")
        code, out, err = self.ctl("quarantine", "release", "--to", "other@rcpt.test",
                                  str(e["id"]))
        self.w.wait_delivered(timeout=60)
        other = self.copies("other@rcpt.test")
        orig = self.copies("f1@rcpt.test") + self.copies("f2@rcpt.test")
        self.check(code == 0 and len(other) == 1 and not orig
                   and other[0].rcpt_addresses == ["other@rcpt.test"],
                   f"(f) release --to other@rcpt.test {e['id']}: exit 0, one copy to that "
                   "address only",
                   f"exit {code} ({(err + out).strip()}), {len(other)} copies to other, "
                   f"{len(orig)} to the original recipients")

    def settled_stats(self):
        """stats --json once sendguard has written what it decided: it writes verdict rows
        in the background about once a second, so wait until two readings 1.5 s apart
        agree (at most 15 s)."""
        last = self.ctl_json("stats", "--json", "--since", "1h")
        for _ in range(10):
            time.sleep(1.5)
            now = self.ctl_json("stats", "--json", "--since", "1h")
            if now["total"] == last["total"] and now["inbound"] == last["inbound"]:
                return now
            last = now
        raise Failed(f"(h) stats did not settle within 15 s: {last}")

    def stats(self):
        """(h) stats: exact counts for a known batch, and in total."""
        before = self.settled_stats()
        for k in ("since", "total", "actions", "rules", "inbound"):
            if k not in before:
                raise Failed(f"(h) stats --json lacks {k!r}: {before}")
        batch = [(f"stats-invoice-{i}", invoice(f"h{i}"), SENDER, [f"h-inv{i}@rcpt.test"])
                 for i in range(3)]
        batch += [(f"stats-phish-{i}", phishing(f"h{i}"), PHISHER, [f"h-ph{i}@rcpt.test"])
                  for i in range(2)]
        self.send(batch)
        # Inbound: the same phishing from a client outside internal_hosts is not ours to
        # judge; it must arrive untouched and count as inbound.
        self.send([("stats-inbound", phishing("h-in"), "someone@elsewhere.test",
                    ["h-in@rcpt.test"])], source=EXTERNAL_ADDR)
        inbound = self.copies("h-in@rcpt.test")
        self.check(len(inbound) == 1 and b"dkim-signature" not in inbound[0].message.lower(),
                   "(h) phishing from an external client is not quarantined: delivered, "
                   "unsigned", f"{len(inbound)} copies")
        after = self.settled_stats()
        delta = {a: after["actions"].get(a, 0) - before["actions"].get(a, 0)
                 for a in set(after["actions"]) | set(before["actions"])}
        delta = {a: n for a, n in delta.items() if n}
        d_inbound = after["inbound"] - before["inbound"]
        self.check(delta.get("accept") == 3 and delta.get("quarantine") == 2
                   and d_inbound == 1 and set(delta) <= {"accept", "quarantine", "inbound"},
                   "(h) stats after 3 invoices, 2 phishing, 1 inbound: accept +3, quarantine "
                   "+2, inbound +1, nothing else", f"changes {delta}, inbound +{d_inbound}")
        # In total: every quarantine decision is a row of the quarantine (none deleted yet);
        # every message let through is an invoice or a release that passed the milter.
        rows = len(self.listing())
        released = len(re.findall(r"\breleased=\d+", self.log()))
        passed = (after["actions"].get("accept", 0) + after["actions"].get("release", 0)
                  + after["actions"].get("released", 0))
        rules = {r["rule"]: r["n"] for r in after["rules"]}
        self.check(after["actions"].get("quarantine") == rows and passed == 4 + released
                   and rows <= rules.get("ip_link", 0) <= rows + released
                   and after["total"] == sum(after["actions"].values()),
                   f"(h) stats in total: quarantine {rows} (the rows in the quarantine), "
                   f"let through {passed} (4 invoices, {released} releases), top rule "
                   f"ip_link {rules.get('ip_link')}, total {after['total']}", f"{after}")
        print(f"#    stats: {json.dumps(after, sort_keys=True)}")

    def exit_codes(self):
        """The documented exit codes, each provoked on purpose."""
        held = self.listing(state="held")
        if not held:
            raise Failed("exit codes: no held message left to try them on")
        some_id = str(held[0]["id"])
        cases = [
            ("quarantine release without an id", ("quarantine", "release"), {}, EX_USAGE),
            ("quarantine list --no-such-option", ("quarantine", "list", "--no-such-option"),
             {}, EX_USAGE),
            ("quarantine show 999999", ("quarantine", "show", "999999"), {}, EX_DATAERR),
            ("a database that does not exist",
             ("-o", "quarantine.database=no-such-dir/none.db", "quarantine", "list"), {},
             EX_NOINPUT),
            ("a bad retention (-o quarantine.retention=forever)",
             ("-o", "quarantine.retention=forever", "quarantine", "list"), {}, EX_CONFIG),
            ("run as user daemon (not in admin_group)", ("quarantine", "list"),
             {"user": "daemon"}, EX_NOPERM),
        ]
        for what, args, kw, want in cases:
            code, out, err = self.ctl(*args, **kw)
            self.check(code == want, f"exit {want} for {what}",
                       f"exit {code}: {(err + out).strip()[:300]}")
        self.check(not os.path.exists(os.path.join(self.w.milter.state_dir, "no-such-dir")),
                   "sendguardctl created no database where none was")

        # A writer holding the database: sendguardctl waits a while, then gives up with 75.
        with DatabaseLock(self.db):
            started = time.monotonic()
            code, out, err = self.ctl("quarantine", "delete", some_id, timeout=60)
            took = time.monotonic() - started
        self.check(code == EX_TEMPFAIL and self.entry_for(
            held[0]["rcpts"][0], self.listing())["state"] == "held",
            f"exit 75 for delete {some_id} while another process locks the database "
            f"(after {took:.1f} s); the message is still held",
            f"exit {code}: {(err + out).strip()[:300]}")

    def delete_purge(self):
        """(g) delete by id, purge by age."""
        held = self.listing(state="held")
        if not held:
            raise Failed("(g) no held message to delete")
        victim = held[0]
        code, out, err = self.ctl("quarantine", "delete", str(victim["id"]))
        ids = [e["id"] for e in self.listing()]
        self.check(code == 0 and victim["id"] not in ids,
                   f"(g) delete {victim['id']}: exit 0, gone from list --state all",
                   f"exit {code} ({(err + out).strip()}), ids now {ids}")
        code, out, err = self.ctl("quarantine", "delete", "999999")
        self.check(code == EX_DATAERR and "999999" in err + out,
                   "(g) delete 999999: exit 65, the message names the id",
                   f"exit {code}: {(err + out).strip()}")

        remaining = len(self.listing())
        code, out, err = self.ctl("quarantine", "purge", "--older-than", "30d")
        n = re.search(r"\d+", out)
        self.check(code == 0 and n and int(n.group()) == 0 and len(self.listing()) == remaining,
                   f"(g) purge --older-than 30d: exit 0, removed 0, {remaining} still there",
                   f"exit {code}, printed {out.strip()!r}, {len(self.listing())} left")
        time.sleep(2)
        code, out, err = self.ctl("quarantine", "purge", "--older-than", "1s")
        n = re.search(r"\d+", out)
        left = self.listing()
        self.check(code == 0 and n and int(n.group()) == remaining and not left,
                   f"(g) purge --older-than 1s (2 s later): exit 0, removed {remaining}, none "
                   f"left ({out.strip()!r})",
                   f"exit {code}, printed {(out + err).strip()!r}, left {left}")

    def retention(self):
        """(g) retention: nothing fresh is purged at start-up; with retention=1s, all is."""
        self.send([("retention", phishing("g"), PHISHER, ["retention@rcpt.test"])])
        if len(self.listing()) != 1:
            raise Failed(f"(g) retention: expected one quarantined message: {self.listing()}")
        status = self.w.restart_milter()
        self.check(status == 0 and len(self.listing()) == 1,
                   "(g) restart (SIGTERM, exit 0) with the default retention (30d): the "
                   "message is kept", f"exit {status}, {len(self.listing())} entries")
        time.sleep(2)
        status = self.w.restart_milter(extra_args=["-o", "quarantine.retention=1s"])
        deadline = time.monotonic() + 15
        while self.listing() and time.monotonic() < deadline:
            time.sleep(0.5)
        left = self.listing()
        self.check(status == 0 and not left,
                   "(g) restart with -o quarantine.retention=1s (message 2 s old): purged at "
                   "start-up", f"exit {status}, left {left}")
        # And the daemon still holds what it must after all that.
        self.send([("after-retention", phishing("g2"), PHISHER, ["after@rcpt.test"])])
        got = self.listing(state="held")
        self.check(len(got) == 1 and got[0]["rcpts"] == ["after@rcpt.test"]
                   and not self.copies("after@rcpt.test"),
                   "(g) after the restarts the daemon still quarantines (new message held)",
                   f"{got}")

    def files_usable(self):
        """sendguardctl ran as root: every database file must still be the daemon's to write."""
        nobody = pwd.getpwnam("nobody")
        problems = []
        qdir = os.path.dirname(self.db)
        for name in sorted(os.listdir(qdir)):
            st = os.stat(os.path.join(qdir, name))
            owner_ok = st.st_uid == nobody.pw_uid and st.st_mode & stat.S_IWUSR
            group_ok = st.st_gid == nobody.pw_gid and st.st_mode & stat.S_IWGRP
            if not (owner_ok or group_ok):
                problems.append(f"{name}: uid {st.st_uid} gid {st.st_gid} mode "
                                f"{stat.S_IMODE(st.st_mode):o}")
        self.check(not problems, f"every file in {os.path.basename(qdir)}/ is writable by "
                   f"nobody ({', '.join(sorted(os.listdir(qdir)))})", "; ".join(problems))
        result = self.db_query("PRAGMA integrity_check")
        self.check(result == [("ok",)], "database passes PRAGMA integrity_check", f"{result}")

    def run(self):
        """Every group in order; returns the number of failures."""
        groups = [("setup", self.setup_checks), ("(a)/(b)", self.first_batch),
                  ("(c)/(d)", self.release_smtp), ("(e)", self.tokens),
                  ("(f)", self.release_to), ("(h)", self.stats),
                  ("exit codes", self.exit_codes), ("(g) delete/purge", self.delete_purge),
                  ("(g) retention", self.retention), ("files", self.files_usable)]
        for name, fn in groups:
            if name == "(c)/(d)" and not hasattr(self, "phish_id"):
                self.fail("(c)/(d): not run: (b) found no quarantined message to release")
                continue
            self.group(name, fn)
        return self.failures


def main():
    """Parse options, check prerequisites, run the checks in a fresh World, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sendguard", default=default_binary("SENDGUARD", "sendguard"))
    parser.add_argument("--sendguardctl",
                        default=default_binary("SENDGUARDCTL", "sendguardctl"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--verbose", action="store_true",
                        help="print every sendguardctl command and its output")
    args = parser.parse_args()
    teardown_on_signals()             # a signal from ctest or a user still tears down

    problems = check_prerequisites()
    for binary in (args.sendguard, args.sendguardctl):
        if not os.access(binary, os.X_OK):
            problems.append(f"binary not found: {binary}")
    if not shutil.which("setpriv"):
        problems.append("command not found: setpriv")
    if problems:
        for p in problems:
            print(f"FAIL prerequisite: {p}")
        return 1

    def factory(workdir, keys):
        sendmail, _ = release_wrappers(workdir, os.path.join(workdir, "release-copies"),
                                       os.path.join(workdir, "postfix", "etc"), SMTP_PORT)
        # The configured release_via is Postfix's sendmail(1) (through the wrapper); most
        # releases override it with -o (by SMTP), which tests the dotted override as well.
        extra = f'quarantine {{\n    release_via = "sendmail:{sendmail}"\n}}\n'
        return sendguard_milter(args.sendguard, workdir, keys, extra_config=extra,
                                ctl_binary=args.sendguardctl)

    print(f"# sendguard {args.sendguard}, sendguardctl {args.sendguardctl}")

    def checks(world):
        return QuarantineTest(world, args.verbose).run() + stopped_cleanly(world)

    return run_world(lambda: World(KEY_SPECS, factory, domains=DOMAINS, keep=args.keep), checks)


if __name__ == "__main__":
    sys.exit(main())
