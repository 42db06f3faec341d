using StackExchange.Redis;

namespace Sync.Sinks.Redis;

/// <summary>Decides what an error from Redis means for the batch (error prefixes: https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors).</summary>
public static class RedisErrorClassifier
{
    private static readonly string[] TransientPrefixes =
    [
        "LOADING",      // the server is loading its dataset after a restart
        "BUSY",         // another script runs past lua-time-limit
        "TRYAGAIN",     // a multi-key operation during resharding
        "CLUSTERDOWN",
        "MASTERDOWN",   // a replica lost its primary
        "READONLY",     // we reached a replica (a failover is under way)
        "NOREPLICAS",
        "NOSCRIPT",     // the script cache was flushed (a restart): the next attempt loads it again
    ];

    private static readonly string[] PoisonPrefixes =
    [
        "WRONGTYPE",    // a key holds a value of another type
    ];

    /// <summary>
    /// <list type="bullet">
    /// <item>Connection loss, timeouts, and the server errors LOADING, BUSY, TRYAGAIN, CLUSTERDOWN,
    /// MASTERDOWN, READONLY, NOREPLICAS, NOSCRIPT and "max number of clients reached": <see cref="ErrorVerdict.Transient"/>.</item>
    /// <item>WRONGTYPE (a row key or index set key holds a foreign value): <see cref="ErrorVerdict.Poison"/>;
    /// the writer checks types per row in its script, so this verdict only meets stray commands.</item>
    /// <item>Everything else — NOAUTH, WRONGPASS, NOPERM (configuration), OOM (maxmemory reached with
    /// <c>noeviction</c>: an operator must act), script errors, protocol errors — and any
    /// non-Redis exception: <see cref="ErrorVerdict.Fatal"/>.</item>
    /// </list>
    /// </summary>
    public static ErrorVerdict Classify(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        switch (error)
        {
            case RedisConnectionException connection:
                return connection.FailureType is ConnectionFailureType.AuthenticationFailure ? ErrorVerdict.Fatal : ErrorVerdict.Transient;
            case RedisTimeoutException or TimeoutException:
                return ErrorVerdict.Transient;
            case RedisServerException server:
                var message = server.Message;
                if (TransientPrefixes.Any(p => message.StartsWith(p, StringComparison.Ordinal))
                    || message.StartsWith("ERR max number of clients reached", StringComparison.Ordinal))
                {
                    return ErrorVerdict.Transient;
                }

                return PoisonPrefixes.Any(p => message.StartsWith(p, StringComparison.Ordinal)) ? ErrorVerdict.Poison : ErrorVerdict.Fatal;
            case AggregateException { InnerExceptions.Count: > 0 } aggregate:
                return aggregate.InnerExceptions.Select(Classify).Max();
            default:
                return ErrorVerdict.Fatal;
        }
    }
}
