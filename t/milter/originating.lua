-- originating.lua - {daemon_name} ORIGINATING (Postfix's
-- milter_macro_daemon_name on the submission service) makes an external
-- client outgoing: signed.  The same client through a daemon not in
-- originating_daemons is not signed.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn = sg.open({ host = "dsl-7.isp.example", ip = "198.51.100.7",
                       macros = { ["{daemon_name}"] = "ORIGINATING" } })
local r, stage = sg.message(conn, sg.invoice("accounts@example.com"))
sg.check_signed(conn, r, stage, "example.com", { { "s1", "rsa-sha256" } })
mt.disconnect(conn)

conn, r = sg.open({ host = "dsl-7.isp.example", ip = "198.51.100.7",
                    macros = { ["{daemon_name}"] = "smtpd" } })
if r == SMFIR_CONTINUE then
    r, stage = sg.message(conn, sg.invoice("accounts@example.com"))
    sg.check_unsigned(conn, r, stage)
else
    sg.check(sg.accepted(r), "connect: reply %s", sg.reply_name(r))
end
mt.disconnect(conn)
