-- driver.lua - what run.sh hands to miltertest: loads lib.lua, then runs the
-- case script (global sg_script) under xpcall.
--
-- Debian's miltertest (OpenDKIM 2.11) exits 1 on a Lua error but prints
-- nothing about it; here every error - a failed check, an error raised by an
-- mt.* function, a typo - is printed to stderr with a traceback first.
dofile(sg_lib)

if sg_script == nil then
    io.stderr:write("driver.lua: global sg_script not set: run tests through run.sh\n")
    error("sg_script not set", 0)
end

local ok, err = xpcall(dofile, debug.traceback, sg_script)
if not ok then
    io.stderr:write(sg_script .. ": " .. tostring(err) .. "\n")
    error(err, 0)
end
mt.echo("PASS: " .. sg_script)
