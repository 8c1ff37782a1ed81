"""One end-to-end test world: namespace, DNS, smtp-sink, the milter under test, Postfix.

    with World(KEY_SPECS, milter_factory) as w:
        w.send([...]); w.sendmail(...); w.wait_delivered()
        for msg in w.captured(): ...

Setup happens in dependency order; teardown runs in reverse and always runs (an exception,
a failed test, SIGTERM turned into SystemExit by the test script).  Each process is stopped
by its own PID; the namespace is deleted last, after checking nothing is left inside it.
"""

import os
import pwd
import shutil
import sys
import tempfile

from . import netns as netns_mod
from .dkimkeys import generate_keys
from .dnsserver import Unbound
from .milters import Milter
from .postfix import Postfix, SmtpSink
from .proc import HarnessError, become_subreaper, reap_orphans, run, tail_file
from .agent import run_agent
from .verify import verify_all

PYTHON = "/usr/bin/python3"
INTERNAL_ADDR = "127.0.0.1"
EXTERNAL_ADDR = "192.0.2.10"         # on lo inside the namespace; not in internal_hosts
SMTP_PORT = 2525
SINK_PORT = 2526
READY_NAME = "ready.sendguard.test"

REQUIRED_COMMANDS = ["ip", "unbound", "unbound-checkconf", "smtp-sink", "postfix", "postqueue",
                     "/usr/sbin/sendmail", "/usr/lib/postfix/sbin/master", "openssl", "perl",
                     PYTHON]


