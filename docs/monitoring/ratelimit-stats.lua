-- Collect script for prometheus-redis-exporter (`-script` option): returns RL.METRICS's
-- numeric fields as name/value pairs, which the exporter publishes as
-- redis_script_values{key="<field>"}, plus module_loaded (1 or 0). The text `version`
-- is left out. RL.METRICS is RL.STATS without the most-denied key names (key names stay
-- out of metrics) and without RESET, so the exporter's user (redis.conf: monitor) can
-- neither see a key name nor clear a counter.
-- Without the module, the script still succeeds with module_loaded 0: a failing script
-- would make the exporter report the whole server down (redis_up 0).
local reply = redis.pcall('RL.METRICS')
if type(reply) == 'table' and reply.err then
  return {'module_loaded', '0'}
end
local out = {'module_loaded', '1'}
for i = 1, #reply, 2 do
  local value = reply[i + 1]
  if type(value) ~= 'table' and tonumber(value) ~= nil then
    out[#out + 1] = reply[i]
    out[#out + 1] = tostring(value)
  end
end
return out
