"""The harness's agent inside the network namespace.

Run as `ip netns exec NS /usr/bin/python3 inns.py COMMAND` with a JSON request on stdin; it
prints a JSON answer on stdout.  It runs inside the namespace so that its DNS queries go to
the test's unbound (through the namespace's /etc/resolv.conf) and its SMTP connections reach
the test's Postfix.  Standard library plus dkimpy and dnspython only.

Commands:
  wait-ready  {"timeout": s, "ports": [[host, port], ...], "txt": {name: value, ...}}
              wait until every port accepts a TCP connection and every TXT name answers
              with exactly that value (the record's strings joined).
  send        {"jobs": [{"id", "host", "port", "source", "mail_from", "rcpts", "path",
              "raw"}]}  send each message file by SMTP.  raw=false: the file is normalised
              to CRLF (what a normal client does).  raw=true: sent exactly as stored (bare LF
              line ends stay bare), only dot-stuffed, then ".\\r\\n".
  dkimpy      {"paths": [...]}  verify every DKIM-Signature of each file with dkimpy.
"""

import json
import logging
import re
import smtplib
import socket
import sys
import time


def wait_ready(req):
    """Wait for TCP ports and DNS TXT answers; return {"ok": bool, "error": text}."""
    import dns.resolver

    deadline = time.monotonic() + req.get("timeout", 10)
    pending_ports = [tuple(p) for p in req.get("ports", [])]
    pending_txt = dict(req.get("txt", {}))
    last_error = ""
    resolver = dns.resolver.Resolver()          # reads the namespace's resolv.conf
    resolver.lifetime = 2.0
    while True:
        for host, port in list(pending_ports):
            try:
                with socket.create_connection((host, port), timeout=1):
                    pending_ports.remove((host, port))
            except OSError as e:
                last_error = f"{host}:{port}: {e}"
        for name, want in list(pending_txt.items()):
            try:
                answer = resolver.resolve(name, "TXT")
                got = [b"".join(r.strings).decode() for r in answer]
                if got == [want]:
                    del pending_txt[name]
                else:
                    last_error = f"TXT {name}: got {got!r}, want {want!r}"
            except Exception as e:          # NXDOMAIN, timeout, no nameserver yet
                last_error = f"TXT {name}: {type(e).__name__}: {e}"
        if not pending_ports and not pending_txt:
            return {"ok": True}
        if time.monotonic() >= deadline:
            return {"ok": False, "error": last_error}
        time.sleep(0.1)


def _dot_stuff(data):
    """Double every '.' at the start of a line (RFC 5321 4.5.2), for LF or CRLF lines."""
    return re.sub(rb"(?m)^\.", b"..", data)


def _send_one(job):
    """Send one message file; return {"id", "ok", "reply", "error"}."""
    with open(job["path"], "rb") as f:
        data = f.read()
    if not job.get("raw"):
        data = re.sub(rb"\r?\n", b"\r\n", data)
    if not data.endswith(b"\n"):
        data += b"\r\n"
    mail_options = ["BODY=8BITMIME"] if re.search(rb"[\x80-\xff]", data) else []
    source = (job["source"], 0) if job.get("source") else None
    smtp = smtplib.SMTP(job["host"], job["port"], source_address=source, timeout=120)
    try:
        smtp.ehlo("client.sendguard.test")
        code, msg = smtp.mail(job["mail_from"], mail_options)
        if code != 250:
            return {"id": job["id"], "ok": False, "error": f"MAIL: {code} {msg.decode()}"}
        for rcpt in job["rcpts"]:
            code, msg = smtp.rcpt(rcpt)
            if code not in (250, 251):
                return {"id": job["id"], "ok": False, "error": f"RCPT: {code} {msg.decode()}"}
        smtp.putcmd("data")
        code, msg = smtp.getreply()
        if code != 354:
            return {"id": job["id"], "ok": False, "error": f"DATA: {code} {msg.decode()}"}
        smtp.send(_dot_stuff(data) + b".\r\n")
        code, msg = smtp.getreply()
        reply = f"{code} {msg.decode(errors='replace')}"
        if code != 250:
            return {"id": job["id"], "ok": False, "error": f"end of data: {reply}"}
        return {"id": job["id"], "ok": True, "reply": reply}
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def send(req):
    """Send every job; a failed job is reported, not raised."""
    results = []
    for job in req["jobs"]:
        try:
            results.append(_send_one(job))
        except (smtplib.SMTPException, OSError) as e:
            results.append({"id": job["id"], "ok": False, "error": f"{type(e).__name__}: {e}"})
    return {"results": results}


class _ListHandler(logging.Handler):
    """Collects dkimpy's log messages, which carry the reason of a failure."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _verify_file(path):
    """Verify each DKIM-Signature of one message with dkimpy; return a list of results."""
    import dkim
    from dkim.util import parse_tag_value

    with open(path, "rb") as f:
        msg = f.read()
    headers, _ = dkim.rfc822_parse(msg)
    values = [v for n, v in headers if n.lower() == b"dkim-signature"]
    results = []
    for idx, value in enumerate(values):
        try:
            tags = parse_tag_value(value)
        except Exception as e:
            results.append({"d": "?", "s": "?", "a": "?", "ok": False,
                            "detail": f"unparsable signature: {e}"})
            continue
        handler = _ListHandler()
        logger = logging.getLogger(f"dkimpy.{idx}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.handlers = [handler]
        try:
            ok = bool(dkim.DKIM(msg, logger=logger).verify(idx=idx))
            detail = "pass" if ok else (handler.messages[-1] if handler.messages else "fail")
        except Exception as e:
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append({"d": tags.get(b"d", b"?").decode(), "s": tags.get(b"s", b"?").decode(),
                        "a": tags.get(b"a", b"?").decode(), "ok": ok, "detail": detail})
    return results


def dkimpy(req):
    """Verify every file in req["paths"]."""
    return {"files": {p: _verify_file(p) for p in req["paths"]}}


COMMANDS = {"wait-ready": wait_ready, "send": send, "dkimpy": dkimpy}


def main():
    """Read the request, run the command, print the answer."""
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: inns.py {{{'|'.join(COMMANDS)}}} < request.json")
    request = json.load(sys.stdin)
    json.dump(COMMANDS[sys.argv[1]](request), sys.stdout)


if __name__ == "__main__":
    main()
