"""A throwaway Postfix inside the test namespace, and the smtp-sink that captures its output.

Postfix gets its own config_directory, queue_directory and data_directory under the run's
temporary directory; master runs in the foreground (`master -c DIR -d`) as our child, every
service has chroot `n` (the queue directory is not a chroot jail), mail_owner is Debian's
`postfix` user.  It listens on 127.0.0.1:SMTP_PORT and relays everything to
[127.0.0.1]:SINK_PORT, where smtp-sink writes each message it receives to a file.

smtp-sink's dump files are not the message as sent: smtp-sink drops every CR, removes the
dot-stuffing, writes its own records first (X-Client-Addr, X-Client-Proto, X-Helo-Args,
X-Mail-Args, one X-Rcpt-Args per recipient, and a three-line `Received: ... (smtp-sink)`
header) and ends with one extra LF (from the final CRLF "." CRLF).  `parse_sink_dump` undoes
that and gives the message back with CRLF line ends, i.e. as it was on the wire.
"""

import glob
import json
import os
import pwd
import re
from dataclasses import dataclass, field

from .proc import HarnessError, Process, run, tail_file, wait_until

MASTER = "/usr/lib/postfix/sbin/master"
HOSTNAME = "mta.sendguard.test"

# What every throwaway Postfix of the tests and benchmarks shares; fields: config_dir,
# queue_dir, data_dir, hostname, log_path, workdir.
MAIN_CF_BASE = """\
compatibility_level = 3.6
config_directory = {config_dir}
queue_directory = {queue_dir}
data_directory = {data_dir}
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtp_helo_name = $myhostname
in_flow_delay = 0
biff = no
maillog_file = {log_path}
maillog_file_prefixes = {workdir}
milter_default_action = tempfail
milter_protocol = 6
"""

MAIN_CF = ("# Throwaway Postfix for sendguard's end-to-end tests (written by t/lib/sgtest/postfix.py).\n"
           + MAIN_CF_BASE + """\
# Postfix relays for both client addresses; whether a client is *internal* is the milter's
# own decision (its internal_hosts lists only 127.0.0.0/8).
mynetworks = 127.0.0.0/8 192.0.2.0/24
relayhost = [127.0.0.1]:{sink_port}
message_size_limit = 52428800
smtpd_milters = {milter}
non_smtpd_milters = {milter}
""")

# chroot column is "n" everywhere: the queue directory is a temp dir, not a prepared jail.
# MASTER_CF_SERVICES is every service but the SMTP listener (t/bench adds its own listeners).
MASTER_CF_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:{smtp_port} inet n - n - - smtpd
""" + MASTER_CF_SERVICES


@dataclass
class CapturedMessage:
    """One message as smtp-sink received it from Postfix."""

    path: str                      # the dump file
    client_addr: str
    mail_from: str                 # MAIL FROM argument, e.g. "<a@example.nl> SIZE=123"
    rcpts: list = field(default_factory=list)   # RCPT TO arguments, e.g. "<b@x> ORCPT=..."
    message: bytes = b""           # the message with CRLF line ends, as on the wire

    @property
    def rcpt_addresses(self):
        """The recipient addresses without <> and parameters."""
        return [re.match(r"<([^>]*)>", r).group(1) for r in self.rcpts]


SINK_RECORDS = ("X-Client-Addr: ", "X-Client-Proto: ", "X-Helo-Args: ", "X-Mail-Args: ",
                "X-Rcpt-Args: ")


def parse_sink_dump(path):
    """Read an smtp-sink dump file; return a CapturedMessage holding the message as sent."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    records = {"X-Rcpt-Args: ": []}
    i = 0
    while i < len(lines) and lines[i].decode("latin-1").startswith(SINK_RECORDS):
        text = lines[i].decode("latin-1")
        key = next(k for k in SINK_RECORDS if text.startswith(k))
        value = text[len(key):]
        if key == "X-Rcpt-Args: ":
            records[key].append(value)
        else:
            records[key] = value
        i += 1
    # smtp-sink's own three-line Received: header ends its records.
    if not (i + 2 < len(lines) and lines[i].startswith(b"Received: from ")
            and b"(smtp-sink)" in lines[i + 1] and lines[i + 2].startswith(b"\t")):
        raise HarnessError(f"{path}: not an smtp-sink dump (no smtp-sink Received header)")
    body = b"\n".join(lines[i + 3:])
    if not body.endswith(b"\n\n") and body != b"\n":
        raise HarnessError(f"{path}: incomplete dump (no end-of-data line)")
    message = body[:-1]
    return CapturedMessage(path=path, client_addr=records.get("X-Client-Addr: ", ""),
                           mail_from=records.get("X-Mail-Args: ", ""),
                           rcpts=records["X-Rcpt-Args: "],
                           message=message.replace(b"\n", b"\r\n"))


