-- Rolling-window limits of one key: admit, usage, settle and release in one atomic step each.
-- Every key touched carries the key's hash tag, so the script stays atomic on Redis Cluster.
-- Time comes from ARGV (never TIME) so callers and tests control it.
--
-- KEYS[1] reservations hash (request id -> "admit_ms|estimate|w1,w2"; a replica's lease ->
--         "admit_ms|tokens|w1,w2|slots")
-- KEYS[2] reservation expiry zset (request id or lease -> expires_at_ms)
-- KEYS[3] settled marker of the request
-- KEYS[4] ledger stream
-- KEYS[5..] one bucket hash per window ("<bucket index>:<metric>" -> amount); settle_many
--         declares the markers of its settlements first, then the windows
-- ARGV[1] op, ARGV[2] now_ms, ARGV[3] window key prefix; the rest depends on op.

local res_key, exp_key, done_key, ledger_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local prefix = ARGV[3]

-- Local aliases: a global lookup and a field lookup on every use add up in the hot loops.
local floor, max, min, format = math.floor, math.max, math.min, string.format

-- Redis converts Lua numbers to strings with %.14g; %d keeps large integers exact.
local function int(x)
  return format('%d', x)
end

local function bucket_ms(w)
  return max(floor(w / 60), 1)
end

local function expiry(idx, w)
  return (idx + 1) * bucket_ms(w) + w
end

-- Changes are staged per hash field and written by flush(), so a settlement in the bucket of its
-- admission writes one net delta per field instead of a removal and an addition.
local staged, staged_keys = {}, {}

