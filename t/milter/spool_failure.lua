-- spool_failure.lua - when sendguard cannot store a message (its spool
-- directory is missing, as on a full or broken disk), the message must stay
-- with the MTA: the reply at end of message is a tempfail, never an accept
-- of an unsigned message and never a reject.
-- run.sh starts sendguard with spool_memory_limit 1k and its spool directory
-- in sg_dir/spool; the script removes that directory once sendguard runs
-- (start-up checks it), so a body over 1 KB has nowhere to go.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local spool = sg_dir .. "/spool"
sg.check(os.execute("rmdir " .. spool), "cannot remove %s", spool)

local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local big = string.rep("Regel van de factuur met een bedrag van EUR 12,50.\r\n", 100)
local r, stage = sg.message(conn, sg.invoice("accounts@example.nl", { body = big }))
sg.check(stage == "eom", "the message stopped at %s, expected end of message", stage)
sg.check(r == SMFIR_TEMPFAIL or r == SMFIR_REPLYCODE,
         "eom: reply %s, expected a tempfail (451) so that Postfix keeps the mail",
         sg.reply_name(r))
sg.check(next(sg.signatures(conn)) == nil, "a tempfailed message must not be modified")

-- The next message on the same connection fits in memory and is signed:
-- one failure does not poison the connection.
r, stage = sg.message(conn, sg.invoice("accounts@example.nl", { queue_id = "4XTEST0002" }))
sg.check_signed(conn, r, stage, "example.nl",
                { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
mt.disconnect(conn)
