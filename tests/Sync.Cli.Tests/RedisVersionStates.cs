using System.Text.RegularExpressions;
using StackExchange.Redis;

namespace Sync.Cli.Tests;

/// <summary>Rewrites a Redis version state behind sync's back, for the verify tests' injected drift.</summary>
internal static partial class RedisVersionStates
{
    /// <summary>Sets the LSN of the version state at <paramref name="stateKey"/> (its text begins with the
    /// epoch and the LSN, "0,LSN,…"), which must exist.</summary>
    public static async Task SetLsnAsync(IDatabase db, string stateKey, long lsn)
    {
        var state = (string?)await db.StringGetAsync(stateKey);
        Assert.NotNull(state);
        await db.StringSetAsync(stateKey, LsnField().Replace(state, $"0,{lsn},", 1));
    }

    [GeneratedRegex("^0,[0-9]*,")]
    private static partial Regex LsnField();
}
