"""unbound as the test's DNS server, inside the namespace on 127.0.0.1:53.

It serves only `local-data` records.  `local-zone: "." static` makes every other name an
immediate NXDOMAIN (no root hints, no forwarding, no waiting on a network that is not
there), so a DMARC or SPF lookup for a name the test did not publish fails fast and
deterministically.  TXT values longer than 255 bytes (RSA-2048 key records) are published as
several quoted strings in one record, which DNS clients join.
"""

import os

from .proc import HarnessError, Process, run


def txt_rdata(value):
    """A TXT value as unbound zone-file rdata: quoted strings of at most 255 bytes each."""
    data = value.encode("ascii")
    if b'"' in data or b"\\" in data or b"'" in data:
        raise HarnessError(f"TXT value needs quoting this harness does not do: {value!r}")
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + c.decode("ascii") + '"' for c in chunks)


class Unbound:
    """An unbound process serving the records added with add_txt/add_record."""

    def __init__(self, netns, workdir):
        self.netns = netns
        self.workdir = workdir
        self.conf_path = os.path.join(workdir, "unbound.conf")
        self.records = []        # (name, type, rdata) in zone-file syntax
        self.txt = {}            # name -> value, to check what unbound serves
        self.process = None

    def add_txt(self, name, value):
        """Publish a TXT record (a DKIM key, an SPF policy, a DMARC record)."""
        name = name.rstrip(".")
        self.records.append((name, "TXT", txt_rdata(value)))
        self.txt[name] = value

    def add_record(self, name, rtype, rdata):
        """Publish any other record, rdata in zone-file syntax (e.g. "10 mx.example.nl.")."""
        self.records.append((name.rstrip("."), rtype, rdata))

    def write_config(self):
        """Write unbound.conf: loopback only, no privileges dropped, no chroot, our records."""
        lines = [
            "server:",
            "    interface: 127.0.0.1",
            "    port: 53",
            "    do-ip6: no",
            '    username: ""',
            '    chroot: ""',
            f'    directory: "{self.workdir}"',
            '    pidfile: ""',
            "    use-syslog: no",
            '    logfile: ""',
            "    verbosity: 1",
            "    do-not-query-localhost: no",
            '    module-config: "iterator"',
            "    access-control: 127.0.0.0/8 allow",
            "    access-control: 192.0.2.0/24 allow",
            '    local-zone: "." static',
        ]
        for name, rtype, rdata in self.records:
            lines.append(f"    local-data: '{name}. 300 IN {rtype} {rdata}'")
        lines += ["remote-control:", "    control-enable: no", ""]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines))
        run(["unbound-checkconf", self.conf_path], timeout=30)

    def start(self):
        """Start unbound in the foreground inside the namespace (caller waits for readiness)."""
        self.write_config()
        self.process = Process("unbound", self.netns.wrap(["unbound", "-d", "-c", self.conf_path]),
                               os.path.join(self.workdir, "unbound.log")).start()
        return self

    def stop(self):
        """Stop unbound by its PID."""
        if self.process:
            self.process.stop(timeout=10)