class SmtpSink:
    """smtp-sink on 127.0.0.1:port in the namespace, one dump file per message."""

    def __init__(self, netns, workdir, port=2526):
        self.netns = netns
        self.port = port
        self.dump_dir = os.path.join(workdir, "sink")
        self.log_path = os.path.join(workdir, "smtp-sink.log")
        self.process = None

    def start(self):
        """Start smtp-sink (as root with -u nobody, so the dump directory belongs to nobody)."""
        nobody = pwd.getpwnam("nobody")
        os.makedirs(self.dump_dir, mode=0o755, exist_ok=True)
        os.chown(self.dump_dir, nobody.pw_uid, nobody.pw_gid)
        argv = ["smtp-sink", "-u", "nobody", "-h", "sink.sendguard.test",
                "-d", os.path.join(self.dump_dir, "%H%M%S."), f"127.0.0.1:{self.port}", "64"]
        self.process = Process("smtp-sink", self.netns.wrap(argv), self.log_path).start()
        return self

    def captured(self):
        """Every message received so far, parsed."""
        return [parse_sink_dump(p) for p in sorted(glob.glob(os.path.join(self.dump_dir, "*")))
                if os.path.isfile(p)]

    def stop(self):
        """Stop smtp-sink by its PID."""
        if self.process:
            self.process.stop(timeout=10)


