namespace Sync.Sinks.Redis;

/// <summary>The Lua script that applies changes with a compare-and-set per key. One call applies up
/// to <see cref="RedisSinkOptions.ChangesPerScript"/> changes; Redis runs a script atomically, so each
/// key's read-compare-write cannot interleave with another writer.</summary>
internal static class RedisScripts
{
    /// <summary>
    /// ARGV: format (<c>h</c>/<c>j</c>), row TTL in ms (0 = none), delete-marker TTL in ms, the table's
    /// truncate-marker key, the table's state-key prefix; then per change: op (<c>u</c> upsert, <c>d</c>
    /// delete, <c>e</c> erase, leaving the marker <c>ChangeVersion.Erased</c> of the stored stream: the
    /// largest LSN and position, newer than any change of the key — for a key without a live row too when
    /// the key JSON is given (then the given stream stands for a stream never seen), and deleting a value of
    /// the target's type that the key holds without a live state (written behind sync's back); <c>m</c> mark erased: the
    /// same marker for a key without a live row (its delete marker converted, or a new one of the given stream),
    /// leaving a key with a live row, or a Redis key holding a value without a state, alone; <c>x</c> truncate this key), row key (its state
    /// key is the prefix followed by it), LSN (empty = none), ledger,
    /// entry, batch index, stream, key JSON, the state the change writes split in two (<see cref="RedisState"/>:
    /// head = deleted flag, LSN, ledger, entry, batch index, each followed by a comma, or empty when the script
    /// must encode it (no LSN: it inherits the stored one); tail = index count, key, stream and index keys, or
    /// empty), index count, index keys…, and for <c>u</c> the value: hash: pair count then field, value…; json: the JSON text.
    /// <c>p</c> (and its short form <c>P</c>) is an upsert whose row lacks columns the source did not send
    /// (<c>FieldValue.Unavailable</c>, an unchanged TOASTed value): its value is followed by the count of those
    /// columns and, for hash, their names; for json, the row's JSON cut where their values go: segment, name,
    /// segment, …, name, segment. The script fills them from the live row (hash: HMGET; json: the stored
    /// value's raw text, found by scanning, since cjson rounds numbers), or leaves them absent (hash) or null (json).
    /// The short forms <c>U</c> and <c>D</c> (an upsert and a delete with an LSN, the common case) leave out
    /// ledger, entry, batch index, stream and key JSON, which the state holds: op, row key, LSN, the whole
    /// state the change writes (head and tail joined), its tail, then as above. Fewer arguments to send and
    /// to convert into Lua strings, and no joining in the script.
    /// A stored state whose tail equals the change's is read by one pattern match (same key, stream and
    /// index keys); the client encodes the states, so the script only parses and encodes the rare others.
    /// Returns per change: 1 applied, 0 stale, 2 nothing to do (erase/truncate of an absent row, a mark of a
    /// key already erased; 0 for a mark of a key holding a row),
    /// 3 truncate marker written over a deleted row, 4 a partial upsert applied with a column the row did not hold, or an error word: <c>collision</c> (another key's
    /// row owns this Redis key), <c>wrongtype:T</c>, <c>wrongindex:N</c>.
    /// Versions compare as <c>ChangeVersion.CompareTo</c>: LSN when both have one, else position within
    /// the same stream, else the newer arrival wins; integers compare as decimal strings (exact for 64 bits).
    /// </summary>
    public const string Apply = """
        local function parse(s)
          local d, lsn, l, e, b, nidx, pos = string.match(s, '^([01]),(%-?%d*),(%-?%d+),(%-?%d+),(%-?%d+),(%d+),()')
          local c = string.find(s, ':', pos, true)
          local len = tonumber(string.sub(s, pos, c - 1))
          local kt = string.sub(s, c + 1, c + len)
          pos = c + len + 1
          c = string.find(s, ':', pos, true)
          len = tonumber(string.sub(s, pos, c - 1))
          local st = { d, lsn, l, e, b, string.sub(s, c + 1, c + len), kt }
          pos = c + len + 1
          for j = 1, tonumber(nidx) do
            c = string.find(s, ':', pos, true)
            len = tonumber(string.sub(s, pos, c - 1))
            st[7 + j] = string.sub(s, c + 1, c + len)
            pos = c + len + 1
          end
          return st
        end
        local function parsefast(raw, tail, stream, kt, idx)
          local d, lsn, l, e, b, pos = string.match(raw, '^([01]),(%-?%d*),(%-?%d+),(%-?%d+),(%-?%d+),()')
          if d and tail ~= '' and string.sub(raw, pos) == tail then
            local st = { d, lsn, l, e, b, stream, kt }
            for j = 1, #idx do st[7 + j] = idx[j] end
            return st
          end
          return parse(raw)
        end
        local function encode(d, lsn, l, e, b, stream, kt, idx)
          local head = d .. ',' .. lsn .. ',' .. l .. ',' .. e .. ',' .. b .. ','
          if not idx or #idx == 0 then
            return head .. '0,' .. #kt .. ':' .. kt .. #stream .. ':' .. stream
          end
          local parts = { head, #idx, ',', #kt, ':', kt, #stream, ':', stream }
          for j = 1, #idx do
            parts[#parts + 1] = #idx[j] .. ':' .. idx[j]
          end
          return table.concat(parts)
        end
        local function cmpint(a, b)
          local na, nb = string.byte(a) == 45, string.byte(b) == 45
          if na ~= nb then if na then return -1 else return 1 end end
          if na then a = string.sub(a, 2); b = string.sub(b, 2) end
          local r = 0
          if #a ~= #b then if #a < #b then r = -1 else r = 1 end
          elseif a ~= b then if a < b then r = -1 else r = 1 end end
          if na then r = -r end
          return r
        end
        local function older(lsn, l, e, b, stream, st)
          if lsn ~= '' and st[2] ~= '' then return cmpint(lsn, st[2]) < 0 end
          if stream == st[6] then
            local c = cmpint(l, st[3])
            if c == 0 then c = cmpint(e, st[4]) end
            if c == 0 then c = cmpint(b, st[5]) end
            return c < 0
          end
          return false
        end
        local function unindex(st, rk, keep)
          for j = 8, #st do
            if not (keep and keep[st[j]]) then redis.call('SREM', st[j], rk) end
          end
        end

        -- The stored JSON row's top-level members as name -> the value's raw JSON text, read by
        -- scanning, never through cjson: cjson turns numbers into doubles and writes them back with 14
        -- digits (redis/redis deps/lua/src/lua_cjson.c; 12345678901234567 -> 1.2345678901235e+16, 12.30 -> 12.3), so only the names, which
        -- are strings, are decoded with it. Raises on text that is not a JSON object (the caller pcalls).
        local function strend(s, p)
          while true do
            local q = string.find(s, '["\\]', p + 1)
            if string.byte(s, q) == 92 then p = q + 1 else return q end
          end
        end
        local function valend(s, p)
          local ch = string.sub(s, p, p)
          if ch == '"' then return strend(s, p) end
          if ch == '{' or ch == '[' then
            local depth = 1
            while true do
              p = string.find(s, '["{}%[%]]', p + 1)
              ch = string.sub(s, p, p)
              if ch == '"' then p = strend(s, p)
              elseif ch == '{' or ch == '[' then depth = depth + 1
              else
                depth = depth - 1
                if depth == 0 then return p end
              end
            end
          end
          return string.find(s, '[,}%s]', p) - 1
        end
        local function members(s)
          local out = {}
          local pos = string.find(s, '%S')
          if string.sub(s, pos, pos) ~= '{' then error('not an object') end
          pos = pos + 1
          while true do
            pos = string.find(s, '%S', pos)
            local ch = string.sub(s, pos, pos)
            if ch == '}' then return out end
            if ch == ',' then pos = string.find(s, '%S', pos + 1) end
            local ke = strend(s, pos)
            local name = cjson.decode(string.sub(s, pos, ke))
            local vs = string.find(s, '%S', string.find(s, ':', ke + 1, true) + 1)
            local ve = valend(s, vs)
            out[name] = string.sub(s, vs, ve)
            pos = ve + 1
          end
        end

        local fmt, ttl, mttl, sp = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[5]
        local tm = redis.call('GET', ARGV[4])
        if tm then tm = parse(tm) end
        local res = {}
        local none = {}
        local i, n = 6, #ARGV
        while i <= n do
          local op, rk = ARGV[i], ARGV[i + 1]
          local sk = sp .. rk
          local lsn, l, e, b, stream, kt, head, tail, state
          local partial = op == 'P' or op == 'p'
          local short = op == 'U' or op == 'D' or op == 'P'
          if short then
            lsn, state, tail = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
            if op == 'D' then op = 'd' else op = 'u' end
            i = i + 5
          else
            lsn, l, e, b, stream, kt = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
            head, tail = ARGV[i + 8], ARGV[i + 9]
            if op == 'p' then op = 'u' end
            i = i + 10
          end
          local nidx = tonumber(ARGV[i])
          local idx = none
          if nidx > 0 then
            idx = {}
            for j = 1, nidx do idx[j] = ARGV[i + j] end
          end
          i = i + 1 + nidx
          local npairs, pstart, json, nu, ustart = 0, 0, nil, 0, 0
          if op == 'u' then
            if fmt == 'h' then
              npairs = tonumber(ARGV[i]); pstart = i + 1; i = i + 1 + 2 * npairs
              if partial then nu = tonumber(ARGV[i]); ustart = i + 1; i = i + 1 + nu end
            elseif partial then
              nu = tonumber(ARGV[i]); ustart = i + 1; i = i + 2 + 2 * nu
            else
              json = ARGV[i]; i = i + 1
            end
          end
          local raw = redis.call('GET', sk)
          local own = nil
          if short then
            -- A stored state with an LSN whose tail (key, stream, index keys) equals the change's
            -- is decided by the LSNs alone; anything else gets the parts of the version that the
            -- short form leaves out (they are in its state) and the full path below.
            local d, slsn, pos
            if raw then d, slsn, pos = string.match(raw, '^([01]),(%-?%d*),%-?%d+,%-?%d+,%-?%d+,()') end
            if d and slsn ~= '' and #raw - pos + 1 == #tail and string.find(raw, tail, pos, true) == pos then
              own = { d, slsn }
            elseif raw or tm then
              -- (a key never seen, with no truncate marker, compares with nothing: no decoding)
              local mine = parse(state)
              l, e, b, stream, kt = mine[3], mine[4], mine[5], mine[6], mine[7]
              if raw then own = parsefast(raw, tail, stream, kt, idx) end
            end
          elseif raw then
            own = parsefast(raw, tail, stream, kt, idx)
          end
          local st = own or tm
          local status
          if op == 'm' then
            -- A live row is someone else's (the erase deleted the subject's); a value no state
            -- describes is not sync's to judge; a marker of another key that renders alike is that
            -- key's. Everything else gets the erasure marker of the stream it holds.
            if (own and (own[1] == '0' or own[7] ~= kt)) or ((not own) and redis.call('EXISTS', rk) == 1) then
              status = 0
            elseif own and own[2] == '9223372036854775807' and own[3] == '9223372036854775807' and own[4] == '9223372036854775807' and own[5] == '2147483647' then
              status = 2
            else
              local ms = stream
              if own then ms = own[6] end
              redis.call('SET', sk, encode('1', '9223372036854775807', '9223372036854775807', '9223372036854775807', '2147483647', ms, kt, nil), 'PX', mttl)
              status = 1
            end
          elseif op == 'e' then
            if (not own) or own[1] == '1' then
              if kt ~= '' then
                local ms, mk = stream, kt
                if own then ms = own[6]; mk = own[7] end
                redis.call('SET', sk, encode('1', '9223372036854775807', '9223372036854775807', '9223372036854775807', '2147483647', ms, mk, nil), 'PX', mttl)
              end
              -- A row of the target's type that no live state describes was written behind sync's
              -- back (a backup restored, another program); the erase names its key, so it goes too.
              local want = 'string'
              if fmt == 'h' then want = 'hash' end
              if redis.call('TYPE', rk)['ok'] == want then
                redis.call('DEL', rk)
                status = 1
              else
                status = 2
              end
            else
              unindex(own, rk, nil)
              redis.call('DEL', rk)
              redis.call('SET', sk, encode('1', '9223372036854775807', '9223372036854775807', '9223372036854775807', '2147483647', own[6], own[7], nil), 'PX', mttl)
              status = 1
            end
          elseif op == 'x' then
            if not own then
              status = 2
            elseif older(lsn, l, e, b, stream, own) then
              status = 0
            else
              if own[1] == '0' then
                unindex(own, rk, nil)
                redis.call('DEL', rk)
                status = 1
              else
                status = 3
              end
              local nl = lsn
              if nl == '' then nl = own[2] end
              redis.call('SET', sk, encode('1', nl, l, e, b, stream, own[7], nil), 'PX', mttl)
            end
          elseif st and older(lsn, l, e, b, stream, st) then
            status = 0
          elseif own and own[7] ~= kt then
            -- (own from the short form's quick read has neither: its key equals the change's)
            status = 'collision'
          else
            local nl = lsn
            if nl == '' and st then nl = st[2] end
            if op == 'd' then
              if own and own[1] == '0' then unindex(own, rk, nil) end
              redis.call('DEL', rk)
              local s = state
              if not s then
                s = head .. tail
                if head == '' then s = encode('1', nl, l, e, b, stream, kt, nil) end
              end
              redis.call('SET', sk, s, 'PX', mttl)
              status = 1
            else
              local want = 'string'
              if fmt == 'h' then want = 'hash' end
              local t = want
              if not (own and own[1] == '0') then t = redis.call('TYPE', rk)['ok'] end
              if t ~= 'none' and t ~= want then
                status = 'wrongtype:' .. t
              else
                for j = 1, nidx do
                  local it = redis.call('TYPE', idx[j])['ok']
                  if it ~= 'none' and it ~= 'set' then status = 'wrongindex:' .. j; break end
                end
              end
              if not status then
                if own and own[1] == '0' and #own > 7 then
                  local keep = {}
                  for j = 1, nidx do keep[idx[j]] = true end
                  unindex(own, rk, keep)
                end
                for j = 1, nidx do redis.call('SADD', idx[j], rk) end
                -- A partial upsert (columns the source did not send: unchanged TOASTed values) keeps
                -- what the live row stores for them, read here, in the same atomic step as the version
                -- check; a column the row does not hold stays absent (hash) or null (json), and the
                -- change answers 4 instead of 1 so that it is counted.
                local live = own and own[1] == '0'
                local missing = false
                if fmt == 'h' then
                  -- An existing hash is written over in place when it ends up with exactly the
                  -- change's fields (a column that became NULL or left the row makes it larger:
                  -- then it is replaced); pcall, since a live state does not prove the key still
                  -- holds a hash. A TTL the row had is lifted when the target has none.
                  local src, from = ARGV, pstart
                  if partial then
                    src, from = {}, 1
                    for j = 0, 2 * npairs - 1 do src[j + 1] = ARGV[pstart + j] end
                    for k = 0, nu - 1, 1000 do
                      local stop = math.min(k + 999, nu - 1)
                      local vals = false
                      if live then vals = redis.pcall('HMGET', rk, unpack(ARGV, ustart + k, ustart + stop)) end
                      for j = k, stop do
                        local v = type(vals) == 'table' and not vals.err and vals[j - k + 1]
                        if v then
                          src[#src + 1] = ARGV[ustart + j]; src[#src + 1] = v
                        else
                          missing = true
                        end
                      end
                    end
                    npairs = #src / 2
                  end
                  local kept = false
                  if t ~= 'none' and npairs > 0 and npairs <= 500 then
                    local r = redis.pcall('HSET', rk, unpack(src, from, from + 2 * npairs - 1))
                    kept = type(r) == 'number' and redis.call('HLEN', rk) == npairs
                    if kept and ttl == 0 then redis.call('PERSIST', rk) end
                  end
                  if not kept then
                    if t ~= 'none' then redis.call('DEL', rk) end
                    local k, last = from, from + 2 * npairs - 1
                    while k <= last do
                      local stop = math.min(k + 999, last)
                      redis.call('HSET', rk, unpack(src, k, stop))
                      k = stop + 1
                    end
                  end
                else
                  if partial then
                    -- ARGV holds the row's JSON cut where each unsent column's value goes:
                    -- segment, name, segment, …, name, segment; the stored raw value is put back.
                    local stored = {}
                    if live then
                      local raw = redis.pcall('GET', rk)
                      if type(raw) == 'string' then
                        local ok, m = pcall(members, raw)
                        if ok then stored = m end
                      end
                    end
                    local parts = { ARGV[ustart] }
                    for j = 1, nu do
                      local v = stored[ARGV[ustart + 2 * j - 1]]
                      if not v then v = 'null'; missing = true end
                      parts[2 * j] = v
                      parts[2 * j + 1] = ARGV[ustart + 2 * j]
                    end
                    json = table.concat(parts)
                  end
                  redis.call('SET', rk, json)
                end
                local s = state
                if not s then
                  s = head .. tail
                  if head == '' then s = encode('0', nl, l, e, b, stream, kt, idx) end
                end
                if ttl > 0 then
                  redis.call('PEXPIRE', rk, ttl)
                  redis.call('SET', sk, s, 'PX', ttl)
                else
                  redis.call('SET', sk, s)
                end
                status = 1
                if missing then status = 4 end
              end
            end
          end
          res[#res + 1] = status
        end
        return res
        """;

