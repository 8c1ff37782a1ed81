"""What the quarantine tests share: messages the shipped rules accept or quarantine,
sendguardctl with JSON output, and read-only looks at the quarantine database.

The messages are made here (not kept in t/data) because their Date must be now: the
date_off rule scores a Date far from the actual time.  With etc/rules.conf, invoice()
scores about -0.5 (accept) and phishing() about 9.5 (quarantine_at is 8).
"""

import email.utils
import json
import os
import sqlite3

from .proc import HarnessError

SENDER = "boekhouding@example.nl"          # the invoices' From and envelope sender
PHISHER = "security@example.nl"            # the phishing messages' From and envelope sender
PHISH_SUBJECT = "Action required: verify your account"
PREVIEW_PHRASE = "unusual sign-in activity"     # split by a quoted-printable soft break


def crlf(text):
    """Text with LF line ends as CRLF bytes (UTF-8)."""
    return text.replace("\n", "\r\n").encode("utf-8")


def invoice(tag, message_id=None):
    """An ordinary invoice from example.nl (8-bit UTF-8 text); tag makes it unique."""
    message_id = message_id or f"<factuur-{tag}@example.nl>"
    return crlf(f"""\
From: Boekhouding Voorbeeld <{SENDER}>
To: Inkoop <inkoop@klant.test>
Subject: Factuur 2026-0318 voor uw bestelling
Date: {email.utils.formatdate()}
Message-ID: {message_id}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Geachte heer, mevrouw,

Hierbij ontvangt u factuur 2026-0318 voor de geleverde materialen ({tag}).
Het bedrag van € 1.234,56 graag binnen 30 dagen overmaken naar
NL91 ABNA 0417 1643 00 onder vermelding van het factuurnummer.

Met vriendelijke groet,
Boekhouding Voorbeeld B.V.
Voorbeeldstraat 1 | 1234 AB Utrecht | KvK 12345678 | BTW-nummer NL812345678B01
""")


def phishing(tag, message_id=None):
    """Credential phishing from example.nl: a link to a bare IP, 'verify your account',
    urgency, HTML only (quoted-printable); tag makes it unique."""
    message_id = message_id or f"<verify-{tag}@example.nl>"
    return crlf(f"""\
From: Mail Security Team <{PHISHER}>
To: Finance <finance@klant.test>
Subject: {PHISH_SUBJECT}
Date: {email.utils.formatdate()}
Message-ID: {message_id}
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><body style=3D"font-family:Arial">
<h2>Your account will be suspended</h2>
<p>Dear user,</p>
<p>We detected unusual sign-in activ=
ity on your mailbox. To keep using your account you must verify your accoun=
t within 24 hours.
If you do not, your account will be suspended and all messages deleted.</p>
<p><a href=3D"http://198.51.100.23/owa/secure/login.php?u=3Dfinance">Verify=
 your account</a></p>
<p>Thank you,<br>The Mail Security Team</p>
<p>Reference {tag}</p>
</body></html>
""")


def ctl_json(world, args, timeout=60):
    """world.sendguardctl(args) whose output is JSON: the parsed value.  HarnessError
    unless it exits 0 with valid JSON."""
    r = world.sendguardctl(list(args), timeout=timeout)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise HarnessError(f"sendguardctl {' '.join(args)}: exit {r.returncode}: "
                           + (r.stderr.decode(errors="replace") + out).strip())
    try:
        return json.loads(out)
    except ValueError as e:
        raise HarnessError(f"sendguardctl {' '.join(args)}: not JSON ({e}): {out[:300]!r}")


def database_path(milter):
    """The quarantine database of a sendguard Milter with the default database option."""
    return os.path.join(milter.state_dir, "quarantine", "sendguard.db")


def db_query(path, sql):
    """Rows of a read-only query.  Run it while sendguard has the database open: then the
    -wal and -shm files exist and opening it (as root) creates no file the daemon's user
    could not write."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class DatabaseLock:
    """Hold an exclusive lock on the database (another writer at work), as a context manager."""

    def __init__(self, path):
        self.path = path
        self.con = None

    def __enter__(self):
        self.con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        self.con.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc):
        try:
            self.con.execute("ROLLBACK")
        finally:
            self.con.close()
        return False
