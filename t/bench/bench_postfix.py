#!/usr/bin/python3
"""End-to-end messages/s through a real Postfix, with and without a signing milter.

    bench_postfix.py [--quick] [--messages N] [--rounds R] [--sessions S] [--size BYTES]
                     [--reuse] [--keep]

One run, one throwaway Postfix inside a network namespace made for the run, every
configuration measured in the same run so that the ratios compare like with like:

    smtp-source --> Postfix smtpd (one listener per configuration) --> smtp-sink

    Postfix alone                     no milter
    sendguard rsa-2048, unix socket   unix:/…/sendguard.sock
    sendguard rsa-2048, TCP           inet:127.0.0.1:8891
    sendguard ed25519, unix socket    the same unix instance, From in the Ed25519 domain
    OpenDKIM rsa-2048, unix socket    the same RSA key
    OpenDKIM rsa-2048, TCP            inet:127.0.0.1:8892

Each configuration first gets a small sample (it warms up Postfix and the milter) relayed to
a second smtp-sink that writes every message to a file; the sample must carry exactly the
expected DKIM-Signature (none for Postfix alone).  Then the timed batches, in rounds: each
round gives every configuration one batch (messages/rounds), in a rotating order, so that
noise from the rest of the machine spreads over all configurations instead of landing on
one.  A batch's clock runs from starting smtp-source until Postfix's queue is empty
(postqueue), and the batches go to an smtp-sink that keeps nothing, so writing files is not
part of the figure.  A message that
Postfix refuses (a milter failure is a tempfail: milter_default_action = tempfail) stops
smtp-source with an error, a message left deferred fails the run, sendguard's log must say
"dkim=signed" once per timed message, and Postfix's log must show every message delivered.

A benchmark prints figures and never fails on a timing.  Exit status: 0 the measurement ran,
1 it could not (nothing signed, a tool failed, a timeout, not root, a command not installed:
the test command installs everything, so a missing tool is a failure, not a skip).

Environment (ctest sets it from SG_TEST_ENV): SENDGUARD, the daemon (else SG_BUILD_DIR's or
the source tree's build/milter/sendguard).  Uses t/lib/sgtest (the shared end-to-end harness)
for its process and network-namespace helpers only.
"""

import argparse
import glob
import os
import pwd
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SG_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "lib")))      # t/lib/sgtest

from sgtest.dkimkeys import generate_key                            # noqa: E402
from sgtest.netns import NetNs                                      # noqa: E402
from sgtest.postfix import (MAIN_CF_BASE, MASTER, MASTER_CF_SERVICES,  # noqa: E402
                            Postfix)
from sgtest.proc import (HarnessError, Process, become_subreaper,   # noqa: E402
                         reap_orphans, run, tail_file, wait_until)

HOSTNAME = "bench.sendguard.test"
SINK_PORT = 2526          # timed batches: smtp-sink keeps nothing
SAMPLE_PORT = 2527        # samples: smtp-sink writes one file per message
SAMPLE_DOMAIN = "sample.test"
SG_TCP_PORT = 8891
OD_TCP_PORT = 8892
RSA_DOMAIN, RSA_SELECTOR = "example.nl", "rsa2026"
ED_DOMAIN, ED_SELECTOR = "ed.example.nl", "ed2026"
SAMPLE_SIZE = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")

REQUIRED_COMMANDS = ["ip", "smtp-source", "smtp-sink", "postfix", "postqueue", "postconf",
                     MASTER, "opendkim", "openssl"]

MAIN_CF = ("# Throwaway Postfix for sendguard's end-to-end benchmark (t/bench/bench_postfix.py).\n"
           + MAIN_CF_BASE + """\
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink_port}
transport_maps = inline:{{ {sample_domain}=smtp:[127.0.0.1]:{sample_port} }}
# Each listener in master.cf names its own milter (or none) with -o smtpd_milters=.
smtpd_milters =
non_smtpd_milters =
""")



class BenchError(Exception):
    """The measurement could not run (exit 1)."""


# -- the pieces ------------------------------------------------------------------------------

def tcp_listening(pid, port):
    """True if a process in the namespace of pid has a TCP socket listening on 127.0.0.1:port.

    /proc/PID/net/tcp shows the table of PID's network namespace, so this needs no process
    inside the namespace and makes no connection (a probe connection would reach the milter).
    """
    want = f"0100007F:{port:04X}"
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            next(f)
            return any(line.split()[1] == want and line.split()[3] == "0A" for line in f)
    except OSError:
        return False


