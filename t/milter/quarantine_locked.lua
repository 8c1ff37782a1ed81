-- quarantine_locked.lua - a message to be quarantined while the database is
-- locked by another process (longer than sendguard waits, 5 s) is not lost:
-- sendguard answers tempfail, so the MTA keeps it and retries.  Once the
-- lock is gone, the same message is quarantined (discard) as usual.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local db = sg_dir .. "/quarantine/sendguard.db"
local ready = sg_dir .. "/lock-held"
local holder = sg_dir .. "/lock-holder.done"
local here = sg_lib:gsub("/lib%.lua$", "")
-- The lock holder exits by itself after 8 s; the wait below bounds the test.
sg.check(os.execute(string.format("(/usr/bin/python3 %s/hold_lock.py '%s' '%s' 8; touch '%s') &",
                                  here, db, ready, holder)),
         "cannot start hold_lock.py")

-- wait_for - until the file exists, at most seconds
local function wait_for(path, seconds)
    for _ = 1, seconds * 10 do
        local f = io.open(path)
        if f then f:close() return true end
        os.execute("sleep 0.1")
    end
    return false
end
sg.check(wait_for(ready, 10), "hold_lock.py did not take the lock within 10 s")

local phish = sg.phishing()

local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local r, stage = sg.message(conn, phish)
sg.check(stage == "eom", "the message stopped at %s, expected end of message", stage)
sg.check(r == SMFIR_TEMPFAIL or r == SMFIR_REPLYCODE,
         "eom with the database locked: reply %s, expected tempfail", sg.reply_name(r))
sg.check(next(sg.signatures(conn)) == nil, "a message that could not be held was signed")
local f = io.open(sg_dir .. "/sendguard.log")
local log = f and f:read("a") or ""
if f then f:close() end
sg.check(log:find("4XTEST0001: [^\n]*cannot quarantine[^\n]*action=tempfail") ~= nil,
         "the log does not say the quarantine failed:\n%s", log)
mt.disconnect(conn)

-- The MTA retries after the lock is gone: now it is held.
sg.check(wait_for(holder, 15), "hold_lock.py did not finish")
conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
phish.queue_id = "4XTEST0002"
r, stage = sg.message(conn, phish)
sg.check(r == SMFIR_DISCARD, "eom on retry: reply %s, expected discard", sg.reply_name(r))
f = io.open(sg_dir .. "/sendguard.log")
log = f and f:read("a") or ""
if f then f:close() end
sg.check(log:find("4XTEST0002: [^\n]*action=quarantine quarantine_id=1\n") ~= nil,
         "the retry was not quarantined as message 1:\n%s", log)
mt.disconnect(conn)