class Postfix:
    """A private Postfix instance: configure, start, submit by sendmail, wait for the queue."""

    def __init__(self, netns, workdir, milter_address, smtp_port=2525, sink_port=2526,
                 settings=None, pickup_wakeup=60):
        """settings: more main.cf parameters, {name: value}, written after (and so
        overriding) the defaults, e.g. short retry times for tests that make mail wait.
        pickup_wakeup: seconds between pickup's scans of the maildrop directory (mail that
        sendmail(1) dropped there and that cleanup could not take, e.g. on a milter
        tempfail, waits that long for its next try)."""
        self.netns = netns
        self.workdir = workdir
        self.milter_address = milter_address
        self.smtp_port = smtp_port
        self.sink_port = sink_port
        base = os.path.join(workdir, "postfix")
        self.config_dir = os.path.join(base, "etc")
        self.queue_dir = os.path.join(base, "spool")
        self.data_dir = os.path.join(base, "lib")
        self.log_path = os.path.join(workdir, "postfix.log")
        self.settings = dict(settings or {})
        self.pickup_wakeup = int(pickup_wakeup)
        self.process = None

    def main_cf(self):
        """The text of main.cf (subclasses with other needs override it)."""
        text = MAIN_CF.format(config_dir=self.config_dir, queue_dir=self.queue_dir,
                              data_dir=self.data_dir, hostname=HOSTNAME,
                              sink_port=self.sink_port, log_path=self.log_path,
                              workdir=self.workdir, milter=self.milter_address)
        if self.settings:
            text += "# Settings of this test:\n"
            text += "".join(f"{name} = {value}\n" for name, value in self.settings.items())
        return text

    def master_cf(self):
        """The text of master.cf: one smtpd on 127.0.0.1:smtp_port and the services."""
        text = MASTER_CF.format(smtp_port=self.smtp_port)
        if self.pickup_wakeup != 60:
            text, n = re.subn(r"(?m)^(pickup\s+unix\s+n\s+-\s+n\s+)60(?=\s)",
                              rf"\g<1>{self.pickup_wakeup}", text)
            if n != 1:
                raise HarnessError("master.cf: no pickup line with wakeup 60 to change")
        return text

    def write_config(self):
        """Write main.cf and master.cf and create the directories Postfix expects."""
        for d in (self.config_dir, self.queue_dir, self.data_dir):
            os.makedirs(d, mode=0o755, exist_ok=True)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.data_dir, postfix_user.pw_uid, postfix_user.pw_gid)
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(self.master_cf())
        # `postfix check` creates the queue's subdirectories with the right owners and modes.
        run(["postfix", "-c", self.config_dir, "check"], timeout=60)

    def start(self):
        """Configure and start master in the foreground inside the namespace."""
        self.write_config()
        self.process = Process("postfix master",
                               self.netns.wrap([MASTER, "-c", self.config_dir, "-d"]),
                               os.path.join(self.workdir, "postfix-master.out")).start()
        return self

    def sendmail(self, path, sender, rcpts, timeout=60):
        """Submit a message file through Postfix's sendmail(1) (the non_smtpd_milters path).

        The file goes in unchanged: bare-LF line ends are sendmail's native format.
        """
        with open(path, "rb") as f:
            data = f.read()
        argv = ["/usr/sbin/sendmail", "-C", self.config_dir, "-i", "-f", sender, "--"] + rcpts
        return self.netns.run(argv, input=data, timeout=timeout)

    def flush(self):
        """Ask Postfix to retry deferred mail now (postqueue -f)."""
        run(["postqueue", "-c", self.config_dir, "-f"], timeout=30)

    def queue(self):
        """The queue's contents: a list of postqueue -j records (dicts)."""
        out = run(["postqueue", "-c", self.config_dir, "-j"], timeout=30).stdout
        return [json.loads(line) for line in out.decode().splitlines() if line.strip()]

    def wait_drained(self, timeout=60, confirmations=3, interval=0.2, allow_deferred=False):
        """Wait until the queue is empty.  Mail stuck in deferred/hold fails at once, with reasons
        (with allow_deferred, deferred mail is waited for too: a test that made it wait on
        purpose and gave Postfix short retry times).

        postqueue may miss a message that moves between queue directories while it lists
        them (its manual says so: it reads the directories one after another), so "empty"
        must be seen in several consecutive listings.
        """
        empty_seen = []
        stuck_names = ("hold",) if allow_deferred else ("deferred", "hold")

        def drained():
            entries = self.queue()
            stuck = [e for e in entries if e.get("queue_name") in stuck_names]
            if stuck:
                reasons = "; ".join(
                    f"{e['queue_id']} ({e['queue_name']}): "
                    + ", ".join(r.get("delay_reason", "?") for r in e.get("recipients", []))
                    for e in stuck)
                raise HarnessError(f"mail stuck in Postfix's queue: {reasons}")
            if entries:
                empty_seen.clear()
            else:
                empty_seen.append(True)
            return len(empty_seen) >= confirmations
        try:
            wait_until(drained, timeout, "Postfix's queue to drain", interval=interval)
        except HarnessError as e:
            raise HarnessError(f"{e}; still queued: {self.queue()}") from None

    def log(self):
        """Postfix's whole log (maillog_file) as text."""
        return tail_file(self.log_path, 100000)

    def stop(self):
        """Stop master by its PID (master stops its own children)."""
        if self.process:
            self.process.stop(timeout=20)
