-- scoring.lua - the content score decides what happens to outgoing mail.
-- One phishing-like invoice (sg.phishing: spoofed display name, urgent payment
-- demand, link text showing another domain, "factuur.pdf.exe") and, for contrast, an
-- ordinary invoice on the same connection.  What is expected depends on the
-- thresholds run.sh set (--define expect=...):
--   reject      reject_at = 8: 550 5.7.1 with the heaviest reasons in the text
--   quarantine  defaults (quarantine_at = 8): discarded for the MTA, unsigned,
--               stored in the database (the log names its quarantine id)
--   tag         tag_at = 3 and tag_header set: accepted, signed, header added
-- The ordinary invoice is always accepted, signed and untagged.
-- run by run.sh through driver.lua, which has loaded lib.lua (sg.*)

local conn = sg.open({ host = "localhost", ip = "127.0.0.1" })
local bad = sg.phishing()
local r, stage = sg.message(conn, bad)
sg.check(stage == "eom", "the message stopped at %s, expected end of message", stage)
if expect == "reject" then
    sg.check(r == SMFIR_REPLYCODE, "eom: reply %s, expected a 550 rejection", sg.reply_name(r))
    -- miltertest 1.6 matches MT_SMTPREPLY only against code, enhanced code and
    -- the whole text, which is built from the rules; the text is unit-tested
    -- (test_pipeline), here the daemon's log line must say why.
    local f = io.open(sg_dir .. "/sendguard.log")
    local log = f and f:read("a") or ""
    if f then f:close() end
    sg.check(log:find("4XTEST0001: [^\n]*hits=[^\n]*double_extension[^\n]*action=reject") ~= nil,
             "the log does not record the rejection with its reasons:\n%s", log)
    sg.check(next(sg.signatures(conn)) == nil, "a rejected message must not be signed")
elseif expect == "quarantine" then
    sg.check(r == SMFIR_DISCARD, "eom: reply %s, expected discard (held in the quarantine)",
             sg.reply_name(r))
    sg.check(next(sg.signatures(conn)) == nil, "a quarantined message must not be signed")
    local f = io.open(sg_dir .. "/sendguard.log")
    local log = f and f:read("a") or ""
    if f then f:close() end
    sg.check(log:find("4XTEST0001: [^\n]*action=quarantine quarantine_id=1\n") ~= nil,
             "the log does not record where the message was quarantined:\n%s", log)
else
    local sigs = sg.check_signed(conn, r, stage, "example.nl",
                                 { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
    local tagged = mt.eom_check(conn, MT_HDRADD, "X-Sendguard-Score")
    if expect == "tag" then
        sg.check(tagged, "no X-Sendguard-Score header on a message above tag_at")
        local v = mt.getheader(conn, "X-Sendguard-Score", 0)
        sg.check(v ~= nil and v:find("score=", 1, true) and v:find("double_extension", 1, true),
                 "X-Sendguard-Score does not name the score and rules: %s", tostring(v))
    else
        sg.check(not tagged, "a tag header although tag_header is off")
    end
end

local ok, stage2 = sg.message(conn, sg.invoice("accounts@example.nl",
    { queue_id = "4XTEST0002", headers = {
        { "From", "Accounts <accounts@example.nl>" },
        { "To", "customer@example.net" },
        { "Subject", "Invoice 2026-0043" },
        { "Date", os.date("!%a, %d %b %Y %H:%M:%S +0000") },
        { "Message-ID", "<invoice-2026-0043@example.nl>" },
        { "MIME-Version", "1.0" },
        { "Content-Type", "text/plain; charset=utf-8" },
    } }))
sg.check_signed(conn, ok, stage2, "example.nl",
                { { "rsa2026", "rsa-sha256" }, { "ed2026", "ed25519-sha256" } })
sg.check(not mt.eom_check(conn, MT_HDRADD, "X-Sendguard-Score"),
         "an ordinary invoice was tagged")
mt.disconnect(conn)
