namespace Sync.Sinks.Redis;

/// <summary>The apply script as it runs on a Redis Cluster, one row per call. A script may touch only
/// keys of one slot, and a cluster routes it by its declared keys (the row key and its hash-tagged
/// state key: <see cref="RedisKeys.StateHead"/>); the table's truncate marker lives in another slot, so
/// the caller reads it and passes its value in <c>ARGV[4]</c> (empty when there is none) instead of its
/// key. Everything else is <see cref="RedisScripts.Apply"/> unchanged, so both modes compare versions alike.
/// (Scripts in a cluster: https://redis.io/docs/latest/develop/interact/programmability/eval-intro/ ,
/// "keys that a script accesses must be passed as input arguments … all keys must hash to the same slot".)</summary>
internal static class RedisClusterScripts
{
    private const string ReadMarkerKey = "redis.call('GET', ARGV[4])";

    public static readonly string Apply = RedisScripts.Apply.Contains(ReadMarkerKey, StringComparison.Ordinal)
        ? RedisScripts.Apply.Replace(ReadMarkerKey, "(ARGV[4] ~= '' and ARGV[4])", StringComparison.Ordinal)
        : throw new InvalidOperationException("the apply script no longer reads its truncate marker as expected");
}
