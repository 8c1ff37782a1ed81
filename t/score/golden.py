#!/usr/bin/python3
"""Golden tests for content scoring.

Scores every t/data/score/*.eml with `sendguardctl score --json --at T` (the shipped
etc/sendguard.conf and etc/rules.conf) and compares with t/data/score/expected.tsv:
action, score band, rules that must and must not hit.  One line per message:
"ok", "xfail" (a known problem of the rules, noted in expected.tsv) or "FAIL", with
the score and the hits.  Exit status 0 only when nothing failed; a message without
an expectation, an expectation without a message, or a missing sendguardctl fail too.

Environment (set by ctest from SG_TEST_ENV): SENDGUARDCTL, SG_SOURCE_DIR.
Options override them: --ctl PATH, --source DIR, --expected FILE (e.g. to try
a changed expectation), --data DIR.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

ACTIONS = ("accept", "tag", "quarantine", "reject")
EXIT_OF = {"accept": 0, "tag": 1, "quarantine": 2, "reject": 3}


class Expect:
    def __init__(self, lineno, fields):
        self.lineno = lineno
        self.file, self.action = fields[0], fields[1]
        self.min, self.max = float(fields[2]), float(fields[3])
        self.must = rule_list(fields[4])
        self.must_not = rule_list(fields[5])
        self.known = None  # the action the message gets today, for a known problem
        self.why = None
        if len(fields) > 6:
            action, sep, why = fields[6].partition(":")
            if not sep or action.strip() not in ACTIONS:
                raise ValueError("known note must read 'ACTION: why', not %r" % fields[6])
            self.known, self.why = action.strip(), why.strip()
        if self.action not in ACTIONS:
            raise ValueError("unknown action %r" % self.action)
        if self.min > self.max:
            raise ValueError("band %s..%s is empty" % (fields[2], fields[3]))


def rule_list(field):
    return [] if field.strip() == "-" else [r.strip() for r in field.split(",") if r.strip()]


def load_expected(path):
    """(at, {file: Expect}); raises ValueError with the line on a bad line."""
    at, table = None, {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [x for x in line.split("\t") if x != ""]
            try:
                if fields[0] == "@at":
                    at = int(fields[1])
                    continue
                if len(fields) < 6 or len(fields) > 7:
                    raise ValueError("%d fields, want 6 or 7 (TAB-separated)" % len(fields))
                e = Expect(lineno, fields)
                if e.file in table:
                    raise ValueError("%s listed twice" % e.file)
                table[e.file] = e
            except (ValueError, IndexError) as err:
                raise ValueError("%s:%d: %s" % (path, lineno, err))
    if at is None:
        raise ValueError("%s: no '@at SECONDS' line" % path)
    return at, table


def hit_matches(spec, hits):
    rule, _, where = spec.partition("@")
    return any(h["rule"] == rule and (not where or h["where"] == where) for h in hits)


def check(e, v):
    """The list of what differs from the expectation (empty: as expected)."""
    problems = []
    if v["action"] != e.action:
        problems.append("action %s, want %s" % (v["action"], e.action))
    if not e.min - 1e-9 <= v["score"] <= e.max + 1e-9:
        problems.append("score %.1f outside %.1f..%.1f" % (v["score"], e.min, e.max))
    missing = [r for r in e.must if not hit_matches(r, v["hits"])]
    if missing:
        problems.append("missing " + ",".join(missing))
    unwanted = [r for r in e.must_not if hit_matches(r, v["hits"])]
    if unwanted:
        problems.append("unwanted " + ",".join(unwanted))
    return problems, missing


def score(ctl, conf, at, path):
    """The verdict as a dict, or a string saying what went wrong."""
    try:
        p = subprocess.run([ctl, "-c", conf, "score", "--json", "--at", str(at), path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return "cannot run %s: %s" % (ctl, err)
    err = p.stderr.decode("utf-8", "replace").strip()
    try:
        v = json.loads(p.stdout.decode("utf-8"))
        v["score"] = float(v["score"])
        for h in v["hits"]:
            h["weight"] = float(h["weight"])
    except (ValueError, KeyError, TypeError) as ex:
        return "exit %d, no verdict (%s)%s" % (p.returncode, ex, ": " + err if err else "")
    if p.returncode != EXIT_OF.get(v["action"], -1):
        return "exit status %d does not match action %s%s" % (
            p.returncode, v["action"], ": " + err if err else "")
    return v


def describe_hits(v):
    return " ".join("%s@%s%+.1f" % (h["rule"], h["where"], h["weight"]) for h in v["hits"]) or "no hits"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ctl", default=os.environ.get("SENDGUARDCTL"))
    ap.add_argument("--source", default=os.environ.get("SG_SOURCE_DIR") or os.path.dirname(os.path.dirname(here)))
    ap.add_argument("--data")
    ap.add_argument("--expected")
    args = ap.parse_args()
    data = args.data or os.path.join(args.source, "t", "data", "score")
    expected = args.expected or os.path.join(data, "expected.tsv")
    conf = os.path.join(args.source, "etc", "sendguard.conf")

    if not args.ctl:
        print("FAIL: SENDGUARDCTL is not set (run through ctest, or pass --ctl)")
        return 1
    if not (os.path.isfile(args.ctl) and os.access(args.ctl, os.X_OK)):
        print("FAIL: sendguardctl not found or not executable: %s (build the sendguardctl target)" % args.ctl)
        return 1
    if not os.path.isfile(conf):
        print("FAIL: no configuration at %s" % conf)
        return 1
    try:
        at, table = load_expected(expected)
    except (OSError, ValueError) as err:
        print("FAIL: %s" % err)
        return 1

    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(data, "*.eml")))
    if not files:
        print("FAIL: no messages in %s" % data)
        return 1
    failed = xfail = 0
    for name in files:
        e = table.get(name)
        if e is None:
            print("FAIL %s: not in %s" % (name, expected))
            failed += 1
            continue
        v = score(args.ctl, conf, at, os.path.join(data, name))
        if isinstance(v, str):
            print("FAIL %s: %s" % (name, v))
            failed += 1
            continue
        problems, missing = check(e, v)
        line = "%s %.1f %s [%s]" % (name, v["score"], v["action"], describe_hits(v))
        if e.known is None and not problems:
            print("ok   " + line)
        elif e.known is None:
            print("FAIL " + line + "\n       " + "; ".join(problems))
            failed += 1
        elif not problems:
            print("FAIL " + line + "\n       known problem is gone (now as expected): "
                  "delete the note in expected.tsv line %d" % e.lineno)
            failed += 1
        elif v["action"] == e.known and not missing:
            print("xfail " + line + "\n       differs: " + "; ".join(problems) + "\n       known: " + e.why)
            xfail += 1
        else:
            print("FAIL " + line + "\n       " + "; ".join(problems)
                  + "\n       (known problem expected action %s with every 'must' rule)" % e.known)
            failed += 1
    for name in sorted(set(table) - set(files)):
        print("FAIL %s: in %s line %d but there is no such message" % (name, expected, table[name].lineno))
        failed += 1
    print("%d messages: %d ok, %d xfail (known problems of the rules), %d FAIL"
          % (len(files), len(files) - failed - xfail, xfail, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
