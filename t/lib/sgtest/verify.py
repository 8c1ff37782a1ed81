"""Independent DKIM verification of captured messages: dkimpy and Mail::DKIM.

Both run inside the namespace, so their key lookups go to the test's unbound.  dkimpy checks
every signature (RSA and Ed25519); Debian 12's Mail::DKIM cannot verify Ed25519, so its
answer counts for RSA signatures only.
"""

import json
import os
from dataclasses import dataclass

from .agent import run_agent
from .proc import run

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class SignatureResult:
    """One verifier's verdict on one DKIM-Signature."""

    verifier: str      # "dkimpy" or "Mail::DKIM"
    d: str
    s: str
    a: str
    ok: bool
    detail: str

    def __str__(self):
        verdict = "pass" if self.ok else f"FAIL ({self.detail})"
        return f"{self.verifier} d={self.d} s={self.s} a={self.a}: {verdict}"


def verify_dkimpy(netns, paths):
    """path -> [SignatureResult] from dkimpy, for every signature of every file."""
    answer = run_agent(netns, "dkimpy", {"paths": list(paths)})
    return {p: [SignatureResult("dkimpy", r["d"], r["s"], r["a"], r["ok"], r["detail"])
                for r in sigs]
            for p, sigs in answer["files"].items()}


def verify_mail_dkim(netns, paths):
    """path -> [SignatureResult] from Mail::DKIM, for every signature of every file."""
    if not paths:
        return {}
    argv = netns.wrap(["perl", os.path.join(HERE, "verify_mail_dkim.pl")] + list(paths))
    result = run(argv, timeout=180)
    answer = json.loads(result.stdout)
    return {p: [SignatureResult("Mail::DKIM", r["d"], r["s"], r["a"], r["result"] == "pass",
                                f"{r['result']} {r['detail']}".strip())
                for r in sigs]
            for p, sigs in answer["files"].items()}


def verify_all(netns, paths):
    """path -> {"dkimpy": [...], "Mail::DKIM": [...]} for a batch of message files."""
    paths = list(paths)
    py = verify_dkimpy(netns, paths)
    pl = verify_mail_dkim(netns, paths)
    return {p: {"dkimpy": py.get(p, []), "Mail::DKIM": pl.get(p, [])} for p in paths}