def unix_listening(path):
    """True if path is a socket that accepts a connection."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(path)
        return True
    except OSError:
        return False


def cpu_seconds(pid):
    """User + system CPU seconds used so far by process pid (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_kib(pid):
    """VmHWM (peak resident set size) of process pid, in KiB; None if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def owned_dir(path, user, mode=0o755):
    """Make a directory owned by user (its primary group) with mode; return its path."""
    os.makedirs(path, mode=mode, exist_ok=True)
    os.chmod(path, mode)
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


@dataclass
class MilterProc:
    """A milter daemon running in the foreground inside the namespace."""

    name: str
    argv: list
    log_path: str
    postfix_address: str                 # as main.cf names it
    unix_path: str = None                # unix socket, or
    tcp_port: int = None                 # TCP port on 127.0.0.1
    stop_timeout: float = 15.0
    process: Process = None

    def start(self, netns, timeout=20):
        """Start it and wait until its socket listens."""
        self.process = Process(self.name, netns.wrap(self.argv), self.log_path).start()

        def ready():
            self.process.check_alive()
            if self.unix_path:
                return unix_listening(self.unix_path)
            return tcp_listening(self.process.pid, self.tcp_port)
        wait_until(ready, timeout, f"{self.name} to listen on {self.postfix_address}")

    def terminate(self):
        """Send SIGTERM without waiting (OpenDKIM takes ~5 s to exit: stop them in parallel)."""
        if self.process and self.process.alive():
            os.kill(self.process.pid, signal.SIGTERM)

    def stop(self):
        """Wait for the exit (SIGKILL after stop_timeout); return the exit status."""
        return self.process.stop(timeout=self.stop_timeout) if self.process else None


def sendguard_milter(binary, workdir, name, socket_spec, postfix_address, rsa_key, ed_key,
                     unix_path=None, tcp_port=None, scoring=True):
    """sendguard as user nobody with the RSA domain and the Ed25519 domain; with the
    shipped content rules, or (scoring=False) signing only, like OpenDKIM."""
    rules = os.path.join(SOURCE_DIR, "etc", "rules.conf") if scoring else ""
    state = owned_dir(os.path.join(workdir, f"{name}-state"), "nobody", 0o700)
    conf = os.path.join(workdir, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"""\
# sendguard under benchmark (t/bench/bench_postfix.py)
socket = "{socket_spec}"
socket_mode = "0666"
socket_group = ""
user = "nobody"
pid_file = ""
state_directory = "{state}"
spool_directory = "{state}"
key_directory = ""
internal_hosts = {{"127.0.0.0/8"}}
canonicalization = "relaxed/relaxed"
domain "{RSA_DOMAIN}" {{ key "{RSA_SELECTOR}" {{ file = "{rsa_key}" }} }}
domain "{ED_DOMAIN}" {{ key "{ED_SELECTOR}" {{ file = "{ed_key}" }} }}
scoring {{ rules = "{rules}" }}
""")
    check = run([binary, "-n", "-c", conf], check=False, timeout=30)
    if check.returncode != 0:
        raise BenchError(f"sendguard rejects the benchmark configuration {conf}:\n"
                         + check.stderr.decode(errors="replace")
                         + check.stdout.decode(errors="replace"))
    return MilterProc(name, [binary, "-f", "-c", conf], os.path.join(workdir, f"{name}.log"),
                      postfix_address, unix_path=unix_path, tcp_port=tcp_port)


def opendkim_milter(workdir, name, socket_spec, postfix_address, rsa_key, unix_path=None,
                    tcp_port=None):
    """OpenDKIM signing with the same RSA key (one algorithm per instance)."""
    base = os.path.join(workdir, name)
    with open(base + ".keytable", "w") as f:
        f.write(f"{RSA_SELECTOR}.{RSA_DOMAIN} {RSA_DOMAIN}:{RSA_SELECTOR}:{rsa_key}\n")
    with open(base + ".signingtable", "w") as f:
        f.write(f"{RSA_DOMAIN} {RSA_SELECTOR}.{RSA_DOMAIN}\n")
    with open(base + ".internal", "w") as f:
        f.write("127.0.0.0/8\n")
    with open(base + ".conf", "w") as f:
        # RequireSafeKeys no: the key directory is under /tmp, which is world-writable.
        f.write(f"""\
# OpenDKIM as the benchmark's peer (t/bench/bench_postfix.py)
Mode                    s
Socket                  {socket_spec}
UMask                   000
Syslog                  no
KeyTable                file:{base}.keytable
SigningTable            file:{base}.signingtable
InternalHosts           file:{base}.internal
Canonicalization        relaxed/relaxed
SignatureAlgorithm      rsa-sha256
RequireSafeKeys         no
""")
    return MilterProc(name, ["opendkim", "-f", "-x", base + ".conf"], base + ".log",
                      postfix_address, unix_path=unix_path, tcp_port=tcp_port)


class Sink:
    """smtp-sink on 127.0.0.1:port; with dump_dir, one file per message."""

    def __init__(self, netns, workdir, name, port, dump_dir=None):
        self.port = port
        self.dump_dir = dump_dir
        argv = ["smtp-sink", "-u", "nobody", "-h", "sink.sendguard.test"]
        if dump_dir:
            owned_dir(dump_dir, "nobody")
            argv += ["-d", os.path.join(dump_dir, "%H%M%S.")]
        argv += [f"127.0.0.1:{port}", "256"]
        self.process = Process(name, netns.wrap(argv), os.path.join(workdir, f"{name}.log"))

    def start(self):
        """Start it and wait until it listens."""
        self.process.start()

        def ready():
            self.process.check_alive()
            return tcp_listening(self.process.pid, self.port)
        wait_until(ready, 15, f"smtp-sink on port {self.port}")
        return self

    def files(self):
        """The dump files written so far."""
        return set(p for p in glob.glob(os.path.join(self.dump_dir, "*")) if os.path.isfile(p))

    def stop(self):
        """Stop it by its PID."""
        self.process.stop(timeout=10)


class BenchPostfix(Postfix):
    """The harness's throwaway Postfix with one smtpd listener per configuration, each
    with its own milter, and the benchmark's two sinks."""

    def __init__(self, netns, workdir, listeners):
        """listeners: [(port, milter address or "")]."""
        super().__init__(netns, workdir, "", sink_port=SINK_PORT)
        self.listeners = listeners

    def main_cf(self):
        """main.cf with the sample domain routed to the sample sink."""
        return MAIN_CF.format(config_dir=self.config_dir, queue_dir=self.queue_dir,
                              data_dir=self.data_dir, hostname=HOSTNAME, sink_port=SINK_PORT,
                              sample_port=SAMPLE_PORT, sample_domain=SAMPLE_DOMAIN,
                              log_path=self.log_path, workdir=self.workdir)

    def master_cf(self):
        """One smtpd per listener, naming its milter."""
        lines = ["# service type  private unpriv  chroot  wakeup  maxproc command"]
        for port, milter in self.listeners:
            lines.append(f"127.0.0.1:{port} inet n - n - - smtpd -o smtpd_milters={milter}")
        return "\n".join(lines) + "\n" + MASTER_CF_SERVICES

    def start(self):
        """Start master; wait until every listener accepts."""
        super().start()

        def ready():
            self.process.check_alive()
            return all(tcp_listening(self.process.pid, p) for p, _ in self.listeners)
        wait_until(ready, 30, "Postfix's listeners")
        return self

    def wait_drained(self, timeout):
        """Wait until the queue is empty (polled often: it ends a timed batch)."""
        super().wait_drained(timeout, confirmations=3, interval=0.02)


# -- the measurement -------------------------------------------------------------------------

@dataclass
class Config:
    """One measured configuration."""

    label: str
    port: int                    # Postfix listener
    sender: str
    milter: MilterProc = None
    expect: tuple = None         # (a=, d=, s=) of the one signature expected, or None
    seconds: float = 0.0         # over all timed batches
    messages: int = 0            # in all timed batches
    round_rates: list = field(default_factory=list)   # msgs/s of each batch
    milter_cpu: float = None     # seconds over all timed batches
    sample_signed: int = 0
    sample_total: int = 0
    problems: list = field(default_factory=list)


def dump_headers(path):
    """The message header fields of an smtp-sink dump file, unfolded, as (name, value)."""
    with open(path, "rb") as f:
        lines = f.read().decode("latin-1").split("\n")
    # smtp-sink's own records, then its three-line Received header, then the message.
    i = 0
    while i < len(lines) and not lines[i].startswith("Received: from "):
        i += 1
    if i + 2 >= len(lines) or "(smtp-sink)" not in lines[i + 1]:
        raise BenchError(f"{path}: not an smtp-sink dump")
    fields = []
    for line in lines[i + 3:]:
        if line == "":
            break
        if line[0] in " \t" and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append((name.strip(), value.strip()))
    return fields


def signature_tags(value):
    """The tags of a DKIM-Signature value: {"a": ..., "d": ..., "s": ...}."""
    tags = {}
    for part in value.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            tags[k.strip()] = "".join(v.split())
    return tags


def smtp_source(netns, cfg, count, sessions, size, rcpt, reuse, timeout):
    """Run smtp-source against cfg's listener; raise BenchError if it fails."""
    argv = ["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size),
            "-M", "client.sendguard.test", "-f", cfg.sender, "-t", rcpt]
    if reuse:
        argv.append("-d")
    argv.append(f"127.0.0.1:{cfg.port}")
    result = run(netns.wrap(argv), check=False, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"{cfg.label}: smtp-source failed (exit {result.returncode}): "
                         + (result.stderr + result.stdout).decode(errors="replace")[-2000:])


def check_sample(cfg, sample_sink, postfix, netns, size, timeout):
    """Send the sample (also the warm-up) and check every message's DKIM-Signature."""
    before = sample_sink.files()
    smtp_source(netns, cfg, SAMPLE_SIZE, 2, size, f"check@{SAMPLE_DOMAIN}", False, timeout)
    postfix.wait_drained(timeout)
    new = sorted(sample_sink.files() - before)
    cfg.sample_total = len(new)
    if len(new) != SAMPLE_SIZE:
        cfg.problems.append(f"sample: {len(new)} of {SAMPLE_SIZE} messages reached the sink")
    for path in new:
        sigs = [signature_tags(v) for n, v in dump_headers(path) if n.lower() == "dkim-signature"]
        got = [(t.get("a"), t.get("d"), t.get("s")) for t in sigs]
        want = [cfg.expect] if cfg.expect else []
        if got == want:
            cfg.sample_signed += 1 if cfg.expect else 0
        else:
            cfg.problems.append(f"sample {os.path.basename(path)}: signatures {got}, "
                                f"expected {want}")
    if cfg.problems:
        raise BenchError(f"{cfg.label}: " + "; ".join(cfg.problems[:3]))


def count_signed_lines(milter, expect):
    """sendguard's per-message log lines saying it signed with (a=, d=, s=) expect, or, when
    expect is None, that it had no key (the configuration that measures the milter alone).

    Only sendguard logs to its stderr here (OpenDKIM logs to syslog only, which is off).
    """
    if not milter.name.startswith("sendguard"):
        return None
    needle = (f" dkim=signed d={expect[1]} s={expect[2]} " if expect
              else " dkim=unsigned reason=no-key ")
    with open(milter.log_path, errors="replace") as f:
        return sum(1 for line in f if needle in line)


def timed_batch(cfg, postfix, netns, count, args):
    """One measured batch: start of smtp-source until Postfix's queue is empty."""
    pid = cfg.milter.process.pid if cfg.milter else None
    cpu0 = cpu_seconds(pid) if pid else None
    logged0 = count_signed_lines(cfg.milter, cfg.expect) if cfg.milter else None
    t0 = time.monotonic()
    smtp_source(netns, cfg, count, args.sessions, args.size, "rcpt@example.com",
                args.reuse, args.timeout)
    postfix.wait_drained(args.timeout)
    seconds = time.monotonic() - t0
    cfg.seconds += seconds
    cfg.messages += count
    cfg.round_rates.append(count / seconds)
    if pid:
        cfg.milter_cpu = (cfg.milter_cpu or 0.0) + cpu_seconds(pid) - cpu0
    if logged0 is not None:
        logged = count_signed_lines(cfg.milter, cfg.expect) - logged0
        if logged != count:
            raise BenchError(f"{cfg.label}: sendguard logged {logged} messages as expected "
                             f"(signed, or no key) of {count}")


def count_sent(log_path, port):
    """Deliveries logged by Postfix's smtp client to 127.0.0.1:port."""
    needle = f"relay=127.0.0.1[127.0.0.1]:{port},"
    n = 0
    with open(log_path, errors="replace") as f:
        for line in f:
            if needle in line and "status=sent" in line:
                n += 1
    return n


def machine_facts():
    """One line about the machine and the versions measured."""
    pf = run(["postconf", "-d", "-h", "mail_version"], check=False, timeout=30)
    od = run(["opendkim", "-V"], check=False, timeout=30)
    od_version = od.stdout.decode(errors="replace").splitlines()[0:1]
    return (f"{os.cpu_count()} CPUs, Linux {os.uname().release}, "
            f"Postfix {pf.stdout.decode().strip()}, "
            f"{od_version[0].replace('opendkim: ', '') if od_version else 'OpenDKIM ?'}")


def print_report(configs, args, netns_name, rss, facts):
    """The figures: one table, ratios to Postfix alone from this run."""
    base = configs[0]
    base_rate = base.messages / base.seconds
    batch = batch_size(args)
    mode = ("-d: every session carries many messages" if args.reuse
            else "one message per SMTP session")
    print(f"sendguard bench_postfix: {base.messages} messages per configuration "
          f"({args.rounds} rounds of {batch}), {args.size}-byte body each,")
    print(f"{args.sessions} parallel SMTP sessions ({mode}); smtp-source -> Postfix "
          f"(netns {netns_name}, loopback) -> smtp-sink")
    print(f"  smtp-source -s {args.sessions} -m {batch} -l {args.size} "
          f"-M client.sendguard.test -f invoices@DOMAIN -t rcpt@example.com"
          f"{' -d' if args.reuse else ''} 127.0.0.1:PORT")
    print(f"{facts}")
    print("One run; the configurations take turns, one batch each per round, so that the "
          "machine's noise")
    print("spreads over all of them.  Time of a batch = start of smtp-source until Postfix's "
          "queue is empty.")
    print("msgs/s = all messages / all batch time; round min-max shows the noise; milter CPU = "
          "the milter")
    print("process's user+system CPU over its batches / messages.\n")
    print(f"{'configuration':<32} {'msgs/s':>7} {'ratio':>6} {'round min-max':>14} "
          f"{'milter CPU ms/msg':>18} {'sample signed':>14}")
    for c in configs:
        rate = c.messages / c.seconds
        spread = f"{min(c.round_rates):.0f}-{max(c.round_rates):.0f}"
        cpu = f"{1000 * c.milter_cpu / c.messages:.2f}" if c.milter_cpu is not None else "-"
        signed = f"{c.sample_signed}/{c.sample_total}"
        print(f"{c.label:<32} {rate:>7.0f} {rate / base_rate:>6.2f} {spread:>14} "
              f"{cpu:>18} {signed:>14}")
    print("\npeak RSS (VmHWM) after the run:")
    for name, kib in rss:
        print(f"  {name:<32} {kib / 1024:7.1f} MiB" if kib else f"  {name:<32} n/a")


# -- main ------------------------------------------------------------------------------------

def parse_args(argv):
    """Command line."""
    p = argparse.ArgumentParser(description="End-to-end messages/s through Postfix "
                                            "with and without sendguard and OpenDKIM.")
    p.add_argument("--quick", action="store_true",
                   help="500 messages per configuration in 2 rounds instead of 2000 in 4")
    p.add_argument("--messages", type=int, help="messages per configuration (default 2000)")
    p.add_argument("--rounds", type=int,
                   help="rounds; each configuration gets messages/rounds per round (4)")
    p.add_argument("--sessions", type=int, default=10, help="parallel SMTP sessions (10)")
    p.add_argument("--size", type=int, default=5120, help="payload bytes per message (5120)")
    p.add_argument("--reuse", action="store_true",
                   help="several messages per SMTP session (smtp-source -d)")
    p.add_argument("--timeout", type=float, default=240,
                   help="seconds allowed for one batch to be sent and drained (240)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    if args.messages is None:
        args.messages = 500 if args.quick else 2000
    if args.rounds is None:
        args.rounds = 2 if args.quick else 4
    if args.messages < 1 or args.sessions < 1 or args.rounds < 1 or args.size < 0:
        p.error("messages, sessions and rounds must be positive")
    return args


def batch_size(args):
    """Messages per configuration per round."""
    return max(1, -(-args.messages // args.rounds))


def find_sendguard():
    """The daemon under benchmark: $SENDGUARD, else the usual build directory."""
    for path in (os.environ.get("SENDGUARD"),
                 os.path.join(os.environ.get("SG_BUILD_DIR", ""), "milter", "sendguard"),
                 os.path.join(SOURCE_DIR, "build", "milter", "sendguard")):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise BenchError("sendguard binary not found: set SENDGUARD (ctest does) or build it "
                     "in build/")


def missing_prerequisites():
    """What this machine lacks for the benchmark, as sentences."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespace, Postfix, smtp-sink -u)")
    problems += [f"command not found: {c}" for c in REQUIRED_COMMANDS if not shutil.which(c)]
    return problems


def bench(args, workdir, teardown):
    """Set everything up, measure, print; teardown collects the stop steps."""
    binary = find_sendguard()
    netns = NetNs().create()

    def delete_netns():
        # Last step: Postfix's children, orphaned when master exited and adopted by us (we
        # are their subreaper), exit on their own; reap them, then nothing may be left inside.
        stragglers = reap_orphans(timeout=10)
        killed = netns.delete()
        if stragglers or killed:
            raise HarnessError(f"processes left after teardown: {stragglers}; "
                               f"killed inside the namespace: {killed}")
    teardown.append(("delete network namespace", delete_netns))

    keys = owned_dir(os.path.join(workdir, "keys"), "root", 0o700)
    rsa_key = generate_key(keys, RSA_DOMAIN, RSA_SELECTOR, "rsa").path
    ed_key = generate_key(keys, ED_DOMAIN, ED_SELECTOR, "ed25519").path

    sink = Sink(netns, workdir, "smtp-sink", SINK_PORT)
    teardown.append(("stop smtp-sink", sink.stop))
    sink.start()
    sample_sink = Sink(netns, workdir, "smtp-sink-sample", SAMPLE_PORT,
                       os.path.join(workdir, "sample"))
    teardown.append(("stop sample smtp-sink", sample_sink.stop))
    sample_sink.start()

    sg_sock = os.path.join(owned_dir(os.path.join(workdir, "sg-unix"), "nobody"),
                           "sendguard.sock")
    sign_sock = os.path.join(owned_dir(os.path.join(workdir, "sg-sign"), "nobody"),
                             "sendguard.sock")
    od_sock = os.path.join(owned_dir(os.path.join(workdir, "od-unix"), "root"),
                           "opendkim.sock")
    milters = {
        "sg_unix": sendguard_milter(binary, workdir, "sendguard-unix", f"unix:{sg_sock}",
                                    f"unix:{sg_sock}", rsa_key, ed_key, unix_path=sg_sock),
        "sg_tcp": sendguard_milter(binary, workdir, "sendguard-tcp",
                                   f"inet:{SG_TCP_PORT}@127.0.0.1",
                                   f"inet:127.0.0.1:{SG_TCP_PORT}", rsa_key, ed_key,
                                   tcp_port=SG_TCP_PORT),
        "sg_sign": sendguard_milter(binary, workdir, "sendguard-sign-only", f"unix:{sign_sock}",
                                    f"unix:{sign_sock}", rsa_key, ed_key, unix_path=sign_sock,
                                    scoring=False),
        "od_unix": opendkim_milter(workdir, "opendkim-unix", f"local:{od_sock}",
                                   f"unix:{od_sock}", rsa_key, unix_path=od_sock),
        "od_tcp": opendkim_milter(workdir, "opendkim-tcp", f"inet:{OD_TCP_PORT}@127.0.0.1",
                                  f"inet:127.0.0.1:{OD_TCP_PORT}", rsa_key,
                                  tcp_port=OD_TCP_PORT),
    }

    def stop_milters():
        for m in milters.values():
            m.terminate()
        bad = []
        for m in milters.values():
            status = m.stop()
            if status not in (0, None):
                bad.append(f"{m.name} exited with status {status}")
        if bad:
            raise HarnessError("; ".join(bad))
    teardown.append(("stop milters", stop_milters))
    for m in milters.values():
        m.start(netns)

    rsa = ("rsa-sha256", RSA_DOMAIN, RSA_SELECTOR)
    ed = ("ed25519-sha256", ED_DOMAIN, ED_SELECTOR)
    rsa_from, ed_from = f"invoices@{RSA_DOMAIN}", f"invoices@{ED_DOMAIN}"
    configs = [
        Config("Postfix alone (no milter)", 2525, rsa_from),
        Config("sendguard rsa-2048, unix socket", 2531, rsa_from, milters["sg_unix"], rsa),
        Config("sendguard rsa-2048, TCP", 2532, rsa_from, milters["sg_tcp"], rsa),
        Config("sendguard ed25519, unix socket", 2531, ed_from, milters["sg_unix"], ed),
        # No key for this From domain: what the milter protocol and content scoring cost
        # without any cryptography (DESIGN.md: a do-nothing milter reaches 0.86-0.87).
        Config("sendguard, no key (+scoring)", 2531, "invoices@nokey.example",
               milters["sg_unix"]),
        # Signing only, like OpenDKIM: the like-for-like comparison.
        Config("sendguard rsa-2048, signing only", 2535, rsa_from, milters["sg_sign"], rsa),
        Config("OpenDKIM rsa-2048, unix socket", 2533, rsa_from, milters["od_unix"], rsa),
        Config("OpenDKIM rsa-2048, TCP", 2534, rsa_from, milters["od_tcp"], rsa),
    ]
    listeners = sorted({(c.port, c.milter.postfix_address if c.milter else "")
                        for c in configs})
    postfix = BenchPostfix(netns, workdir, listeners)
    teardown.append(("stop Postfix", postfix.stop))
    postfix.start()

    # The samples check every configuration and warm up Postfix and the milters.
    for c in configs:
        check_sample(c, sample_sink, postfix, netns, args.size, args.timeout)
    batch = batch_size(args)
    for r in range(args.rounds):
        # Rotate the order, so that no configuration always follows the same one.
        for c in configs[r % len(configs):] + configs[:r % len(configs)]:
            timed_batch(c, postfix, netns, batch, args)
            for m in milters.values():
                m.process.check_alive()
        print(f"  round {r + 1}/{args.rounds}: "
              + ", ".join(f"{c.round_rates[-1]:.0f}" for c in configs) + " msgs/s",
              file=sys.stderr)

    rss = [(f"{m.name} (pid {m.process.pid})", peak_rss_kib(m.process.pid))
           for m in milters.values()]
    facts = machine_facts()

    # Postfix's log is complete once master has stopped (postlogd writes it).
    postfix.stop()                    # again in teardown: a no-op then
    sent = count_sent(postfix.log_path, SINK_PORT)
    expected = sum(c.messages for c in configs)
    if sent != expected:
        raise BenchError(f"Postfix logged {sent} deliveries to the sink, expected {expected}")
    print_report(configs, args, netns.name, rss, facts)


def main(argv):
    """Run the benchmark; the exit status says whether it could run."""
    args = parse_args(argv)
    problems = missing_prerequisites()
    if problems:
        print("bench_postfix: cannot run here:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    # ctest's timeout sends SIGTERM: turn it into an exception so teardown runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    become_subreaper()
    workdir = tempfile.mkdtemp(prefix="sg-bench-")
    os.chmod(workdir, 0o755)          # Postfix's and nobody's processes traverse it
    teardown = []
    status = 0
    try:
        bench(args, workdir, teardown)
    except (BenchError, HarnessError) as e:
        print(f"bench_postfix: the measurement could not run: {e}", file=sys.stderr)
        for name in ("postfix.log", "postfix-master.out", "sendguard-unix.log",
                     "sendguard-tcp.log", "opendkim-unix.log", "opendkim-tcp.log",
                     "smtp-sink.log", "smtp-sink-sample.log"):
            text = tail_file(os.path.join(workdir, name), 15)
            if text:
                print(f"--- {name} (last lines) ---\n{text}", file=sys.stderr)
        status = 1
    finally:
        # Reverse order; every step runs even if one fails.
        for what, fn in reversed(teardown):
            try:
                fn()
            except Exception as e:  # keep tearing down
                print(f"bench_postfix: teardown: {what}: {e}", file=sys.stderr)
                status = status or 1
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
