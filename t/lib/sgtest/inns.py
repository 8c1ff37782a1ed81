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
  send-retry  {"jobs": [...as for send], "threads": n, "timeout": s, "retry_delay": s}
              send them from n threads at once, as a real client would: a 4xx reply at any
              step, or a connection that fails or drops, is tried again retry_delay seconds
              later; a 5xx reply is final; a job that timeout seconds (for the whole batch)
              did not get through fails.  Each result also counts "attempts" and lists the
              temporary failures seen ("temp").
  dkimpy      {"paths": [...]}  verify every DKIM-Signature of each file with dkimpy.
"""

import json
import logging
import re
import smtplib
import socket
import sys
import threading
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


def _message_data(job):
    """The bytes to send for a job (see the send command) and the MAIL FROM options."""
    with open(job["path"], "rb") as f:
        data = f.read()
    if not job.get("raw"):
        data = re.sub(rb"\r?\n", b"\r\n", data)
    if not data.endswith(b"\n"):
        data += b"\r\n"
    mail_options = ["BODY=8BITMIME"] if re.search(rb"[\x80-\xff]", data) else []
    return data, mail_options


def _transaction(job, data, mail_options):
    """One SMTP transaction; return (code, text): 250 and the final reply when the message
    was accepted, else the first unexpected reply's code and "STEP: code text".  Connection
    failures raise (smtplib.SMTPException or OSError)."""
    source = (job["source"], 0) if job.get("source") else None
    smtp = smtplib.SMTP(job["host"], job["port"], source_address=source, timeout=120)
    try:
        smtp.ehlo("client.sendguard.test")
        code, msg = smtp.mail(job["mail_from"], mail_options)
        if code != 250:
            return code, f"MAIL: {code} {msg.decode(errors='replace')}"
        for rcpt in job["rcpts"]:
            code, msg = smtp.rcpt(rcpt)
            if code not in (250, 251):
                return code, f"RCPT: {code} {msg.decode(errors='replace')}"
        smtp.putcmd("data")
        code, msg = smtp.getreply()
        if code != 354:
            return code, f"DATA: {code} {msg.decode(errors='replace')}"
        smtp.send(_dot_stuff(data) + b".\r\n")
        code, msg = smtp.getreply()
        reply = f"{code} {msg.decode(errors='replace')}"
        if code != 250:
            return code, f"end of data: {reply}"
        return code, reply
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _send_one(job):
    """Send one message file; return {"id", "ok", "reply", "error"}."""
    data, mail_options = _message_data(job)
    code, text = _transaction(job, data, mail_options)
    if code != 250:
        return {"id": job["id"], "ok": False, "error": text}
    return {"id": job["id"], "ok": True, "reply": text}


def send(req):
    """Send every job; a failed job is reported, not raised."""
    results = []
    for job in req["jobs"]:
        try:
            results.append(_send_one(job))
        except (smtplib.SMTPException, OSError) as e:
            results.append({"id": job["id"], "ok": False, "error": f"{type(e).__name__}: {e}"})
    return {"results": results}


def send_retry(req):
    """Send every job from several threads, retrying temporary failures (see the docstring)."""
    deadline = time.monotonic() + req.get("timeout", 240)
    retry_delay = req.get("retry_delay", 1.0)
    pending = [(0.0, job) for job in req["jobs"]]        # (not before, job)
    results = {job["id"]: {"id": job["id"], "ok": False, "attempts": 0, "temp": [],
                           "error": "not tried"} for job in req["jobs"]}
    busy = [0]
    lock = threading.Lock()

    def next_job():
        """The next job that may be tried now; None when all are done or time is up."""
        while True:
            with lock:
                now = time.monotonic()
                if now >= deadline:
                    return None
                ready = [p for p in pending if p[0] <= now]
                if ready:
                    pending.remove(ready[0])
                    busy[0] += 1
                    return ready[0][1]
                if not pending and not busy[0]:
                    return None
            time.sleep(0.05)

    def worker():
        """Take jobs until none is left (or time is up); requeue temporary failures."""
        while True:
            job = next_job()
            if job is None:
                return
            result = results[job["id"]]
            result["attempts"] += 1
            try:
                data, mail_options = _message_data(job)
                code, text = _transaction(job, data, mail_options)
            except (smtplib.SMTPException, OSError) as e:
                code, text = 0, f"{type(e).__name__}: {e}"
            with lock:
                busy[0] -= 1
                if code == 250:
                    result.update(ok=True, reply=text, error="")
                elif code // 100 == 4 or code == 0:
                    result["temp"].append(text)
                    result["error"] = f"gave up after {result['attempts']} attempts: {text}"
                    pending.append((time.monotonic() + retry_delay, job))
                else:
                    result["error"] = text

    threads = [threading.Thread(target=worker) for _ in range(max(1, req.get("threads", 4)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"results": list(results.values())}


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


COMMANDS = {"wait-ready": wait_ready, "send": send, "send-retry": send_retry, "dkimpy": dkimpy}


def main():
    """Read the request, run the command, print the answer."""
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: inns.py {{{'|'.join(COMMANDS)}}} < request.json")
    request = json.load(sys.stdin)
    json.dump(COMMANDS[sys.argv[1]](request), sys.stdout)


if __name__ == "__main__":
    main()
