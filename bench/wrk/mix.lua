-- 50% get run, 20% filtered list, 20% create run, 10% transition (start or finish of runs this
-- script created; a create when none is pending).
dofile("common.lua")
local data

function init(args) data = bench.init(args) end

function request()
   local r = math.random()
   if r < 0.5 then return bench.get("/v1/runs/" .. bench.pick(data.runs)) end
   if r < 0.7 then return bench.get("/v1/runs?" .. bench.pick(data.lists)) end
   if r < 0.9 then return bench.create(bench.pick(data.experiments)) end
   return bench.next_transition() or bench.create(bench.pick(data.experiments))
end

function response(status, headers, body) bench.follow(status, body) end
