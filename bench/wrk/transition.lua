-- Lifecycle cycles: create a run, start it, finish it. Each response schedules the run's next
-- action, so about a third of the requests are creates and two thirds transitions.
dofile("common.lua")
local data

function init(args) data = bench.init(args) end

function request()
   return bench.next_transition() or bench.create(bench.pick(data.experiments))
end

function response(status, headers, body) bench.follow(status, body) end
