"""
The Lua scripts L{tchat.cluster.redis.RedisBus} runs in Redis: every change
that reads before it writes is one script, so it is atomic (two nodes
claiming a name at once are served one after the other). The keys they use
are described in L{tchat.cluster.redis}. START and RENEW also return Redis's
run id (``INFO server``), by which a node sees that Redis restarted.
"""

from __future__ import annotations

__all__ = ["CLAIM", "COUNT", "LEAVE", "REAP", "RELEASE", "RENEW", "START"]

_RUN_ID = "local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''\n"

# Frees every name KEYS[names] lists for node ARGV[node]; `freed` gets their keys.
_REAP_BODY = """
local freed = {}
for _, key in ipairs(redis.call('SMEMBERS', names)) do
  local hash = name_prefix .. key
  if redis.call('HDEL', hash, node) == 1 then
    freed[#freed + 1] = key
    if redis.call('HLEN', hash) <= 1 then redis.call('DEL', hash) end
  end
end
redis.call('DEL', names)
"""

# KEYS: lease. ARGV: token, ms.
START = _RUN_ID + """
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  return {'taken', run_id}
end
return {'held', run_id}
"""

# KEYS: lease, names. ARGV: token, ms, run id seen last, fresh token, node, name prefix.
# "restarted" when Redis's run id is not the one seen last (it restarted);
# "lost" when our token is gone from the same Redis: the names still under
# this node are freed (the others may not have reaped them yet) and the lease
# is taken afresh with a new token; "taken" when another token holds it.
RENEW = _RUN_ID + """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if run_id ~= ARGV[3] then return {'restarted', run_id} end
  return {'renewed', run_id}
end
if held then return {'taken', run_id} end
if run_id ~= ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {'restarted', run_id}
end
local names, node, name_prefix = KEYS[2], ARGV[5], ARGV[6]
""" + _REAP_BODY + """
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[2])
return {'lost', run_id}
"""

# KEYS: lease, name hash, names. ARGV: token, node, account ("1"/"0"), key.
CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local account = redis.call('HGET', KEYS[2], 'account')
if account == false then
  redis.call('HSET', KEYS[2], 'account', ARGV[3], ARGV[2], '1')
elseif account == '1' and ARGV[3] == '1' then
  redis.call('HSET', KEYS[2], ARGV[2], '1')
else
  return 0
end
redis.call('SADD', KEYS[3], ARGV[4])
return 1
"""

# KEYS: name hash, names. ARGV: node, key.
RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) <= 1 then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: names. ARGV: node, name prefix.
REAP = "local names, node, name_prefix = KEYS[1], ARGV[1], ARGV[2]\n" + _REAP_BODY + "return freed\n"

# KEYS: lease, names. ARGV: token, node, name prefix. Frees nothing if
# another process now holds this node's name (its names are its own).
LEAVE = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
local names, node, name_prefix = KEYS[2], ARGV[2], ARGV[3]
""" + _REAP_BODY + """
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: counter. ARGV: ms.
COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""

