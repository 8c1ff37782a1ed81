"""The milter under test, as a parameter of the harness.

A `Milter` is a foreground command run inside the namespace, the socket Postfix connects to
(a unix socket, or TCP on the namespace's loopback), and the signatures it is expected to
add for each From domain.  Two are provided:
sendguard (the subject of the tests) and OpenDKIM (an independent milter used to prove the
harness itself: if the tests pass with OpenDKIM, a failure with sendguard is sendguard's).

The socket lives in its own directory under the run's temp dir: mode 755 (Postfix's user
must traverse it), owned by the user the milter runs as (a milter that drops privileges
before creating its socket must be able to create it there).
"""

import os
import pwd
import signal
import socket
import stat

from .agent import run_agent
from .proc import HarnessError, Process, wait_until


class Milter:
    """A milter process under test and what it should do."""

    def __init__(self, name, argv, socket_path, workdir, signs, stop_timeout=15.0,
                 check_argv=None, inet=None, config_path=None, ctl_argv=None, state_dir=None):
        """socket_path: the milter's unix socket; or inet=("127.0.0.1", port) for TCP inside
        the namespace (then socket_path is ignored).  config_path, ctl_argv (its control
        command with the configuration, e.g. [sendguardctl, -c, FILE]) and state_dir are
        known for sendguard only (None otherwise)."""
        self.name = name
        self.argv = argv
        self.socket_path = socket_path
        self.inet = inet
        self.workdir = workdir
        self.signs = signs                  # From domain -> sorted list of (a=, s=)
        self.stop_timeout = stop_timeout
        self.check_argv = check_argv        # a configuration check to run first, or None
        self.config_path = config_path
        self.ctl_argv = ctl_argv
        self.state_dir = state_dir
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.process = None
        self.extra_args = []                # options of the current run (start's extra_args)

    @property
    def postfix_address(self):
        """The milter's address as Postfix's smtpd_milters wants it (not libmilter's form)."""
        if self.inet:
            return f"inet:{self.inet[0]}:{self.inet[1]}"
        return f"unix:{self.socket_path}"

    def expected_signatures(self, domain):
        """The (algorithm, selector) pairs a message From this domain must carry, sorted."""
        return sorted(self.signs.get(domain, []))

    def _socket_ready(self):
        """True once the socket exists and accepts a connection."""
        self.process.check_alive()
        try:
            if not stat.S_ISSOCK(os.stat(self.socket_path).st_mode):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(self.socket_path)
            return True
        except OSError:
            return False

    def start(self, netns, timeout=20, extra_args=()):
        """Check its configuration (if it can), start it in the namespace, wait for its socket.

        extra_args: more command-line options for this run (and its configuration check),
        e.g. ["-o", "name=value"]; a restart starts the same command again (the log file is
        appended to, so it holds every run)."""
        self.extra_args = list(extra_args)
        if self.check_argv:
            result = netns.run(self.check_argv + self.extra_args, check=False, timeout=30)
            if result.returncode != 0:
                raise HarnessError(f"{self.name} rejects its test configuration "
                                   f"(exit {result.returncode}):\n"
                                   + result.stderr.decode(errors="replace")
                                   + result.stdout.decode(errors="replace"))
        self.process = Process(self.name, netns.wrap(self.argv + self.extra_args),
                               self.log_path).start()
        if self.inet:
            # The namespace's loopback is not reachable from here: ask the agent inside.
            answer = run_agent(netns, "wait-ready", {"timeout": timeout, "ports": [self.inet]},
                               timeout=timeout + 30)
            self.process.check_alive()
            if not answer["ok"]:
                raise HarnessError(f"{self.name} does not listen: {answer['error']}\n"
                                   + self.log_tail())
        else:
            wait_until(self._socket_ready, timeout, f"{self.name}'s socket {self.socket_path}")
        return self

    def stop(self):
        """Stop the milter by its PID; return its exit status."""
        if self.process:
            return self.process.stop(timeout=self.stop_timeout)
        return None

    def kill(self, sig=signal.SIGKILL, timeout=10.0):
        """Send sig (default SIGKILL: a crash, no clean-up) to the milter's PID and wait for
        it to exit; return its exit status (-9 for SIGKILL)."""
        if self.process:
            return self.process.stop(timeout=timeout, sig=sig)
        return None

    def log_tail(self, lines=40):
        """The end of the milter's stdout/stderr."""
        return self.process.log_tail(lines) if self.process else ""


def _socket_dir(workdir, user):
    """Make workdir/milter (mode 755, owned by user) for the socket; return its path."""
    path = os.path.join(workdir, "milter")
    os.makedirs(path, mode=0o755, exist_ok=True)
    os.chmod(path, 0o755)
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def _signs(keys):
    """From domain -> [(algorithm, selector)] for a list of DkimKey."""
    signs = {}
    for k in keys:
        signs.setdefault(k.domain, []).append((k.algorithm, k.selector))
    return signs


