"""Process helpers for the end-to-end harness.

Everything the harness starts is a `Process`: a foreground daemon whose output goes to a
log file, that receives SIGTERM if the harness dies, and that is stopped by its own PID with
a deadline.  `wait_until` is the one polling loop; every wait in the harness has a timeout.
"""

import ctypes
import os
import signal
import subprocess
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)

# Postfix, unbound, smtp-sink and ip live in sbin directories, which a non-login root shell
# (or ctest's environment) may lack on PATH: append them (user's own PATH still wins).
for _dir in ("/usr/sbin", "/sbin"):
    if _dir not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":" + _dir


class HarnessError(Exception):
    """A step of the test environment failed (setup, a tool, a timeout)."""


def become_subreaper():
    """Adopt orphaned descendants (Postfix's children when master exits) so we can reap them.

    On these machines PID 1 does not reap zombies, so without this every Postfix run leaves
    <defunct> entries behind.
    """
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans(timeout=10.0):
    """Wait for adopted orphans to exit (they were told to by their master) and reap them.

    Returns the PIDs still alive at the deadline (an empty list when all is clean).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return []
        if pid != 0:
            continue
        if time.monotonic() >= deadline:
            return _child_pids()
        time.sleep(0.05)


def _child_pids():
    """PIDs of processes whose parent is this process (read from /proc)."""
    me = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[1] == me and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _die_with_parent():
    """preexec_fn: deliver SIGTERM to the child if the harness dies (best effort).

    The kernel clears this when the child changes its effective user id: smtp-sink -u,
    milters that drop privileges, and Postfix's master (which switches euid briefly) all
    lose it.  So the normal path is the explicit stop in teardown, and a run that was
    SIGKILLed is cleaned up by the next one (netns.remove_stale).
    """
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def wait_until(predicate, timeout, what, interval=0.05):
    """Call predicate until it returns something true; raise HarnessError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def run(argv, timeout=60, check=True, input=None, env=None):
    """Run a short command to completion with a timeout; return the CompletedProcess.

    stdout and stderr are captured as bytes.  With check, a non-zero exit raises HarnessError
    carrying the command's stderr.
    """
    try:
        result = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                                env=env, preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"{argv[0]}: no result after {timeout} s: {' '.join(argv)}") from e
    except FileNotFoundError as e:
        raise HarnessError(f"command not found: {argv[0]}") from e
    if check and result.returncode != 0:
        raise HarnessError(f"command failed (exit {result.returncode}): {' '.join(argv)}\n"
                           + result.stderr.decode(errors="replace")
                           + result.stdout.decode(errors="replace"))
    return result


class Process:
    """A long-running child process (a daemon kept in the foreground) with a log file."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.popen = None

    @property
    def pid(self):
        """The child's PID (None before start)."""
        return self.popen.pid if self.popen else None

    def start(self):
        """Start the process; its stdout and stderr go to the log file."""
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=self.env,
                                          preexec_fn=_die_with_parent)
        return self

    def alive(self):
        """True while the process has not exited."""
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self):
        """Raise HarnessError (with the log's tail) if the process has exited."""
        if not self.alive():
            code = self.popen.returncode if self.popen else None
            raise HarnessError(f"{self.name} exited (status {code}); its log ends with:\n"
                               + self.log_tail())

    def stop(self, timeout=10.0, sig=signal.SIGTERM):
        """Send sig to our PID, wait up to timeout, then SIGKILL.  Returns the exit status."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode

    def log_tail(self, lines=30):
        """The last lines of the process's log file, as text."""
        return tail_file(self.log_path, lines)


def tail_file(path, lines=30):
    """The last lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])
