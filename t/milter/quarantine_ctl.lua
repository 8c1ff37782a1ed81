-- quarantine_ctl.lua - what sendguardctl does with a quarantined message,
-- against the database the running daemon writes: list (human and JSON,
-- filters), show (every hit explained, header, decoded text), unknown ids,
-- a refused re-injection (the message stays held), delete, purge, stats,
-- and the plain answers for a missing database and a caller who may not
-- read it.  (Release through a real Postfix: t/e2e/test_quarantine.py.)
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conf = sg_dir .. "/sendguard.conf"
local ctl = sg_bin .. "/sendguardctl -c " .. conf

-- run - a command's output (stdout and stderr) and exit status
local function run(cmd)
    local p = io.popen(cmd .. " 2>&1; echo \"EXIT=$?\"")
    local out = p:read("a")
    p:close()
    local status = tonumber(out:match("EXIT=(%d+)\n$"))
    return out:gsub("EXIT=%d+\n$", ""), status
end

-- expect - run cmd, check its status and that its output has every pattern (plain text)
local function expect(cmd, want_status, ...)
    local out, status = run(cmd)
    sg.check(status == want_status, "%s: exit %s, expected %d:\n%s", cmd, tostring(status),
             want_status, out)
    for _, pattern in ipairs({ ... }) do
        sg.check(out:find(pattern, 1, true) ~= nil, "%s: output lacks %q:\n%s", cmd, pattern, out)
    end
    return out
end

-- Before anything is quarantined.
expect(ctl .. " quarantine list", 0, "no quarantined messages")

local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local subject = "=?UTF-8?Q?URGENT:_factuur_2026-0042_direct_betalen_=E2=82=AC?="
local r = sg.message(conn, sg.phishing(subject, {
    rcpts = { "<customer@example.net>", "<boekhouding@example.net>" } }))
sg.check(r == SMFIR_DISCARD, "eom: reply %s, expected discard", sg.reply_name(r))
local ok = sg.message(conn, sg.invoice("accounts@example.nl", { queue_id = "4XTEST0002" }))
sg.check(sg.accepted(ok), "the ordinary invoice was not accepted: %s", sg.reply_name(ok))
mt.disconnect(conn)

-- Listing: the envelope, the decoded subject, the score and the reason.
expect(ctl .. " quarantine list", 0, "ID", "accounts@example.nl", "customer@example.net +",
       "URGENT: factuur 2026-0042", "risky_attachment")
expect(ctl .. " quarantine list --json", 0, '"id": 1', '"queue_id": "4XTEST0001"',
       '"env_from": "accounts@example.nl"', '"customer@example.net"',
       '"boekhouding@example.net"', '"subject": "URGENT: factuur 2026-0042 direct betalen \226\130\172"',
       '"state": "held"')
expect(ctl .. " quarantine list --to boekhouding@", 0, "accounts@example.nl")
expect(ctl .. " quarantine list --from nobody@", 0, "no quarantined messages match")
expect(ctl .. " quarantine list --rule no_such_rule", 0, "no quarantined messages match")
expect(ctl .. " quarantine list --since 1h", 0, "accounts@example.nl")

-- Showing: why (every hit with its explanation), the header, the decoded text.
expect(ctl .. " quarantine show 1", 0, "message 1 (held)", "4XTEST0001",
       "<customer@example.net>, <boekhouding@example.net>", "why:", "double_extension",
       "factuur.pdf.exe", "Message-ID: <phish-2026-0042@example.nl>",
       "Uw factuur is onmiddellijk verschuldigd")
expect(ctl .. " quarantine show --json 1", 0, '"verdict": {', '"explanation": ',
       '"headers": [', '"preview": "Uw factuur is onmiddellijk verschuldigd')

-- Unknown ids and bad arguments.
expect(ctl .. " quarantine show 999", 65, "no quarantined message 999")
expect(ctl .. " quarantine show x1", 64, "not a message id")
expect(ctl .. " quarantine release 999", 65, "no quarantined message 999")
expect(ctl .. " quarantine delete 999", 65, "no quarantined message 999")

-- A re-injection the MTA refuses (nothing listens on port 1): nothing lost.
expect(ctl .. " -o quarantine.release_via=smtp:127.0.0.1:1 quarantine release 1", 69,
       "not released, it stays in the quarantine", "127.0.0.1:1")
expect(ctl .. " quarantine list --json", 0, '"id": 1', '"state": "held"')
-- A sendmail program that fails: the same.
expect(ctl .. " -o quarantine.release_via=sendmail:/bin/false quarantine release 1", 69,
       "/bin/false exited with status 1")
expect(ctl .. " quarantine list --json", 0, '"state": "held"')

-- Statistics: one quarantined, one accepted.  sendguard writes them in the
-- background about once a second: wait for them (at most 10 s).
for _ = 1, 100 do
    local out = run(ctl .. " stats --json")
    if out:find('"total": 2', 1, true) then break end
    os.execute("sleep 0.1")
end
expect(ctl .. " stats --json", 0, '"total": 2', '"quarantine": 1', '"accept": 1',
       '"rule": "risky_attachment"')
expect(ctl .. " stats", 0, "outgoing messages since", "quarantine")

-- Purge keeps what is younger than the age.
expect(ctl .. " quarantine purge --older-than 30d", 0, "purged 0 quarantined message(s)")
expect(ctl .. " quarantine purge --older-than 30x", 64, "duration")

-- Who may: someone outside the database's group is told so plainly.  (The
-- configuration is readable to all; the database directory the daemon made
-- is not.)
sg.check(os.execute("chmod 711 " .. sg_dir .. " && chmod 644 " .. conf), "chmod failed")
expect("setpriv --reuid=65534 --regid=65534 --clear-groups " .. ctl .. " quarantine list", 77,
       "permission denied", "personal data", "run sendguardctl as root or as a member")
-- No database (a wrong -c, or the daemon never ran).
expect(ctl .. " -o quarantine.database=" .. sg_dir .. "/none/x.db quarantine list", 66,
       "no quarantine database at")

-- Delete: gone, and a second delete says so.
expect(ctl .. " quarantine delete 1", 0, "message 1 deleted")
expect(ctl .. " quarantine list", 0, "no quarantined messages")
expect(ctl .. " quarantine delete 1", 65, "no quarantined message 1")
