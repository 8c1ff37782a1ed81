"""What every end-to-end script's main() needs: where the binaries are, and signals that
still let the teardown run."""

import os
import signal
import sys
import time

_TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def default_binary(env, name):
    """$ENV, else $SG_BUILD_DIR/milter/NAME, else build/milter/NAME of this source tree."""
    if os.environ.get(env):
        return os.environ[env]
    build = os.environ.get("SG_BUILD_DIR") or os.path.join(_TOP, "build")
    return os.path.normpath(os.path.join(build, "milter", name))


def _on_signal(signum, frame):
    """Report, then exit through the with-blocks so that the teardown still runs."""
    print(f"FAIL interrupted by signal {signum}", flush=True)
    sys.exit(128 + signum)


def teardown_on_signals():
    """SIGTERM (ctest's timeout) and SIGHUP become SystemExit: the World is torn down."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def run_world(open_world, checks):
    """Open a World (open_world() returns one, not yet entered), run checks(world) -> number
    of failures in it, print diagnostics on failure and the teardown's outcome; return the
    script's exit status (0 pass, 1 fail).  A harness error is a failure, never a skip."""
    from .proc import HarnessError
    started = time.monotonic()
    try:
        with open_world() as world:
            failures = checks(world)
            if failures:
                print(world.diagnostics())
        if world.teardown_errors:
            failures += 1
            print("FAIL clean teardown: " + "; ".join(world.teardown_errors))
        else:
            print("ok   teardown: processes stopped, namespace deleted")
    except HarnessError as e:
        print(f"FAIL harness: {e}")
        return 1
    print(f"# {'FAILED' if failures else 'passed'} ({failures} failure(s)) in "
          f"{time.monotonic() - started:.1f} s")
    return 1 if failures else 0


def stopped_cleanly(world, name="sendguard"):
    """Stop the milter with SIGTERM; 0 when it exited with status 0, else 1 (printed)."""
    status = world.stop_milter()
    if status == 0:
        print(f"ok   {name} exited with status 0 on SIGTERM")
        return 0
    print(f"FAIL {name} exited with status {status} on SIGTERM")
    return 1


class Checks:
    """ok/FAIL lines for a test's checks, counted (subclasses call Checks.__init__)."""

    def __init__(self):
        self.passed = 0
        self.failures = 0

    def ok(self, what):
        """Print a passed check."""
        self.passed += 1
        print(f"ok   {what}", flush=True)

    def fail(self, what):
        """Print a failed check and count it."""
        self.failures += 1
        print(f"FAIL {what}", flush=True)

    def check(self, cond, what, detail=""):
        """Print ok/FAIL for one condition; return it."""
        if cond:
            self.ok(what)
        else:
            self.fail(f"{what}: {detail}" if detail else what)
        return cond