def check_prerequisites():
    """Everything the harness needs that is missing, as a list of sentences (empty when fine)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces, Postfix, smtp-sink -u)")
    for cmd in REQUIRED_COMMANDS:
        if not shutil.which(cmd):
            problems.append(f"command not found: {cmd}")
    if problems:
        return problems
    checks = [
        ([PYTHON, "-c", "import dkim, nacl, dns.resolver"],
         "/usr/bin/python3 lacks dkim (python3-dkim), nacl or dns (python3-dnspython)"),
        (["perl", "-MMail::DKIM::Verifier", "-MJSON::PP", "-e", "1"],
         "perl lacks Mail::DKIM (libmail-dkim-perl) or JSON::PP"),
        (["ip", "netns", "list"], "ip netns does not work here"),
    ]
    for argv, message in checks:
        if run(argv, check=False, timeout=30).returncode != 0:
            problems.append(message)
    return problems


class World:
    """The running test environment; use as a context manager."""

    def __init__(self, key_specs, milter_factory, domains=(), txt=None, keep=False,
                 out=sys.stdout, postfix_settings=None, pickup_wakeup=60):
        """key_specs: (domain, selector, "rsa"|"ed25519") triples.
        milter_factory(workdir, keys) -> Milter.
        domains: names that get an MX and A record (so they exist in DNS).
        txt: more TXT records to publish, {name: value} (SPF policies, DMARC records).
        keep: leave the temp dir behind (processes and namespace are removed regardless).
        postfix_settings, pickup_wakeup: see postfix.Postfix (e.g. fast retries)."""
        self.key_specs = list(key_specs)
        self.milter_factory = milter_factory
        self.domains = list(domains)
        self.txt = dict(txt or {})
        self.postfix_settings = dict(postfix_settings or {})
        self.pickup_wakeup = pickup_wakeup
        self.keep = keep or os.environ.get("SG_E2E_KEEP") == "1"
        self.out = out
        self.workdir = None
        self.netns = None
        self.keys = []
        self.dns = None
        self.sink = None
        self.milter: Milter = None
        self.postfix = None
        self.milter_exit = None
        self._teardown = []          # (description, function), run in reverse
        self.teardown_errors = []

    # -- setup ---------------------------------------------------------------------------

    def __enter__(self):
        become_subreaper()
        self.workdir = tempfile.mkdtemp(prefix="sg-e2e-")
        os.chmod(self.workdir, 0o755)        # Postfix's and nobody's processes traverse it
        try:
            self._setup()
        except BaseException:
            self.close(failed=True)
            raise
        return self

    def _setup(self):
        """Bring everything up in dependency order, registering each teardown step."""
        self.netns = netns_mod.NetNs(workdir=self.workdir).create()
        for name in self.netns.stale_removed:
            self._say(f"# removed namespace {name} left behind by a killed earlier run")
        self._teardown.append(("delete network namespace", self._delete_netns))
        self.netns.add_address(f"{EXTERNAL_ADDR}/32")

        self.keys = generate_keys(os.path.join(self.workdir, "keys"), self.key_specs)

        self.dns = Unbound(self.netns, self.workdir)
        self.dns.add_txt(READY_NAME, "ready")        # answered even when nothing else is
        for k in self.keys:
            self.dns.add_txt(k.dns_name, k.txt_value)
        for name, value in self.txt.items():
            self.dns.add_txt(name, value)
        for d in self.domains:
            self.dns.add_record(d, "MX", f"10 mx.{d}.")
            self.dns.add_record(f"mx.{d}", "A", "192.0.2.25")
        self.dns.start()
        self._teardown.append(("stop unbound", self.dns.stop))

        self.sink = SmtpSink(self.netns, self.workdir, SINK_PORT).start()
        self._teardown.append(("stop smtp-sink", self.sink.stop))

        # The milter looks up DNS too: make sure unbound serves every record before it starts.
        self.wait_ready(txt=dict(self.dns.txt), ports=[("127.0.0.1", SINK_PORT)])

        self.milter = self.milter_factory(self.workdir, self.keys)
        self._teardown.append(("stop milter", self.stop_milter))
        self.milter.start(self.netns)

        self.postfix = Postfix(self.netns, self.workdir, self.milter.postfix_address,
                               SMTP_PORT, SINK_PORT, settings=self.postfix_settings,
                               pickup_wakeup=self.pickup_wakeup)
        self._teardown.append(("stop Postfix", self.postfix.stop))
        self.postfix.start()
        self.wait_ready(ports=[("127.0.0.1", SMTP_PORT)])

    def wait_ready(self, txt=None, ports=(), timeout=15):
        """Wait (inside the namespace) for TCP ports to accept and TXT records to be served."""
        answer = run_agent(self.netns, "wait-ready",
                           {"timeout": timeout, "txt": txt or {}, "ports": list(ports)},
                           timeout=timeout + 30)
        if not answer["ok"]:
            raise HarnessError(f"environment not ready after {timeout} s: {answer['error']}\n"
                               + self.diagnostics())

    # -- actions ---------------------------------------------------------------------------

    def send(self, jobs, timeout=300):
        """Send messages by SMTP from inside the namespace; return {id: result dict}.

        Each job: id, path, mail_from, rcpts, and optionally source (client address) and raw.
        """
        for job in jobs:
            job.setdefault("host", "127.0.0.1")
            job.setdefault("port", SMTP_PORT)
            job.setdefault("source", INTERNAL_ADDR)
        answer = run_agent(self.netns, "send", {"jobs": jobs}, timeout=timeout)
        return {r["id"]: r for r in answer["results"]}

    def send_retry(self, jobs, threads=4, timeout=240, retry_delay=1.0):
        """Send like send(), from several threads at once, each job retried on a 4xx reply or
        a failed connection until timeout seconds have passed (see inns.py send-retry);
        return {id: result dict with ok, attempts, temp (the temporary failures), error}.

        Blocks; run it in a thread to do something else (crash the milter) meanwhile."""
        for job in jobs:
            job.setdefault("host", "127.0.0.1")
            job.setdefault("port", SMTP_PORT)
            job.setdefault("source", INTERNAL_ADDR)
        answer = run_agent(self.netns, "send-retry",
                           {"jobs": jobs, "threads": threads, "timeout": timeout,
                            "retry_delay": retry_delay},
                           timeout=timeout + 180)
        return {r["id"]: r for r in answer["results"]}

    def sendmail(self, path, sender, rcpts):
        """Submit through Postfix's sendmail(1); returns the CompletedProcess."""
        return self.postfix.sendmail(path, sender, rcpts)

    def wait_delivered(self, timeout=90, allow_deferred=False):
        """Wait until Postfix's queue is empty (everything handed to smtp-sink).

        allow_deferred: deferred mail is waited for, not a failure (see Postfix.wait_drained)."""
        self.postfix.wait_drained(timeout, allow_deferred=allow_deferred)

    def captured(self):
        """Every message smtp-sink received so far."""
        return self.sink.captured()

    def write_wire_file(self, name, data):
        """Store a message (CRLF) under workdir/wire/ for the verifiers; return its path."""
        d = os.path.join(self.workdir, "wire")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def verify(self, paths):
        """Verify files with dkimpy and Mail::DKIM: path -> {verifier: [SignatureResult]}."""
        return verify_all(self.netns, paths)

    def stop_milter(self):
        """Stop the milter (once) and remember its exit status."""
        if self.milter and self.milter.process and self.milter_exit is None:
            self.milter_exit = self.milter.stop()
        return self.milter_exit

    def kill_milter(self):
        """Crash the milter: SIGKILL to its PID, no clean-up.  Returns its exit status (-9).
        Until restart_milter, Postfix finds no milter (milter_default_action applies)."""
        if not (self.milter and self.milter.process) or self.milter_exit is not None:
            raise HarnessError("kill_milter: the milter is not running")
        self.milter_exit = self.milter.kill()
        return self.milter_exit

    def restart_milter(self, extra_args=(), kill=False):
        """Stop the milter (SIGTERM, or SIGKILL with kill) unless it is already stopped, and
        start it again: same command and configuration, plus extra_args for this run.
        Returns the exit status of the run that ended."""
        status = self.kill_milter() if kill and self.milter_exit is None else self.stop_milter()
        self.milter_exit = None
        self.milter.start(self.netns, extra_args=extra_args)
        return status

    def sendguardctl(self, args, timeout=60, user=None, input=None):
        """Run the milter's control command (sendguardctl -c CONFIG ARGS...) inside the
        namespace, as root or (with user) as that user through setpriv; returns the
        CompletedProcess (bytes stdout and stderr) whatever the exit status."""
        if not (self.milter and self.milter.ctl_argv):
            raise HarnessError(f"milter {self.milter.name if self.milter else None} has no "
                               "control command")
        ctl = self.milter.ctl_argv[0]
        if not (os.path.isfile(ctl) and os.access(ctl, os.X_OK)):
            raise HarnessError(f"sendguardctl not found or not executable: {ctl}")
        argv = self.milter.ctl_argv + list(args)
        if user:
            pw = pwd.getpwnam(user)
            argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
                    "--"] + argv
        return self.netns.run(argv, check=False, timeout=timeout, input=input)

    def diagnostics(self, lines=25):
        """The ends of every log, for a failure report."""
        if not self.workdir:
            return ""
        parts = []
        for name in ("postfix.log", "postfix-master.out", "unbound.log", "smtp-sink.log",
                     "sendguard.log", "opendkim.log"):
            text = tail_file(os.path.join(self.workdir, name), lines)
            if text:
                parts.append(f"--- {name} (last {lines} lines) ---\n{text}")
        return "\n".join(parts)

    # -- teardown --------------------------------------------------------------------------

    def _delete_netns(self):
        """Delete the namespace; complain if anything was still running in it.

        This is the last teardown step: every process we started directly has been stopped,
        so what is left among our children are Postfix's daemons, orphaned when master
        exited and adopted by us (subreaper).  They exit on their own; wait and reap them.
        """
        stragglers = reap_orphans(timeout=10)
        leftovers = self.netns.delete()
        if stragglers:
            raise HarnessError(f"child processes did not exit after teardown: {stragglers}")
        if leftovers:
            raise HarnessError(f"processes still in the namespace were killed: {leftovers}")

    def _say(self, text):
        """Print to self.out; never let a closed stdout (a pipe to `head`) stop the teardown."""
        try:
            print(text, file=self.out, flush=True)
        except (OSError, ValueError):
            pass

    def close(self, failed=False):
        """Tear everything down in reverse order; every step runs even if one fails."""
        errors = []
        if failed and self.workdir:
            self._say(self.diagnostics())
        while self._teardown:
            what, fn = self._teardown.pop()
            try:
                fn()
            except Exception as e:          # keep tearing down
                errors.append(f"{what}: {e}")
        if self.workdir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir:
            self._say(f"kept {self.workdir}")
        for e in errors:
            self._say(f"teardown problem: {e}")
        self.teardown_errors = errors
        return errors

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False
