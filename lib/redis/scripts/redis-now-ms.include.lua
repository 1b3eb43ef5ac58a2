--[[
  Redis's own clock in milliseconds: the one clock every worker and API process shares, so
  due times, leases and buckets never depend on a host's clock.
]]
local function redisNowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
