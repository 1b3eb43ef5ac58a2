--[[
  Takes a token from a token bucket (bucket.include.lua) in one script, so every API replica
  shares the bucket and none can slip between another's read and write.
  KEYS[1] the bucket
  ARGV[1] rate: tokens added per second (> 0)
  ARGV[2] burst: most tokens held (>= 1)
  ARGV[3] cost: 1 takes a token when at least one is there; 0 only looks and writes nothing
  Returns: {allowed (1 or 0), whole tokens left, ms until one token when refused (else 0),
            ms until the bucket is full}
]]
--#include bucket
local allowed, left, retry, full = bucket(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  redisNowMs())
return {allowed, left, retry, full}
