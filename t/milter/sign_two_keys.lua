-- sign_two_keys.lua - a domain with an RSA and an Ed25519 key gets two
-- signatures: a=rsa-sha256 s=rsa2026 and a=ed25519-sha256 s=ed2026, both d=example.nl.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn, r = sg.open({ host = "localhost", ip = "127.0.0.1" })
local r, stage = sg.message(conn, sg.invoice("accounts@example.nl"))
local sigs = sg.check_signed(conn, r, stage, "example.nl",
                             { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
-- both cover the same body
local rsa, ed = sg.find_signature(sigs, "rsa2026"), sg.find_signature(sigs, "ed2026")
sg.check(rsa.tags.bh == ed.tags.bh, "the two signatures disagree on bh=: %s vs %s",
         rsa.tags.bh, ed.tags.bh)
for _, s in ipairs(sigs) do mt.echo(s.value) end
mt.disconnect(conn)
