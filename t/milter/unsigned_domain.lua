-- unsigned_domain.lua - outgoing mail whose From domain has no key
-- (example.org) is let through unsigned.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local r, stage = sg.message(conn, sg.invoice("info@example.org"))
sg.check_unsigned(conn, r, stage)
mt.disconnect(conn)
