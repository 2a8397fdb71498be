-- GET /v1/runs with status + tag + time-window filters (one page of 50).
dofile("common.lua")
local data

function init(args) data = bench.init(args) end

function request() return bench.get("/v1/runs?" .. bench.pick(data.lists)) end
