-- POST /v1/experiments/{id}/runs into open experiments (with an Idempotency-Key if IDEM=1).
dofile("common.lua")
local data

function init(args) data = bench.init(args) end

function request() return bench.create(bench.pick(data.experiments)) end
