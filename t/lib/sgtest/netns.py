"""A network namespace of our own for one test run.

`ip netns exec NAME cmd` bind-mounts every file of /etc/netns/NAME/ over /etc/, so writing
/etc/netns/NAME/resolv.conf gives the namespace its own resolver (our unbound on 127.0.0.1)
without touching the machine's.  A marker file in /run/sgtest-netns/ records which harness
process owns the namespace and its temp dir, so a later run can remove what a SIGKILLed run
left behind (only namespaces with a marker whose owner process is dead).
"""

import os
import re
import shutil
import signal
import tempfile

from .proc import HarnessError, run

# Not under /etc/netns/NAME/: ip netns exec bind-mounts every file there over /etc/.
MARKER_DIR = "/run/sgtest-netns"


def _pid_alive(pid):
    """True if a process with this PID exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pids_in(name):
    """PIDs of the processes running in network namespace name."""
    result = run(["ip", "netns", "pids", name], check=False, timeout=10)
    return [int(p) for p in result.stdout.split()]


def remove_stale():
    """Delete namespaces made by earlier harness runs whose owner is dead (e.g. SIGKILLed).

    The marker proves the namespace was made by this harness, so whatever still runs inside
    (a milter or smtp-sink that dropped privileges and so missed the parent-death signal) was
    started by it too: those processes are killed by PID first.
    """
    try:
        names = os.listdir(MARKER_DIR)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        marker = os.path.join(MARKER_DIR, name)
        if not re.fullmatch(r"sg\d+", name) or not os.path.exists(marker):
            continue
        with open(marker) as f:
            owner, _, workdir = f.read().partition("\n")
        owner, workdir = owner.strip(), workdir.strip()
        if owner.isdigit() and _pid_alive(int(owner)):
            continue
        for pid in _pids_in(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run(["ip", "netns", "del", name], check=False, timeout=10)
        shutil.rmtree(os.path.join("/etc/netns", name), ignore_errors=True)
        if (os.path.dirname(workdir) == tempfile.gettempdir()
                and os.path.basename(workdir).startswith("sg-e2e-")):
            shutil.rmtree(workdir, ignore_errors=True)
        os.unlink(marker)
        removed.append(name)
    return removed


class NetNs:
    """One network namespace (named sg<pid>) with lo up and its own resolv.conf."""

    def __init__(self, name=None, workdir=""):
        self.name = name or f"sg{os.getpid()}"
        self.workdir = workdir          # recorded so a later run can remove it if we die
        self.etc_dir = os.path.join("/etc/netns", self.name)
        self.marker = os.path.join(MARKER_DIR, self.name)
        self.created = False
        self.stale_removed = []         # namespaces of killed earlier runs, removed by create()

    def create(self):
        """Create the namespace, its /etc/netns files, and bring lo up."""
        self.stale_removed = remove_stale()
        if os.path.exists(f"/run/netns/{self.name}"):
            raise HarnessError(f"network namespace {self.name} already exists")
        os.makedirs(self.etc_dir, exist_ok=True)
        with open(os.path.join(self.etc_dir, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
        os.makedirs(MARKER_DIR, exist_ok=True)
        with open(self.marker, "w") as f:
            f.write(f"{os.getpid()}\n{self.workdir}\n")
        run(["ip", "netns", "add", self.name], timeout=10)
        self.created = True
        run(["ip", "-n", self.name, "link", "set", "lo", "up"], timeout=10)
        return self

    def wrap(self, argv):
        """argv prefixed so that it runs inside the namespace."""
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, **kw):
        """Run a short command inside the namespace (see proc.run)."""
        return run(self.wrap(argv), **kw)

    def add_address(self, cidr):
        """Add an address (e.g. 192.0.2.10/32) to lo inside the namespace."""
        run(["ip", "-n", self.name, "addr", "add", cidr, "dev", "lo"], timeout=10)

    def leftover_pids(self):
        """PIDs still running inside the namespace."""
        return _pids_in(self.name) if self.created else []

    def delete(self):
        """Kill what still runs inside (only our own processes can be in here), then delete it all.

        Returns the PIDs that had to be killed, so the caller can report an unclean stop.
        """
        killed = []
        if self.created:
            for pid in self.leftover_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            run(["ip", "netns", "del", self.name], check=False, timeout=10)
            self.created = False
        shutil.rmtree(self.etc_dir, ignore_errors=True)
        if os.path.exists(self.marker):
            os.unlink(self.marker)
        return killed
