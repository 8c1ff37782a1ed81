-- inbound.lua - inbound mail (external client 192.0.2.1, no AUTH, an
-- ordinary {daemon_name}) is not modified at all, even with a From in a
-- domain sendguard signs for.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn, r = sg.open({ host = "mx.sender.example", ip = "192.0.2.1",
                          helo = "mx.sender.example" })
if r ~= SMFIR_CONTINUE then
    -- the filter may let the whole connection go at once
    sg.check(sg.accepted(r), "connect: reply %s, expected continue or accept", sg.reply_name(r))
else
    local msg = sg.invoice("ceo@example.nl")
    msg.from = "<ceo@example.nl>"
    msg.rcpts = { "<staff@example.nl>" }
    local r, stage = sg.message(conn, msg)
    sg.check_untouched(conn, r, stage)
end
mt.disconnect(conn)
