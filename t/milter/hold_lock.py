#!/usr/bin/python3
"""hold_lock.py DB READY SECONDS - hold an exclusive write lock on a SQLite
database for SECONDS (as another sendguardctl or a backup tool might), touch
READY once it is held, then let go and exit.  Used by quarantine_locked.lua."""

import sqlite3
import sys
import time

db_path, ready, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
db = sqlite3.connect(db_path, isolation_level=None, timeout=5)
db.execute("BEGIN EXCLUSIVE")
with open(ready, "w"):
    pass
time.sleep(seconds)
db.execute("ROLLBACK")
db.close()
