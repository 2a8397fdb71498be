-- GET /v1/runs/{id} over a pool of existing run ids.
dofile("common.lua")
local data

function init(args) data = bench.init(args) end

function request() return bench.get("/v1/runs/" .. bench.pick(data.runs)) end
