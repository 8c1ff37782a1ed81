#!/usr/bin/python3
"""End to end under faults: is every message delivered or quarantined, exactly once, when
sendguard crashes and its database is locked while mail flows?

A real Postfix in a network namespace (see sgtest) takes about 300 messages from example.nl,
each with its own Message-ID and its own envelope recipient, about one in five phishing that
the shipped rules quarantine: most by SMTP from a few client threads that, like a real client,
try again after a 4xx reply or a dropped connection; the rest through sendmail(1), which
Postfix's pickup retries by itself (the file stays in the maildrop queue while the milter
tempfails).  Meanwhile sendguard is killed with SIGKILL (by its PID) and restarted with the
same configuration and database, twice, and once another process holds the database locked
longer than sendguard waits.  Then, with no other mail about, one more phishing message is
sent while the database is locked: sendguard cannot store it and must answer 451; sent
again after the lock, it is quarantined.

Afterwards, with Postfix's queue empty: every invoice must have arrived at smtp-sink once,
DKIM-signed (dkimpy), and not be in the quarantine; every phishing message must be in the
quarantine once (matched by recipient) and not have arrived; nothing missing, nothing twice.
The database must pass PRAGMA integrity_check.  Prints the counts and one line per check;
exits 1 on any failure.  Needs /usr/bin/python3 and root; a missing tool is a failure.
"""

import argparse
import os
import re
import sys
import threading
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True          # no __pycache__ in the source tree

from sgtest.cli import (Checks, default_binary, run_world, stopped_cleanly,  # noqa: E402
                        teardown_on_signals)
from sgtest import World, check_prerequisites          # noqa: E402
from sgtest.mailmsg import field_value, split_message                # noqa: E402
from sgtest.milters import sendguard_milter                          # noqa: E402
from sgtest.quarantine import (PHISHER, SENDER, DatabaseLock, ctl_json,  # noqa: E402
                               database_path, db_query, invoice, phishing)

