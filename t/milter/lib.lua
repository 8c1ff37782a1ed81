-- lib.lua - helpers shared by sendguard's miltertest scripts.
--
-- Loaded by every script with dofile(sg_lib); run.sh defines the globals
-- socket, sg_lib and sg_dir.  The helpers drive one SMTP connection the way
-- Postfix does (macros before the command they belong to), respect what the
-- filter negotiated (steps it switched off are not sent, steps without a
-- reply are not waited for), stop a message where the filter ends it early,
-- and check the modifications requested at end of message.
--
-- miltertest facts these helpers depend on (Debian's miltertest 1.6.0,
-- OpenDKIM 2.11; checked against opendkim and a libmilter filter that
-- negotiates every SMFIP_NR_* step and SMFIP_HDR_LEADSPC):
--  * sg.open() negotiates explicitly (mt.negotiate with nil = miltertest's
--    defaults, which offer every step option).  miltertest then waits for no
--    reply on steps the filter marked SMFIP_NR_*, and mt.getreply() returns
--    SMFIR_CONTINUE for them; under SMFIP_HDR_LEADSPC mt.header() adds the
--    leading space itself, so values are given without it.
--  * A step the filter switched off (SMFIP_NOHELO, SMFIP_NODATA, ...) raises
--    a Lua error when called ("mt.helo(): negotiated SMFIP_NOHELO"); the
--    helpers ask mt.test_option() and skip it.
--  * Any step a script leaves out before end of message is filled in with
--    miltertest's defaults, among them "From: <sender@example.com>", client
--    12.34.56.78 and "Dummy message body." - so every message here sends
--    every step itself.
--  * mt.eom_check(MT_HDRINSERT/MT_HDRADD, name, value) compares values
--    exactly; mt.getheader(conn, name, n) returns the n-th added or inserted
--    value (the last one first), leading space included.
--  * A Lua error makes miltertest exit 1 without printing it: driver.lua
--    prints it.

sg = {}

local reply_names = {
    [SMFIR_CONTINUE] = "continue", [SMFIR_ACCEPT] = "accept",
    [SMFIR_REJECT] = "reject", [SMFIR_TEMPFAIL] = "tempfail",
    [SMFIR_DISCARD] = "discard", [SMFIR_REPLYCODE] = "replycode",
}
if SMFIR_SKIP ~= nil then reply_names[SMFIR_SKIP] = "skip" end

-- sg.fail - fail the test with a formatted message
function sg.fail(fmt, ...)
    error("FAIL: " .. string.format(fmt, ...), 0)
end

-- sg.reply_name - a milter reply code as a word ("accept"), for messages
function sg.reply_name(r)
    if r == nil then return "nil" end
    local n = reply_names[r]
    if n ~= nil then return n end
    if r > 32 and r < 127 then return string.format("'%s'", string.char(r)) end
    return tostring(r)
end

-- sg.check - fail with a formatted message unless cond holds
function sg.check(cond, fmt, ...)
    if not cond then sg.fail(fmt, ...) end
end

-- step_ok - did a protocol step go through?  nil, or an error string
local function step_ok(what, err)
    if err ~= nil then sg.fail("%s: %s", what, tostring(err)) end
end

-- negotiated_away - did the filter switch this step off (SMFIP_NO*)?
local function negotiated_away(conn, opt)
    return opt ~= nil and mt.test_option(conn, opt)
end

