-- auth.lua - a client that authenticated (SMTP AUTH: {auth_authen} at MAIL
-- FROM) is outgoing even from an external address: the message is signed.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn = sg.open({ host = "dsl-7.isp.example", ip = "198.51.100.7",
                       helo = "laptop" })
local msg = sg.invoice("accounts@example.com", {
    mail_macros = { ["{auth_authen}"] = "accounts", ["{auth_type}"] = "PLAIN" } })
local r, stage = sg.message(conn, msg)
sg.check_signed(conn, r, stage, "example.com", { { "s1", "rsa-sha256" } })
mt.disconnect(conn)