KEY_SPECS = [("example.nl", "rsa2026", "rsa")]
DOMAINS = ["example.nl"]
# Postfix retries quickly: pickup rescans the maildrop every 2 s; deferred mail (there
# should be none: a milter tempfail keeps mail out of the queue) is retried within seconds.
POSTFIX_SETTINGS = {"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                    "maximal_backoff_time": "2s"}
PICKUP_WAKEUP = 2
SMTP_THREADS = 4
SEND_TIMEOUT = 180          # the clients give up on a message after this long
DOWN_TIME = 1.5             # seconds sendguard stays dead after each SIGKILL
LOCK_TIME = 8.0             # seconds the database stays locked (sendguard waits 5)


@dataclass
class Msg:
    """One message of the run."""

    n: int
    kind: str           # "invoice" (must be delivered) or "phishing" (must be quarantined)
    transport: str      # "smtp" or "sendmail"
    path: str = ""

    @property
    def rcpt(self):
        """Its own envelope recipient: how it is found in smtp-sink and the quarantine."""
        return f"m{self.n:03d}@rcpt.test"

    @property
    def message_id(self):
        """Its own Message-ID."""
        return f"<fault-{self.n:03d}@example.nl>"

    @property
    def sender(self):
        """The envelope sender (the From address)."""
        return PHISHER if self.kind == "phishing" else SENDER


def make_messages(workdir, count, sendmail_every):
    """count messages: every 5th phishing, every sendmail_every-th by sendmail(1) (with 4,
    one in four of the phishing messages too)."""
    d = os.path.join(workdir, "messages")
    os.makedirs(d, exist_ok=True)
    msgs = []
    for n in range(count):
        m = Msg(n, "phishing" if n % 5 == 2 else "invoice",
                "sendmail" if n % sendmail_every == sendmail_every - 1 else "smtp")
        m.path = os.path.join(d, f"m{n:03d}.eml")
        build = phishing if m.kind == "phishing" else invoice
        with open(m.path, "wb") as f:
            f.write(build(f"fault-{n:03d}", message_id=m.message_id))
        msgs.append(m)
    return msgs


class FaultRun(Checks):
    """Send everything while injecting the faults; then account for every message."""

    def __init__(self, world, count, sendmail_every):
        self.w = world
        self.msgs = make_messages(world.workdir, count + 1, sendmail_every)
        self.locked = self.msgs[-1]         # sent during the database lock (see lock_one())
        self.locked.kind, self.locked.transport = "phishing", "locked"
        with open(self.locked.path, "wb") as f:
            f.write(phishing(f"fault-{self.locked.n:03d}", message_id=self.locked.message_id))
        Checks.__init__(self)
        self.smtp_results = {}
        self.sendmail_errors = []
        self.thread_errors = []

    def decisions(self):
        """How many verdicts sendguard has logged so far, over all its runs."""
        try:
            with open(self.w.milter.log_path, errors="replace") as f:
                return len(re.findall(r" action=\w+", f.read()))
        except OSError:
            return 0

    # -- sending --

    def send_smtp(self):
        """Thread: the SMTP messages from SMTP_THREADS clients that retry."""
        jobs = [{"id": m.rcpt, "path": m.path, "mail_from": m.sender, "rcpts": [m.rcpt]}
                for m in self.msgs if m.transport == "smtp"]
        try:
            self.smtp_results = self.w.send_retry(jobs, threads=SMTP_THREADS,
                                                  timeout=SEND_TIMEOUT, retry_delay=0.5)
        except Exception as e:              # reported by the main thread
            self.thread_errors.append(f"SMTP clients: {type(e).__name__}: {e}")

    def send_sendmail(self, stop):
        """Thread: the sendmail(1) messages, spread over the time the SMTP clients send."""
        for m in (m for m in self.msgs if m.transport == "sendmail"):
            if stop.is_set():
                self.sendmail_errors.append(f"{m.rcpt}: not submitted (run stopped)")
                continue
            try:
                r = self.w.sendmail(m.path, m.sender, [m.rcpt])
                if r.returncode != 0:
                    self.sendmail_errors.append(f"{m.rcpt}: sendmail exit {r.returncode}")
            except Exception as e:
                self.sendmail_errors.append(f"{m.rcpt}: {type(e).__name__}: {e}")
            time.sleep(0.1)

    def wait_progress(self, fraction, sender, timeout=120):
        """Wait until sendguard has decided on fraction of all messages (or sending ended)."""
        want = int(len(self.msgs) * fraction)
        deadline = time.monotonic() + timeout
        while self.decisions() < want and sender.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.decisions()

    def crash(self, sender, fraction):
        """SIGKILL sendguard once it decided on fraction of the mail; restart it later."""
        seen = self.wait_progress(fraction, sender)
        busy = sender.is_alive()
        status = self.w.kill_milter()
        time.sleep(DOWN_TIME)
        self.w.restart_milter()
        self.check(busy and status == -9, f"fault while mail flows: SIGKILL at "
                   f"{seen}/{len(self.msgs)} verdicts (exit {status}), restarted {DOWN_TIME} s "
                   "later", "the SMTP clients had already finished (fault came too late)"
                   if not busy else f"exit status {status}")

    def lock(self, sender, fraction):
        """Hold the database locked for LOCK_TIME s once fraction of the mail is decided."""
        seen = self.wait_progress(fraction, sender)
        busy = sender.is_alive()
        with DatabaseLock(database_path(self.w.milter)):
            time.sleep(LOCK_TIME)
        self.check(busy, f"fault while mail flows: database locked {LOCK_TIME:g} s at "
                   f"{seen}/{len(self.msgs)} verdicts",
                   "the SMTP clients had already finished (fault came too late)")

    def lock_one(self):
        """With no other mail about, lock the database and send one phishing message
        (self.locked): sendguard cannot store it and must answer 451 (not accept it, not
        discard it unstored).  Then send it again, as its client would: quarantined."""
        m = self.locked
        job = {"id": m.rcpt, "path": m.path, "mail_from": m.sender, "rcpts": [m.rcpt]}
        answer = {}

        def send_once():
            try:
                answer.update(self.w.send([dict(job)], timeout=120))
            except Exception as e:
                answer[m.rcpt] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        started = time.monotonic()
        with DatabaseLock(database_path(self.w.milter)):
            t = threading.Thread(target=send_once)
            t.start()
            t.join(LOCK_TIME)
        t.join(150)
        took = time.monotonic() - started
        result = answer.get(m.rcpt, {"ok": False, "error": "no answer"})
        self.check(not result["ok"] and result["error"].startswith("end of data: 451 "),
                   f"phishing sent while the database is locked ({LOCK_TIME:g} s, no other "
                   f"mail): 451 at end of data after {took:.1f} s",
                   f"{'accepted' if result['ok'] else result['error']} after {took:.1f} s")
        result = self.w.send([job])[job["id"]]
        self.check(result["ok"], "the same message sent again after the lock: accepted",
                   result.get("error", ""))

    def send_with_faults(self):
        """Send everything; crash, lock, crash while it flows; wait until Postfix is done."""
        stop = threading.Event()
        smtp = threading.Thread(target=self.send_smtp, name="smtp")
        sendmail = threading.Thread(target=self.send_sendmail, args=(stop,), name="sendmail")
        started = time.monotonic()
        smtp.start()
        sendmail.start()
        try:
            self.crash(smtp, 0.20)
            self.lock(smtp, 0.45)
            self.crash(smtp, 0.70)
        except BaseException:
            stop.set()                      # no more sendmail submissions
            raise
        finally:
            # Whatever happened, the threads end (their own timeouts bound them).
            if self.w.milter_exit is not None:
                self.w.restart_milter()
            smtp.join(SEND_TIMEOUT + 240)
            sendmail.join(SEND_TIMEOUT)
        sent_in = time.monotonic() - started
        # Mail submitted by sendmail(1) may still wait in the maildrop for pickup's next
        # scan; anything deferred is retried now rather than at the next queue run.
        self.w.postfix.flush()
        self.w.wait_delivered(timeout=150, allow_deferred=True)
        drained_in = time.monotonic() - started
        self.lock_one()
        self.w.wait_delivered(timeout=30)
        return sent_in, drained_in

    # -- accounting --

    def run(self):
        """Send with faults, then account for every message; returns the failures."""
        sent_in, drained_in = self.send_with_faults()
        for e in self.thread_errors:
            self.fail(e)

        smtp = [m for m in self.msgs if m.transport == "smtp"]
        by_sendmail = [m for m in self.msgs if m.transport == "sendmail"]
        not_sent = {k: r["error"] for k, r in self.smtp_results.items() if not r["ok"]}
        retried = [r for r in self.smtp_results.values() if r.get("temp")]
        temp_replies = [t for r in self.smtp_results.values() for t in r.get("temp", [])]
        kinds = {}
        for t in temp_replies:          # "STEP: 451 4.7.1 text" or "SomeError: text"
            kinds[t[:72]] = kinds.get(t[:72], 0) + 1
        self.check(len(self.smtp_results) == len(smtp) and not not_sent,
                   f"every SMTP message accepted in the end ({len(smtp)} messages, "
                   f"{len(retried)} needed retries)",
                   f"{len(not_sent)} not accepted: {dict(list(not_sent.items())[:5])}")
        self.check(not self.sendmail_errors,
                   f"every sendmail(1) submission accepted "
                   f"({len(by_sendmail)} messages)",
                   "; ".join(self.sendmail_errors[:5]))
        pickup_retries = len(re.findall(r"postfix/cleanup\[\d+\]: \w+: milter-reject: .*"
                                        r"from=<[^>]*>$", self.w.postfix.log(), re.M))

        delivered = {}
        for c in self.w.captured():
            for addr in c.rcpt_addresses:
                delivered.setdefault(addr, []).append(c)
        entries = ctl_json(self.w, ["quarantine", "list", "--json", "--state", "all",
                                    "--limit", "100000"])
        quarantined = {}
        for e in entries:
            for addr in e.get("rcpts", []):
                quarantined.setdefault(addr, []).append(e)

        missing, twice, wrong, bad_id, unsigned = [], [], [], [], []
        to_verify = []
        for m in self.msgs:
            d, q = delivered.get(m.rcpt, []), quarantined.get(m.rcpt, [])
            if not d and not q:
                missing.append(m.rcpt)
            elif len(d) + len(q) > 1:
                twice.append(f"{m.rcpt} ({m.transport}): delivered {len(d)}, "
                             f"quarantined {len(q)}")
            elif (m.kind == "phishing") != bool(q):
                wrong.append(f"{m.rcpt} ({m.kind}, {m.transport}) was "
                             + ("quarantined" if q else "delivered"))
            if len(d) == 1:
                fields, _ = split_message(d[0].message)
                ids = [field_value(raw) for n, raw in fields if n == "message-id"]
                if ids != [m.message_id]:
                    bad_id.append(f"{m.rcpt}: Message-ID {ids}")
                if any(n == "dkim-signature" for n, _ in fields):
                    to_verify.append((m, self.w.write_wire_file(f"{m.rcpt}.eml",
                                                                d[0].message)))
                else:
                    unsigned.append(m.rcpt)
            if len(q) == 1 and q[0].get("env_from") != m.sender:
                bad_id.append(f"{m.rcpt}: quarantined with env_from {q[0].get('env_from')!r}")
        stray = (set(delivered) | set(quarantined)) - {m.rcpt for m in self.msgs}

        n_invoice = sum(m.kind == "invoice" for m in self.msgs)
        n_phish = len(self.msgs) - n_invoice
        n_delivered = sum(len(delivered.get(m.rcpt, [])) for m in self.msgs)
        n_quarantined = sum(len(quarantined.get(m.rcpt, [])) for m in self.msgs)
        print(f"# sent {len(self.msgs)} ({len(smtp)} by SMTP clients that retry, "
              f"{len(by_sendmail)} by sendmail, 1 during the lock; {n_invoice} invoices, "
              f"{n_phish} phishing) in {sent_in:.1f} s, queue empty after {drained_in:.1f} s")
        print(f"# delivered {n_delivered}, quarantined {n_quarantined}, SMTP 4xx retried "
              f"{len(temp_replies)} times for {len(retried)} messages, pickup retries "
              f"{pickup_retries}, duplicates {len(twice)}, missing {len(missing)}, wrong "
              f"way {len(wrong)}")
        for key, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"#    {n:4d} x {key}")

        self.check(not missing, "none missing: every message delivered or quarantined",
                   f"{len(missing)}: {missing[:10]}")
        self.check(not twice, "none twice: no message delivered and quarantined, delivered "
                   "twice or quarantined twice", f"{len(twice)}: {twice[:10]}")
        self.check(not wrong, f"each went its way: {n_invoice} invoices delivered, {n_phish} "
                   "phishing quarantined", f"{len(wrong)}: {wrong[:10]}")
        self.check(not stray, "nothing delivered or quarantined for an unknown recipient",
                   f"{sorted(stray)[:10]}")
        self.check(not bad_id, "delivered copies carry their Message-ID, quarantined ones "
                   "their envelope sender", f"{bad_id[:10]}")

        results = self.w.verify([p for _, p in to_verify])
        bad_sig = [f"{m.rcpt}: " + "; ".join(str(r) for r in results[p]["dkimpy"])
                   for m, p in to_verify
                   if not results[p]["dkimpy"] or not all(r.ok for r in results[p]["dkimpy"])]
        self.check(not unsigned and not bad_sig,
                   f"every delivered message DKIM-signed, dkimpy verifies all {len(to_verify)}",
                   f"unsigned: {unsigned[:10]}; failing: {bad_sig[:5]}")

        not_held = [e for e in entries if e.get("state") != "held"]
        self.check(not not_held, "every quarantined message is held",
                   f"{len(not_held)} in another state: {not_held[:3]}")
        result = db_query(database_path(self.w.milter), "PRAGMA integrity_check")
        self.check(result == [("ok",)], "database passes PRAGMA integrity_check", f"{result}")
        # Statistics are written in the background about once a second (they never delay
        # mail): a run ended by SIGKILL loses what it had not written yet, a run that
        # lives on writes everything.  A message quarantined just before a crash, whose
        # DISCARD never reached Postfix, is decided again: counted twice at most as
        # often as logged.  So: every decision of the surviving run, never more than logged.
        time.sleep(3)
        stats = ctl_json(self.w, ["stats", "--json", "--since", "1h"])
        with open(self.w.milter.log_path, errors="replace") as f:
            runs = re.split(r"sendguard \S+ starting:", f.read())
        logged = sum(len(re.findall(r" action=quarantine\b", run)) for run in runs)
        last_run = len(re.findall(r" action=quarantine\b", runs[-1]))
        counted = stats.get("actions", {}).get("quarantine")
        print(f"#    stats: actions {stats.get('actions')}, total {stats.get('total')}; "
              f"action=quarantine logged {logged} times, {last_run} in the run that lives on; "
              f"lost to SIGKILL: {logged - counted if isinstance(counted, int) else '?'}")
        self.check(isinstance(counted, int) and last_run <= counted <= logged,
                   f"stats count {counted} quarantine decisions (at least the {last_run} of the "
                   f"surviving run, at most the {logged} logged)", f"{stats}")
        return self.failures


