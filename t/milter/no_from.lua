-- no_from.lua - outgoing mail without a From header cannot be signed
-- (RFC 6376 5.4: From must be signed); it is let through unsigned, not
-- rejected and not tempfailed.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local msg = sg.invoice("accounts@example.nl")
local headers = {}
for _, h in ipairs(msg.headers) do
    if h[1] ~= "From" then headers[#headers + 1] = h end
end
msg.headers = headers
local r, stage = sg.message(conn, msg)
sg.check(r ~= SMFIR_REJECT and r ~= SMFIR_TEMPFAIL and r ~= SMFIR_REPLYCODE,
         "%s: reply %s: a message without From must not be refused", stage, sg.reply_name(r))
sg.check_unsigned(conn, r, stage)
mt.disconnect(conn)
