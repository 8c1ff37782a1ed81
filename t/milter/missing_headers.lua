-- missing_headers.lua - an invoice without Date and Message-ID (as some
-- bookkeeping software sends it, from a client Postfix does not add them
-- for): sendguard adds both at the end of the header and its signatures
-- cover them; a message that has both gets nothing added.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local bare = sg.invoice("accounts@example.nl", {
    headers = {
        { "From", "Accounts <accounts@example.nl>" },
        { "To", "customer@example.net" },
        { "Subject", "Invoice 2026-0044" },
        { "MIME-Version", "1.0" },
        { "Content-Type", "text/plain; charset=utf-8" },
    },
})
local r, stage = sg.message(conn, bare)
local sigs = sg.check_signed(conn, r, stage, "example.nl",
                             { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
sg.check(mt.eom_check(conn, MT_HDRADD, "Date"), "no Date header added")
sg.check(mt.eom_check(conn, MT_HDRADD, "Message-ID"), "no Message-ID header added")
local date = mt.getheader(conn, "Date", 0)
local msgid = mt.getheader(conn, "Message-ID", 0)
sg.check(date ~= nil and date:match("^ ?%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d %+0000$") ~= nil,
         "the added Date is not an RFC 5322 date: %s", tostring(date))
sg.check(msgid ~= nil and msgid:match("^ ?<[%w.]+@example%.nl>$") ~= nil,
         "the added Message-ID is not <...@example.nl>: %s", tostring(msgid))
for _, s in ipairs(sigs) do
    local h = ":" .. s.tags.h:lower():gsub("%s", "") .. ":"
    sg.check(h:find(":date:", 1, true) and h:find(":message-id:", 1, true),
             "s=%s does not sign the added Date and Message-ID: h=%s", s.tags.s, s.tags.h)
end

local ok, stage2 = sg.message(conn, sg.invoice("accounts@example.nl", { queue_id = "4XTEST0002" }))
sg.check_signed(conn, ok, stage2, "example.nl",
                { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
sg.check(not mt.eom_check(conn, MT_HDRADD, "Date"), "a Date was added to a message that had one")
sg.check(not mt.eom_check(conn, MT_HDRADD, "Message-ID"),
         "a Message-ID was added to a message that had one")
mt.disconnect(conn)
