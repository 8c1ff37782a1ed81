"""Calling inns.py, the harness's agent inside the network namespace (see inns.py)."""

import json
import os

from .proc import HarnessError, run

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def run_agent(netns, command, request, timeout=120):
    """Run inns.py COMMAND inside the namespace with a JSON request; return its JSON answer."""
    argv = netns.wrap([PYTHON, os.path.join(HERE, "inns.py"), command])
    result = run(argv, input=json.dumps(request).encode(), timeout=timeout)
    try:
        return json.loads(result.stdout)
    except ValueError as e:
        raise HarnessError(f"inns.py {command}: bad answer: {result.stdout[:500]!r} "
                           f"{result.stderr[-2000:]!r}") from e
