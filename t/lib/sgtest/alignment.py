"""What the SPF/DMARC end-to-end tests (t/e2e/test_alignment.py, test_rewrite.py) share:
an ordinary invoice to send, pyspf as the independent SPF verifier, and the checks class
with the group/log/liveness helpers both use."""

import email.utils
import json
import os
import time

from . import HarnessError
from .cli import Checks
from .world import PYTHON


def invoice(from_field, rcpt, tag, extra=(), from_name="From", fold=False):
    """An ordinary invoice with that From field value to rcpt, CRLF; tag makes it unique;
    extra: more (name, value) header fields, placed after From; from_name: the From
    field's name as spelt; fold: fold the From field before its "<"."""
    domain = email.utils.parseaddr(from_field)[1].rsplit("@", 1)[1]
    more = "".join(f"{name}: {value}\n" for name, value in extra)
    if fold:
        from_field = from_field.replace(" <", "\n <", 1)
    text = f"""\
{from_name}: {from_field}
{more}To: <{rcpt}>
Subject: Factuur {tag}
Date: {email.utils.formatdate()}
Message-ID: <{tag}.{int(time.time())}@{domain}>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Geachte klant,

Hierbij ontvangt u factuur {tag} voor de geleverde bestelling.
Het bedrag graag binnen 30 dagen overmaken onder vermelding van het factuurnummer.

Met vriendelijke groet,
Administratie
"""
    return text.replace("\n", "\r\n").encode("ascii")


def pyspf(netns, queries):
    """SPF results from pyspf run inside the namespace (so on the test's unbound):
    [(ip, sender, helo)] -> [[result, explanation]]."""
    code = ("import json, sys, spf\n"
            "out = [list(spf.check2(i=i, s=s, h=h, timeout=10)) for i, s, h in "
            "json.loads(sys.argv[1])]\n"
            "print(json.dumps(out))\n")
    r = netns.run([PYTHON, "-c", code, json.dumps(queries)], check=False, timeout=60)
    if r.returncode != 0:
        raise HarnessError(f"pyspf failed (exit {r.returncode}): "
                           + r.stderr.decode(errors="replace")[-1000:])
    return json.loads(r.stdout)


class Failed(Exception):
    """A check failed in a way that makes the rest of its group meaningless."""


class AlignmentChecks(Checks):
    """Checks on one World, passes and failures counted, with the helpers both tests use."""

    def __init__(self, world):
        self.w = world
        Checks.__init__(self)
        self.msgdir = os.path.join(world.workdir, "messages")
        os.makedirs(self.msgdir, exist_ok=True)

    def group(self, name, fn):
        """Run one group of checks; an exception fails the group, not the test run."""
        try:
            fn()
        except (Failed, HarnessError, KeyError, TypeError, ValueError, IndexError,
                AttributeError) as e:
            self.check(False, name, str(e) if isinstance(e, Failed)
                       else f"{type(e).__name__}: {e}")

    def copies(self, rcpt):
        """Captured messages addressed (envelope) to rcpt."""
        return [m for m in self.w.captured() if rcpt in m.rcpt_addresses]

    def expect_fields(self, what, fields, want, absent=()):
        """Check that the log line has each field of want with that value, and none of
        the fields named in absent."""
        wrong = {k: fields.get(k) for k, v in want.items() if fields.get(k) != v}
        wrong.update({k: fields[k] for k in absent if k in fields})
        shown = " ".join(f"{k}={v}" for k, v in want.items())
        shown += "".join(f", no {k}= field" for k in absent)
        return self.check(not wrong, f"{what}: logged {shown}",
                          f"got {wrong} in: {fields.get('_line')}")

    def alive(self, what):
        """sendguard's process is still running."""
        p = self.w.milter.process
        return self.check(p is not None and p.alive(), f"{what}: sendguard still running",
                          f"it exited with status {p.popen.returncode if p else None}:\n"
                          + (self.w.milter.log_tail() if p else ""))
