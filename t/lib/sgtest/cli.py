"""What every end-to-end script's main() needs: where the binaries are, and signals that
still let the teardown run."""

import os
import signal
import sys

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