def main():
    """Parse options, check prerequisites, run in a fresh World, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sendguard", default=default_binary("SENDGUARD", "sendguard"))
    parser.add_argument("--sendguardctl",
                        default=default_binary("SENDGUARDCTL", "sendguardctl"))
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--sendmail-every", type=int, default=4, metavar="N",
                        help="every Nth message goes through sendmail(1) (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    teardown_on_signals()             # a signal from ctest or a user still tears down

    problems = check_prerequisites()
    for binary in (args.sendguard, args.sendguardctl):
        if not os.access(binary, os.X_OK):
            problems.append(f"binary not found: {binary}")
    if problems:
        for p in problems:
            print(f"FAIL prerequisite: {p}")
        return 1

    def factory(workdir, keys):
        return sendguard_milter(args.sendguard, workdir, keys, ctl_binary=args.sendguardctl)

    print(f"# sendguard {args.sendguard}, sendguardctl {args.sendguardctl}")

    def checks(world):
        return FaultRun(world, args.messages, args.sendmail_every).run() + stopped_cleanly(world)

    return run_world(lambda: World(KEY_SPECS, factory, domains=DOMAINS, keep=args.keep,
                                   postfix_settings=POSTFIX_SETTINGS,
                                   pickup_wakeup=PICKUP_WAKEUP), checks)


if __name__ == "__main__":
    sys.exit(main())
