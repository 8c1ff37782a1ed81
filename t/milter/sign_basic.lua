-- sign_basic.lua - outgoing mail from an internal client is signed.
--
-- Client 127.0.0.1 is in internal_hosts, the From domain example.nl has keys:
-- a DKIM-Signature with d=example.nl and s=rsa2026 is inserted or added and the
-- reply is continue or accept.  A second message on the same connection, from
-- example.com, gets exactly its own signature (d=example.com, s=s1): nothing
-- of the first message carries over.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn, r = sg.open({ host = "localhost", ip = "127.0.0.1" })
sg.check(r == SMFIR_CONTINUE, "connect: reply %s, expected continue", sg.reply_name(r))

local r, stage = sg.message(conn, sg.invoice("accounts@example.nl"))
local sigs = sg.check_signed(conn, r, stage, "example.nl",
                             { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
mt.echo("example.nl: " .. sg.find_signature(sigs, "rsa2026").value)

r, stage = sg.message(conn, sg.invoice("billing@example.com", { queue_id = "4XTEST0002" }))
sigs = sg.check_signed(conn, r, stage, "example.com", { { "s1", "rsa-sha256" } })
mt.echo("example.com: " .. sigs[1].value)

mt.disconnect(conn)