    /// <summary>Stores each pair of field and value in a materializer's checkpoint hash unless the field is
    /// held (HSETNX), in one script, and returns the values held afterwards in the same order
    /// (<see cref="ISink.AddCheckpointEntriesAsync"/>). KEYS[1]: the checkpoint hash; ARGV: the pairs.</summary>
    public const string AddCheckpointEntries = """
        local held = {}
        for i = 1, #ARGV, 2 do
          redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
          held[#held + 1] = redis.call('HGET', KEYS[1], ARGV[i])
        end
        return held
        """;

    /// <summary>Writes a materializer's checkpoint only while the stored one holds every expected stream
    /// at or past its expected position (<see cref="SinkBatch.ExpectedCheckpoint"/>), and never lowers an
    /// expected stream's stored position (<see cref="IMonotonicCheckpointSink"/>: the greater of the
    /// stored and the written one stays); in one script, so that nothing lands between the comparison
    /// and the write.
    /// KEYS[1]: the checkpoint hash. ARGV[1]: the number n of expected streams; then n pairs of stream
    /// and position (<c>ledger:entry:batch</c>); then the pairs of field and value to write.
    /// Returns 1 when written, 0 when a stream is behind or unreadable. An expected stream not held
    /// counts as the start, <c>-1:-1:-1</c>. Positions compare as <c>StreamPosition.CompareTo</c>, their
    /// integers as decimal strings (exact for 64 bits).</summary>
    public const string WriteCheckpointIfHeld = """
        local function cmp(a, b)
          local an, bn = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
          if an ~= bn then return an and -1 or 1 end
          local r
          if #a ~= #b then r = (#a < #b) and -1 or 1
          elseif a == b then r = 0
          else r = (a < b) and -1 or 1 end
          if an then return -r end
          return r
        end
        local function compare(a, b)
          local al, ae, ab = string.match(a, '^(%-?%d+):(%-?%d+):(%-?%d+)$')
          local bl, be, bb = string.match(b, '^(%-?%d+):(%-?%d+):(%-?%d+)$')
          if not al or not bl then return nil end
          local c = cmp(al, bl)
          if c == 0 then c = cmp(ae, be) end
          if c == 0 then c = cmp(ab, bb) end
          return c
        end
        local n = tonumber(ARGV[1])
        local kept = {}
        for i = 0, n - 1 do
          local stream = ARGV[2 + 2 * i]
          local held = redis.call('HGET', KEYS[1], stream) or '-1:-1:-1'
          local c = compare(held, ARGV[3 + 2 * i])
          if not c or c < 0 then return 0 end
          kept[stream] = held
        end
        local fields = {}
        for i = 2 + 2 * n, #ARGV, 2 do
          local held = kept[ARGV[i]]
          if not held or held == '-1:-1:-1' or compare(held, ARGV[i + 1]) < 0 then
            fields[#fields + 1] = ARGV[i]
            fields[#fields + 1] = ARGV[i + 1]
          end
        end
        if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
        return 1
        """;
}
