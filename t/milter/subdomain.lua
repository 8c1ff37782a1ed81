-- subdomain.lua - From a@shop.example.nl, a subdomain without keys of its
-- own.  run.sh --define expect=signed (with sign_subdomains = true): signed
-- with the keys of example.nl, d=example.nl.  expect=unsigned (false): not
-- signed.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

sg.check(expect == "signed" or expect == "unsigned",
         "define expect=signed or expect=unsigned (got %s)", tostring(expect))
local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local r, stage = sg.message(conn, sg.invoice("orders@shop.example.nl"))
if expect == "signed" then
    sg.check_signed(conn, r, stage, "example.nl",
                    { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
else
    sg.check_unsigned(conn, r, stage)
end
mt.disconnect(conn)
