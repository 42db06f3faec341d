namespace Sync.Sinks.Redis;

/// <summary>The apply script as it runs on a Redis Cluster, one row per call. A script may touch only
/// keys of one slot, and a cluster routes it by its declared keys: <c>KEYS[1]</c> the row key,
/// <c>KEYS[2]</c> its hash-tagged state key (<see cref="RedisKeys.StateHead"/>), <c>KEYS[3]</c> the set of
/// index keys the row left (<see cref="RedisKeys.LeftIndexes"/>), all three in the row key's slot. The
/// table's truncate marker lives in another slot, so the caller reads it and passes its value in
/// <c>ARGV[4]</c> (empty when there is none) instead of its key. Index sets live in other slots too: where
/// the standalone script adds the row to its index sets and removes it from the sets it left, this one
/// records the left ones in <c>KEYS[3]</c> (and takes the kept ones out of it), and returns
/// <c>{ statuses, index keys of the row as written (applied upserts only), members of KEYS[3] }</c> for the
/// caller's index update (<see cref="RedisWriter"/>'s <c>ConvergeIndexesAsync</c>); a non-set under an index
/// key is found by that update, not here. Everything else is <see cref="RedisScripts.Apply"/> unchanged,
/// so both modes compare versions alike. (Scripts in a cluster:
/// https://redis.io/docs/latest/develop/interact/programmability/eval-intro/ , "keys that a script accesses
/// must be passed as input arguments … all keys must hash to the same slot".)</summary>
internal static class RedisClusterScripts
{
    public static readonly string Apply = Rewrite(RedisScripts.Apply,
        ("redis.call('GET', ARGV[4])", "(ARGV[4] ~= '' and ARGV[4])"),
        ("redis.call('SREM', st[j], rk)", "redis.call('SADD', KEYS[3], st[j])"),
        ("for j = 1, nidx do redis.call('SADD', idx[j], rk) end", "for j = 1, nidx do redis.call('SREM', KEYS[3], idx[j]) end"),
        ("redis.call('TYPE', idx[j])['ok']", "'set'"),
        ("local res = {}", "local res, cur = {}, {}"),
        ("  res[#res + 1] = status\nend\nreturn res", "  res[#res + 1] = status\n  if status == 1 or status == 4 then cur = idx end\nend\nreturn { res, cur, redis.call('SMEMBERS', KEYS[3]) }"));

    private static string Rewrite(string script, params (string From, string To)[] edits)
    {
        script = script.ReplaceLineEndings("\n");
        foreach (var (from, to) in edits)
        {
            var at = script.IndexOf(from, StringComparison.Ordinal);
            if (at < 0 || script.IndexOf(from, at + 1, StringComparison.Ordinal) >= 0)
            {
                throw new InvalidOperationException($"the apply script no longer holds \"{from}\" exactly once");
            }

            script = script.Replace(from, to, StringComparison.Ordinal);
        }

        return script;
    }
}