-- Field names ("<bucket index>:<metric>") of this call. A settlement stages the same few fields
-- several times (the lease's hold, the request, its consumption); formatting a number is the
-- dearest step of staging, so each name is built once.
local SUFFIX = { ':0', ':1', ':2', ':3', ':4' }
local ONE_REQUEST = { 1, 0, 0, 0, 0 }
local field_names = {}

local function field(idx, m)
  local code = idx * 8 + m
  local f = field_names[code]
  if not f then
    f = int(idx) .. SUFFIX[m]
    field_names[code] = f
  end
  return f
end

-- Stages sign * amounts for the bucket of `at`, unless that bucket already rolled out.
local function apply(key, w, at, amounts, sign)
  local b = bucket_ms(w)
  local idx = floor(at / b)
  if expiry(idx, w) <= now then
    return
  end
  local entry = staged[key]
  if not entry then
    entry = { ttl = w + 2 * b, fields = {}, order = {} }
    staged[key] = entry
    staged_keys[#staged_keys + 1] = key
  end
  local fields, order = entry.fields, entry.order
  for m = 1, 5 do
    local amount = amounts[m]
    if amount ~= 0 then
      local f = field(idx, m)
      local before = fields[f]
      if before == nil then
        before = 0
        order[#order + 1] = f
      end
      fields[f] = before + sign * amount
    end
  end
end

-- Writes the staged changes, in staging order.
local function flush()
  for _, key in ipairs(staged_keys) do
    local entry = staged[key]
    local wrote = false
    for _, f in ipairs(entry.order) do
      local delta = entry.fields[f]
      if delta ~= 0 then
        redis.call('HINCRBY', key, f, int(delta))
        wrote = true
      end
    end
    if wrote then
      redis.call('PEXPIRE', key, int(entry.ttl))
    end
  end
  staged, staged_keys = {}, {}
end

-- Splits a stored record: admission time, tokens, window lengths, request slots (1 unless a lease).
local function parse_rec(rec)
  local admit, est, ws, slots = string.match(rec, '^(%d+)|(%d+)|([^|]*)|?(%d*)$')
  return tonumber(admit), tonumber(est), ws, tonumber(slots) or 1
end

-- Stages sign * (slots requests, tokens input) in the buckets of `admit` of each listed window.
local function apply_held(ws, admit, slots, tokens, sign)
  local amounts = { slots, tokens, tokens, 0, 0 }
  for w in string.gmatch(ws, '%d+') do
    apply(prefix .. w, tonumber(w), admit, amounts, sign)
  end
end

-- Removes a stored reservation's (or lease's) amounts from the buckets it was counted in.
local function undo(rec)
  local admit, est, ws, slots = parse_rec(rec)
  apply_held(ws, admit, slots, est, -1)
end

-- Extends a key's expiry to at least `ms`: leases live seconds, reservations minutes.
local function expire_at_least(key, ms)
  if redis.call('PTTL', key) < ms then
    redis.call('PEXPIRE', key, int(ms))
  end
end

local function drop(id)
  redis.call('HDEL', res_key, id)
  redis.call('ZREM', exp_key, id)
end

-- Frees reservations whose holder never settled nor released them (a replica died).
local function purge()
  local ids = redis.call('ZRANGEBYSCORE', exp_key, '-inf', ARGV[2])
  for _, id in ipairs(ids) do
    local rec = redis.call('HGET', res_key, id)
    if rec then
      undo(rec)
    end
    drop(id)
  end
  flush()
end

-- Deletes rolled-out buckets and sums the live ones.
local function scan(key, w)
  local flat = redis.call('HGETALL', key)
  local buckets, order, dead = {}, {}, {}
  for i = 1, #flat, 2 do
    local f = flat[i]
    local sep = string.find(f, ':', 1, true)
    local idx = tonumber(string.sub(f, 1, sep - 1))
    local m = tonumber(string.sub(f, sep + 1)) + 1
    if expiry(idx, w) <= now then
      dead[#dead + 1] = f
    else
      local b = buckets[idx]
      if not b then
        b = { 0, 0, 0, 0, 0 }
        buckets[idx] = b
        order[#order + 1] = idx
      end
      b[m] = b[m] + max(tonumber(flat[i + 1]), 0)
    end
  end
  if #dead > 0 then
    redis.call('HDEL', key, unpack(dead))
  end
  table.sort(order)
  local used, resets = { 0, 0, 0, 0, 0 }, { now, now, now, now, now }
  for _, idx in ipairs(order) do
    local b, e = buckets[idx], expiry(idx, w)
    for m = 1, 5 do
      used[m] = used[m] + b[m]
      if b[m] > 0 and e > resets[m] then
        resets[m] = e
      end
    end
  end
  return { used = used, resets = resets, order = order, buckets = buckets }
end

-- Earliest instant at which metric m drops below limit as buckets roll out; -1 if never.
local function frees_at(st, w, m, limit)
  local remaining = st.used[m]
  if remaining < limit then
    return now
  end
  for _, idx in ipairs(st.order) do
    local a = st.buckets[idx][m]
    if a > 0 then
      remaining = remaining - min(a, remaining)
      if remaining < limit then
        return expiry(idx, w)
      end
    end
  end
  return -1
end

-- Reads `n` windows from ARGV after index `at`: per window its length, then 5 caps (-1 none).
local function windows(at, n)
  local ws = {}
  for j = 1, n do
    local base = at + (j - 1) * 6
    local caps = {}
    for m = 1, 5 do
      caps[m] = tonumber(ARGV[base + 1 + m])
    end
    ws[j] = { key = KEYS[4 + j], w = tonumber(ARGV[base + 1]), wtext = ARGV[base + 1], caps = caps }
  end
  return ws
end

-- Request slots one lease may hold in total, from sums that leave the lease itself out: at most
-- 1/k of any remaining headroom, so leases of all replicas together never reach a request cap.
-- Output tokens and cost are unknown until settlement, so every capped token or cost metric
-- must keep more than 1/k of its cap left. Below `minl` slots the key is admitted one by one.
local function lease_room(ws, states, per, maxl, minl, k)
  local room = maxl
  for j, win in ipairs(ws) do
    for m = 1, 5 do
      local cap = win.caps[m]
      if cap >= 0 then
        local left = cap - states[j].used[m]
        if m == 1 then
          room = min(room, floor(left / k))
        else
          if left * k <= cap then
            return 0
          end
          if (m == 2 or m == 3) and per > 0 then
            room = min(room, floor(left / (per * k)))
          end
        end
      end
    end
  end
  if room < minl then
    return 0
  end
  return room
end

-- Grows (delta > 0, bounded by lease_room) or shrinks (delta <= 0, giving back `back` tokens) the
-- lease `id`, re-stamping it at `now` with a fresh expiry. `states` count the lease; it is taken
-- out of them on the way, so the caller reports usage without this replica's lease. Returns nil
-- when `must` and the lease is gone (expired and purged), else granted, slots, tokens, expiry.
local function lease_grant(ws, states, id, delta, per, back, maxl, minl, k, ttl, must)
  local rec = redis.call('HGET', res_key, id)
  if must and not rec then
    return nil
  end
  local slots, tokens = 0, 0
  if rec then
    local _, t, lws, s = parse_rec(rec)
    slots, tokens = s, t
    for j, win in ipairs(ws) do
      if string.find(',' .. lws .. ',', ',' .. win.wtext .. ',', 1, true) then
        local u = states[j].used
        u[1], u[2], u[3] = u[1] - slots, u[2] - tokens, u[3] - tokens
      end
    end
    undo(rec)
    drop(id)
  end
  local granted = 0
  if delta > 0 then
    granted = max(min(delta, lease_room(ws, states, per, maxl, minl, k) - slots), 0)
    tokens = tokens + granted * per
  else
    granted = max(delta, -slots)
    tokens = max(tokens - back, 0)
  end
  slots = slots + granted
  local expires = now + ttl
  if slots > 0 then
    local lengths = {}
    for j, win in ipairs(ws) do
      lengths[j] = win.wtext
    end
    local lws = table.concat(lengths, ',')
    apply_held(lws, now, slots, tokens, 1)
    redis.call('HSET', res_key, id, ARGV[2] .. '|' .. int(tokens) .. '|' .. lws .. '|' .. int(slots))
    redis.call('ZADD', exp_key, int(expires), id)
    expire_at_least(res_key, 2 * ttl)
    expire_at_least(exp_key, 2 * ttl)
  else
    tokens = 0
  end
  flush()
  return granted, slots, tokens, expires
end

-- Appends every window's sums (used, then resets) to `out`.
local function sums(out, states)
  for j = 1, #states do
    for m = 1, 5 do
      out[#out + 1] = states[j].used[m]
    end
    for m = 1, 5 do
      out[#out + 1] = states[j].resets[m]
    end
  end
  return out
end

-- A settlement's arguments are ARGV[base + 1 .. last]: [1] marker ttl, [2] request id, [3]
-- admit ms, [4..8] amounts, [9] ledger maxlen (0 none), [10] lease it was carved from ('' none),
-- [11] its estimate, [12] window count n, [12 + 1..n] window lengths, then, with a ledger, the
-- record's values in LEDGER_FIELDS order (the names are the script's: sending them with every
-- settlement doubled its arguments). Values that do not pair up with the names are a caller's
-- bug, refused before anything is written.
local function check_item(base, last)
  local values = last - (base + 12 + tonumber(ARGV[base + 12]))
  if tonumber(ARGV[base + 9]) > 0 and values ~= #LEDGER_FIELDS then
    error('a settlement carries ' .. values .. ' ledger values, not ' .. #LEDGER_FIELDS)
  end
end

-- Counts one settlement (arguments as in check_item). Window changes are staged; the caller
-- flushes. Returns 1, or 0 when the request id was already settled.
local function settle_item(marker, base, last)
  local function arg(k)
    return ARGV[base + k]
  end
  if not redis.call('SET', marker, '1', 'PX', arg(1), 'NX') then
    return 0
  end
  local id = arg(2)
  local rec = redis.call('HGET', res_key, id)
  local lease = arg(10)
  if rec then
    undo(rec)
    drop(id)
  elseif lease ~= '' then
    -- Carved from a lease: the lease stops holding its slot (and estimate) once it is counted.
    local lrec = redis.call('HGET', res_key, lease)
    if lrec then
      local ladmit, tokens, lws, slots = parse_rec(lrec)
      local est = min(tonumber(arg(11)), tokens)
      apply_held(lws, ladmit, 1, est, -1)
      if slots <= 1 then
        apply_held(lws, ladmit, 0, tokens - est, -1)
        drop(lease)
      else
        redis.call('HSET', res_key, lease, int(ladmit) .. '|' .. int(tokens - est) .. '|' .. lws
          .. '|' .. int(slots - 1))
      end
    end
  end
  local admit = tonumber(arg(3))
  local consumed = { 0, tonumber(arg(5)), tonumber(arg(6)), tonumber(arg(7)), tonumber(arg(8)) }
  -- The request counts when it was admitted; its tokens and cost when they were consumed.
  local at = max(now, admit)
  local n = tonumber(arg(12))
  for j = 1, n do
    local wtext = arg(12 + j)
    local w, key = tonumber(wtext), prefix .. wtext
    apply(key, w, admit, ONE_REQUEST, 1)
    apply(key, w, at, consumed, 1)
  end
  local maxlen = tonumber(arg(9))
  if maxlen > 0 then
    local fields, first = {}, base + 12 + n
    for i = 1, last - first do
      fields[2 * i - 1] = LEDGER_FIELDS[i]
      fields[2 * i] = ARGV[first + i]
    end
    redis.call('XADD', ledger_key, 'MAXLEN', '~', arg(9), '*', unpack(fields))
  end
  return 1
end

if op == 'admit' or op == 'usage' then
  -- ARGV[4] reservation ttl, [5] max concurrent (-1 none), [6] request id, [7] estimate,
  -- [8] window count, then per window: length, then 5 caps (-1 none); after the windows, the
  -- lease to grow along with the admission: id ('' none), slots wanted, must exist (1/0),
  -- lease ttl, max slots, divisor k, min slots.
  purge()
  local ttl, maxc, id, est, n =
    tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
  local ws = windows(8, n)
  local la = 8 + 6 * n
  local lease = ARGV[la + 1] or ''
  local reserve = op == 'admit' and redis.call('HEXISTS', res_key, id) == 0
  if reserve and maxc >= 0 then
    local in_flight = redis.call('ZCARD', exp_key)
    if in_flight >= maxc then
      return { 2, maxc, in_flight }
    end
  end
  local states = {}
  for j, win in ipairs(ws) do
    states[j] = scan(win.key, win.w)
  end
  if reserve then
    -- Of all exhausted caps, report the one that frees last: only then can a retry pass.
    local worst = nil
    for j, win in ipairs(ws) do
      for m = 1, 5 do
        local cap = win.caps[m]
        if cap >= 0 and states[j].used[m] >= cap then
          local f = frees_at(states[j], win.w, m, cap)
          if worst == nil or (worst.f ~= -1 and (f == -1 or f > worst.f)) then
            worst = { j = j, m = m, cap = cap, used = states[j].used[m], f = f }
          end
        end
      end
    end
    if worst then
      return { 3, worst.j - 1, worst.m - 1, worst.cap, worst.used, worst.f }
    end
    local amounts = { 1, est, est, 0, 0 }
    local lengths = {}
    for j, win in ipairs(ws) do
      apply(win.key, win.w, now, amounts, 1)
      local e = expiry(floor(now / bucket_ms(win.w)), win.w)
      for m = 1, 5 do
        if amounts[m] > 0 then
          states[j].used[m] = states[j].used[m] + amounts[m]
          if e > states[j].resets[m] then
            states[j].resets[m] = e
          end
        end
      end
      lengths[j] = win.wtext
    end
    flush()
    redis.call('HSET', res_key, id, ARGV[2] .. '|' .. ARGV[7] .. '|' .. table.concat(lengths, ','))
    redis.call('ZADD', exp_key, int(now + ttl), id)
    -- The holder of a reservation may die; the hash itself must not outlive its purpose.
    expire_at_least(res_key, 2 * ttl)
    expire_at_least(exp_key, 2 * ttl)
  end
  -- A lease never comes with max_concurrent: in-flight counts must be exact across replicas.
  local lease_out = { 0, 0, 0, 0 }
  if op == 'usage' and lease ~= '' then
    -- What this replica's lease still holds, so its unused part can be left out of the report.
    local rec = redis.call('HGET', res_key, lease)
    if rec then
      local _, tokens, _, slots = parse_rec(rec)
      lease_out = { 0, slots, tokens, 0 }
    end
  elseif reserve and lease ~= '' and maxc < 0 then
    local g, sl, tk, ex = lease_grant(ws, states, lease, tonumber(ARGV[la + 2]), est, 0,
      tonumber(ARGV[la + 5]), tonumber(ARGV[la + 7]), tonumber(ARGV[la + 6]), tonumber(ARGV[la + 4]),
      ARGV[la + 3] == '1')
    if g == nil then
      lease_out = { -1, 0, 0, 0 }
    else
      lease_out = { g, sl, tk, ex }
    end
  end
  local out = sums({ 1 }, states)
  for _, v in ipairs(lease_out) do
    out[#out + 1] = v
  end
  return out
elseif op == 'lease' then
  -- ARGV[4] lease id, [5] slots delta (signed), [6] tokens per granted slot, [7] tokens given
  -- back, [8] must exist (1/0), [9] lease ttl, [10] max slots, [11] divisor k, [12] min slots,
  -- [13] window count, then the windows as in admit.
  purge()
  local n = tonumber(ARGV[13])
  local ws = windows(13, n)
  local states = {}
  for j, win in ipairs(ws) do
    states[j] = scan(win.key, win.w)
  end
  local g, sl, tk, ex = lease_grant(ws, states, ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]),
    tonumber(ARGV[7]), tonumber(ARGV[10]), tonumber(ARGV[12]), tonumber(ARGV[11]), tonumber(ARGV[9]),
    ARGV[8] == '1')
  if g == nil then
    return { 0 }
  end
  return sums({ 1, g, sl, tk, ex }, states)
elseif op == 'settle' then
  -- ARGV[4..]: one settlement (see settle_item).
  check_item(3, #ARGV)
  purge()
  local settled = settle_item(done_key, 3, #ARGV)
  flush()
  return { settled }
elseif op == 'settle_many' then
  -- Settlements of one key sent together: ARGV[4] their count, then per settlement the number
  -- of its arguments and the arguments (see settle_item); KEYS[4 + i] is the marker of the
  -- i-th. Window changes of them all are staged and written once, a net delta per field.
  local cursor = 5
  for _ = 1, tonumber(ARGV[4]) do
    local count = tonumber(ARGV[cursor])
    check_item(cursor, cursor + count)
    cursor = cursor + count + 1
  end
  purge()
  local replies = {}
  cursor = 5
  for i = 1, tonumber(ARGV[4]) do
    local count = tonumber(ARGV[cursor])
    replies[i] = settle_item(KEYS[4 + i], cursor, cursor + count)
    cursor = cursor + count + 1
  end
  flush()
  return replies
elseif op == 'release' then
  -- ARGV[4] request id.
  purge()
  local id = ARGV[4]
  local rec = redis.call('HGET', res_key, id)
  if rec then
    undo(rec)
    drop(id)
    flush()
    return { 1 }
  end
  return { 0 }
end
return redis.error_reply('unknown op ' .. tostring(op))