-- sg.open - connect, negotiate explicitly, send connect macros and the
-- connection information (and HELO).  client = {
--   host = "localhost", ip = "127.0.0.1",
--   macros = { ["{daemon_name}"] = "ORIGINATING", ... }  (SMFIC_CONNECT)
--   helo = "client.example" }
-- Returns the connection and the reply to connect.
function sg.open(client)
    client = client or {}
    if socket == nil then sg.fail("global 'socket' not set: run this script through run.sh") end
    -- the socket exists already (run.sh waited); retry briefly anyway
    local conn = mt.connect(socket, 20, 0.25)
    if conn == nil then sg.fail("mt.connect(%s) failed", socket) end
    step_ok("mt.negotiate", mt.negotiate(conn, nil, nil, nil))
    -- mt.negotiate returns nil also when the filter answered something
    -- other than SMFIC_OPTNEG; only then is the reply left unset
    sg.check(mt.getreply(conn) == string.byte("O"),
             "option negotiation failed (reply %s)", sg.reply_name(mt.getreply(conn)))

    -- what Postfix sends by default (milter_connect_macros), then the
    -- script's own; a value of false leaves a macro out
    local defaults = { j = "mail.example.nl", ["{daemon_name}"] = "smtpd",
                       ["{client_addr}"] = client.ip or "127.0.0.1",
                       ["{client_name}"] = client.host or "localhost" }
    for k, v in pairs(client.macros or {}) do defaults[k] = v end
    local macros = {}
    for k, v in pairs(defaults) do
        if v then
            macros[#macros + 1] = k
            macros[#macros + 1] = v
        end
    end
    step_ok("mt.macro(SMFIC_CONNECT)", mt.macro(conn, SMFIC_CONNECT, table.unpack(macros)))

    if not negotiated_away(conn, SMFIP_NOCONNECT) then
        step_ok("mt.conninfo", mt.conninfo(conn, client.host or "localhost", client.ip or "127.0.0.1"))
    end
    local r = mt.getreply(conn)
    if r ~= SMFIR_CONTINUE then return conn, r end
    if not negotiated_away(conn, SMFIP_NOHELO) then
        step_ok("mt.helo", mt.helo(conn, client.helo or "client.example.nl"))
        r = mt.getreply(conn)
    end
    return conn, r
end

-- sg.message - send one message on an open connection.  msg = {
--   mail_macros = { ["{auth_authen}"] = "alice", ... }   (SMFIC_MAIL)
--   from = "<a@example.nl>", rcpts = { "<b@example.net>" },
--   headers = { {"From", "a@example.nl"}, ... },   values without the
--             leading space (miltertest adds it under SMFIP_HDR_LEADSPC)
--   body = "text\r\n" }
-- Returns the final reply and the stage that gave it ("eom" normally; an
-- earlier stage when the filter ended the message there, e.g. "accept" at
-- "mail" for mail it does not care about).
function sg.message(conn, msg)
    local r
    local qid = msg.queue_id or "4XTEST0001"
    local m = { "{mail_addr}", ((msg.from or "<>"):gsub("^<(.*)>$", "%1")) }
    for k, v in pairs(msg.mail_macros or {}) do
        m[#m + 1] = k
        m[#m + 1] = v
    end
    step_ok("mt.macro(SMFIC_MAIL)", mt.macro(conn, SMFIC_MAIL, table.unpack(m)))
    if not negotiated_away(conn, SMFIP_NOMAIL) then
        step_ok("mt.mailfrom", mt.mailfrom(conn, msg.from or "<>"))
        r = mt.getreply(conn)
        if r ~= SMFIR_CONTINUE then return r, "mail" end
    end

    for _, rcpt in ipairs(msg.rcpts or { "<customer@example.net>" }) do
        if not negotiated_away(conn, SMFIP_NORCPT) then
            step_ok("mt.macro(SMFIC_RCPT)", mt.macro(conn, SMFIC_RCPT, "{rcpt_addr}",
                                                  (rcpt:gsub("^<(.*)>$", "%1"))))
            step_ok("mt.rcptto", mt.rcptto(conn, rcpt))
            r = mt.getreply(conn)
            if r ~= SMFIR_CONTINUE then return r, "rcpt" end
        end
    end

    -- the queue id arrives with DATA and end of message (Postfix's
    -- milter_data_macros and milter_end_of_data_macros), not earlier
    if SMFIP_NODATA ~= nil and not negotiated_away(conn, SMFIP_NODATA) then
        step_ok("mt.macro(DATA)", mt.macro(conn, string.byte("T"), "i", qid))
        step_ok("mt.data", mt.data(conn))
        r = mt.getreply(conn)
        if r ~= SMFIR_CONTINUE then return r, "data" end
    end

    if not negotiated_away(conn, SMFIP_NOHDRS) then
        for _, h in ipairs(msg.headers or {}) do
            step_ok("mt.header(" .. h[1] .. ")", mt.header(conn, h[1], h[2]))
            r = mt.getreply(conn)
            if r ~= SMFIR_CONTINUE then return r, "header " .. h[1] end
        end
    end

    if not negotiated_away(conn, SMFIP_NOEOH) then
        step_ok("mt.eoh", mt.eoh(conn))
        r = mt.getreply(conn)
        if r ~= SMFIR_CONTINUE then return r, "eoh" end
    end

    if not negotiated_away(conn, SMFIP_NOBODY) then
        step_ok("mt.bodystring", mt.bodystring(conn, msg.body or "Hello.\r\n"))
        r = mt.getreply(conn)
        -- SMFIR_SKIP: the filter wants no more body; go on to end of message
        if r ~= SMFIR_CONTINUE and r ~= SMFIR_SKIP then return r, "body" end
    end

    step_ok("mt.macro(EOM)", mt.macro(conn, string.byte("E"), "i", qid))
    step_ok("mt.eom", mt.eom(conn))
    return mt.getreply(conn), "eom"
end

-- sg.invoice - a typical outgoing message from addr (an invoice from
-- bookkeeping software), with Date and Message-ID so nothing needs repair
function sg.invoice(addr, extra)
    local msg = {
        from = "<" .. addr .. ">",
        rcpts = { "<customer@example.net>" },
        headers = {
            { "From", "Accounts <" .. addr .. ">" },
            { "To", "customer@example.net" },
            { "Subject", "Invoice 2026-0042" },
            { "Date", "Tue, 03 Mar 2026 10:15:00 +0100" },
            { "Message-ID", "<invoice-2026-0042@example.test>" },
            { "MIME-Version", "1.0" },
            { "Content-Type", "text/plain; charset=utf-8" },
        },
        body = "Dear customer,\r\n\r\nPlease find invoice 2026-0042 below.\r\n\r\nRegards,\r\nAccounts\r\n",
    }
    for k, v in pairs(extra or {}) do msg[k] = v end
    return msg
end

-- sg.phishing - a phishing-like invoice from accounts@example.nl that the
-- shipped rules score far above quarantine_at (spoofed display name, urgent
-- payment demand, link text showing another domain, "factuur.pdf.exe");
-- subject: the Subject value (default "URGENT: factuur 2026-0042 direct
-- betalen"); extra fields as for sg.invoice
function sg.phishing(subject, extra)
    local msg = sg.invoice("accounts@example.nl", {
        headers = {
            { "From", "\"facturen@bank.nl\" <accounts@example.nl>" },
            { "To", "customer@example.net" },
            { "Subject", subject or "URGENT: factuur 2026-0042 direct betalen" },
            { "Date", os.date("!%a, %d %b %Y %H:%M:%S +0000") },
            { "Message-ID", "<phish-2026-0042@example.nl>" },
            { "MIME-Version", "1.0" },
            { "Content-Type", "multipart/mixed; boundary=\"b1\"" },
        },
        body = "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" ..
               "<p>Uw factuur is onmiddellijk verschuldigd. Betaal via " ..
               "<a href=\"http://198.51.100.7/pay\">https://www.mijnbank.nl/betalen</a></p>\r\n" ..
               "--b1\r\nContent-Type: application/octet-stream\r\n" ..
               "Content-Disposition: attachment; filename=\"factuur.pdf.exe\"\r\n" ..
               "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n",
    })
    for k, v in pairs(extra or {}) do msg[k] = v end
    return msg
end

-- sg.accepted - is r a reply that lets the message through unchanged in
-- status (continue or accept)?
function sg.accepted(r)
    return r == SMFIR_CONTINUE or r == SMFIR_ACCEPT
end

-- sg.dkim_tags - parse a DKIM-Signature value into a table of tag = value
-- (all folding whitespace removed, as RFC 6376 3.2 allows)
function sg.dkim_tags(value)
    local t = {}
    local v = value:gsub("%s+", "")
    for pair in (v .. ";"):gmatch("([^;]*);") do
        local k, val = pair:match("^([%w_]+)=(.*)$")
        if k ~= nil then t[k] = val end
    end
    return t
end

-- sg.signatures - the DKIM-Signature fields added or inserted at end of
-- message, each as { value = raw value, tags = parsed tags }
function sg.signatures(conn)
    local sigs = {}
    local n = 0
    while true do
        local v = mt.getheader(conn, "DKIM-Signature", n)
        if v == nil then break end
        sigs[#sigs + 1] = { value = v, tags = sg.dkim_tags(v) }
        n = n + 1
    end
    return sigs
end

-- sg.check_signature - fail unless sig is a well-formed DKIM-Signature
-- with d=domain and s=selector (and a=alg when given)
function sg.check_signature(sig, domain, selector, alg)
    local t = sig.tags
    local function need(cond, what)
        if not cond then sg.fail("DKIM-Signature %s: %s", what, sig.value) end
    end
    -- A milter hands header values to the MTA with bare LF line breaks: a CR
    -- would reach the wire as CR CR LF and break the signature at receivers.
    need(sig.value:find("\r", 1, true) == nil, "contains a carriage return")
    need(t.v == "1", "v= is not 1")
    need(t.d ~= nil and t.d:lower() == domain, "d= is not " .. domain)
    need(t.s == selector, "s= is not " .. selector)
    if alg ~= nil then need(t.a == alg, "a= is not " .. alg) end
    need(t.a == "rsa-sha256" or t.a == "ed25519-sha256", "a= is not rsa-sha256 or ed25519-sha256")
    need(t.bh ~= nil and t.bh:match("^[%w+/]+=*$") ~= nil and #t.bh == 44,
         "bh= is not a base64 SHA-256 digest")
    need(t.b ~= nil and t.b:match("^[%w+/]+=*$") ~= nil, "b= is missing or not base64")
    if t.a == "rsa-sha256" then
        need(#t.b == 344, "b= is not a 2048-bit RSA signature")
    elseif t.a == "ed25519-sha256" then
        need(#t.b == 88, "b= is not an Ed25519 signature")
    end
    need(t.h ~= nil and (":" .. t.h:lower() .. ":"):find(":from:", 1, true) ~= nil,
         "h= does not sign From")
end

-- sg.find_signature - the one signature with s=selector, or fail
function sg.find_signature(sigs, selector)
    local found
    for _, s in ipairs(sigs) do
        if s.tags.s == selector then
            sg.check(found == nil, "two DKIM-Signatures with s=%s", selector)
            found = s
        end
    end
    sg.check(found ~= nil, "no DKIM-Signature with s=%s among %d", selector, #sigs)
    return found
end

-- sg.check_signed - the message ended at eom with continue/accept and was
-- signed with exactly the given selectors of domain (list of {selector, alg})
function sg.check_signed(conn, r, stage, domain, keys)
    sg.check(stage == "eom", "message ended at %s with %s, expected it to reach end of message",
             stage, sg.reply_name(r))
    sg.check(sg.accepted(r), "end of message: reply %s, expected continue or accept",
             sg.reply_name(r))
    sg.check(mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") or
             mt.eom_check(conn, MT_HDRADD, "DKIM-Signature"),
             "no DKIM-Signature inserted or added")
    local sigs = sg.signatures(conn)
    sg.check(#sigs == #keys, "%d DKIM-Signature(s), expected %d", #sigs, #keys)
    for _, k in ipairs(keys) do
        sg.check_signature(sg.find_signature(sigs, k[1]), domain, k[1], k[2])
    end
    return sigs
end

-- sg.check_unsigned - the message was let through (continue/accept, at eom
-- or earlier) without a DKIM-Signature
function sg.check_unsigned(conn, r, stage)
    sg.check(sg.accepted(r), "%s: reply %s, expected continue or accept",
             stage, sg.reply_name(r))
    sg.check(not mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") and
             not mt.eom_check(conn, MT_HDRADD, "DKIM-Signature"),
             "a DKIM-Signature was added: %s", tostring(mt.getheader(conn, "DKIM-Signature", 0)))
    sg.check(not mt.eom_check(conn, MT_QUARANTINE), "the message was quarantined")
end

-- sg.check_untouched - continue/accept and no modification at all
function sg.check_untouched(conn, r, stage)
    sg.check_unsigned(conn, r, stage)
    local ops = { MT_HDRADD = MT_HDRADD, MT_HDRINSERT = MT_HDRINSERT,
                  MT_HDRCHANGE = MT_HDRCHANGE, MT_BODYCHANGE = MT_BODYCHANGE }
    for name, op in pairs(ops) do
        sg.check(not mt.eom_check(conn, op), "unexpected modification %s", name)
    end
end
