"""DKIM test keys and their DNS records, computed independently of the milter under test.

Keys are made with the openssl command line.  The published p= value is:
  RSA      base64 of the DER SubjectPublicKeyInfo            (RFC 6376 3.6.1)
  Ed25519  base64 of the raw 32-byte public key               (RFC 8463 4.2)
Ed25519's raw key is the last 32 bytes of its 44-byte DER SubjectPublicKeyInfo.
"""

import base64
import os
from dataclasses import dataclass

from .proc import HarnessError, run

ALGORITHMS = {"rsa": "rsa-sha256", "ed25519": "ed25519-sha256"}


@dataclass
class DkimKey:
    """One signing key: where its private PEM is and what DNS must publish for it."""

    domain: str
    selector: str
    kind: str            # "rsa" or "ed25519"
    path: str            # private key, PEM, mode 600, owned by root
    public_b64: str      # the p= value

    @property
    def algorithm(self):
        """The a= value a signature made with this key carries."""
        return ALGORITHMS[self.kind]

    @property
    def dns_name(self):
        """The owner name of the key record (SEL._domainkey.DOMAIN)."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt_value(self):
        """The key record's TXT value (as one string; DNS splits it into 255-byte pieces)."""
        return f"v=DKIM1; k={self.kind}; p={self.public_b64}"


def generate_key(directory, domain, selector, kind):
    """Make a private key in directory (which must not be world-writable) and return a DkimKey."""
    if kind not in ALGORITHMS:
        raise HarnessError(f"unknown key kind {kind!r}")
    path = os.path.join(directory, f"{domain}.{selector}.{kind}.pem")
    if kind == "rsa":
        gen = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    else:
        gen = ["openssl", "genpkey", "-algorithm", "ed25519"]
    old_umask = os.umask(0o077)
    try:
        run(gen + ["-out", path], timeout=60)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    os.chown(path, 0, 0)
    der = run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], timeout=30).stdout
    if kind == "ed25519":
        if len(der) != 44:
            raise HarnessError(f"unexpected Ed25519 SubjectPublicKeyInfo length {len(der)}")
        der = der[-32:]
    return DkimKey(domain, selector, kind, path, base64.b64encode(der).decode("ascii"))


def generate_keys(directory, specs):
    """Make a 0700 key directory and one key per (domain, selector, kind) in specs."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    return [generate_key(directory, *spec) for spec in specs]