def opendkim_milter(workdir, keys, internal_hosts=("127.0.0.0/8",), inet_port=None):
    """OpenDKIM configured with the RSA keys only (it signs with one algorithm per instance).

    inet_port: listen on TCP 127.0.0.1:PORT in the namespace instead of a unix socket."""
    rsa_keys = [k for k in keys if k.kind == "rsa"]
    sock = os.path.join(_socket_dir(workdir, "root"), "opendkim.sock")
    spec = f"inet:{inet_port}@127.0.0.1" if inet_port else f"local:{sock}"
    conf = os.path.join(workdir, "opendkim.conf")
    key_table = os.path.join(workdir, "opendkim.keytable")
    signing_table = os.path.join(workdir, "opendkim.signingtable")
    internal = os.path.join(workdir, "opendkim.internal")
    with open(key_table, "w") as f:
        for k in rsa_keys:
            f.write(f"{k.selector}.{k.domain} {k.domain}:{k.selector}:{k.path}\n")
    with open(signing_table, "w") as f:
        for k in rsa_keys:
            f.write(f"{k.domain} {k.selector}.{k.domain}\n")
    with open(internal, "w") as f:
        f.write("\n".join(internal_hosts) + "\n")
    with open(conf, "w") as f:
        f.write(f"""\
# OpenDKIM as the harness's reference milter (written by t/lib/sgtest/milters.py)
Mode                    s
Socket                  {spec}
UMask                   000
Syslog                  no
# The keys are in a 0700 directory, but under /tmp, which is world-writable:
RequireSafeKeys         no
KeyTable                file:{key_table}
SigningTable            file:{signing_table}
MultipleSignatures      yes
InternalHosts           file:{internal}
Canonicalization        relaxed/simple
SignatureAlgorithm      rsa-sha256
""")
    argv = ["opendkim", "-f", "-x", conf]
    return Milter("opendkim", argv, sock, workdir, _signs(rsa_keys), stop_timeout=15.0,
                  inet=("127.0.0.1", inet_port) if inet_port else None)


def sendguard_milter(binary, workdir, keys, internal_hosts=("127.0.0.0/8",), user="nobody",
                     extra_config="", inet_port=None, ctl_binary=None):
    """sendguard configured with every key (RSA and Ed25519 alike).

    extra_config: more sendguard.conf text, appended.  inet_port: listen on TCP
    127.0.0.1:PORT in the namespace instead of a unix socket.  ctl_binary: its sendguardctl
    (default: the one beside binary), run with the same configuration by World.sendguardctl."""
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise HarnessError(f"sendguard binary not found or not executable: {binary}")
    sock = os.path.join(_socket_dir(workdir, user), "sendguard.sock")
    state = os.path.join(workdir, "state")
    os.makedirs(state, mode=0o700, exist_ok=True)
    pw = pwd.getpwnam(user)
    os.chown(state, pw.pw_uid, pw.pw_gid)
    conf = os.path.join(workdir, "sendguard.conf")
    hosts = ", ".join(f'"{h}"' for h in internal_hosts)
    domains = {}
    for k in keys:
        domains.setdefault(k.domain, []).append(k)
    lines = [
        "# sendguard under end-to-end test (written by t/lib/sgtest/milters.py)",
        f'socket = "inet:{inet_port}@127.0.0.1"' if inet_port else f'socket = "unix:{sock}"',
        'socket_mode = "0666"',
        'socket_group = ""',
        f'user = "{user}"',
        'pid_file = ""',
        f'state_directory = "{state}"',
        'key_directory = ""',
        'spool_memory_limit = "1M"',
        'spool_directory = "/tmp"',
        f"internal_hosts = {{{hosts}}}",
    ]
    for domain, dkeys in domains.items():
        lines.append(f'domain "{domain}" {{')
        for k in dkeys:
            lines.append(f'    key "{k.selector}" {{ file = "{k.path}" }}')
        lines.append("}")
    # The shipped content rules (etc/rules.conf of this source tree).
    rules = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "..", "..", "..", "etc", "rules.conf"))
    lines.append(f'scoring {{ rules = "{rules}" }}')
    lines.append(extra_config)
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    ctl = ctl_binary or os.path.join(os.path.dirname(binary), "sendguardctl")
    return Milter("sendguard", [binary, "-f", "-c", conf], sock, workdir, _signs(keys),
                  stop_timeout=15.0, check_argv=[binary, "-n", "-c", conf],
                  inet=("127.0.0.1", inet_port) if inet_port else None,
                  config_path=conf, ctl_argv=[ctl, "-c", conf], state_dir=state)
