using StackExchange.Redis;

namespace Sync.Sinks.Redis;

/// <summary><c>sync check</c> of a Redis sink: a primary answers, the connection is logged in as the
/// configured ACL user, and the server does not evict keys (unless <c>allowEviction</c> says so).</summary>
public sealed class RedisPreflightCheck : SinkPreflightCheck<RedisSinkOptions>
{
    protected override async ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, string name, RedisSinkOptions options, CancellationToken cancellationToken)
    {
        var findings = new List<CheckFinding>();
        var configuration = RedisSink.Configuration(options);

        // The client refuses INFO unless its admin mode is on (a client-side gate only: the server's
        // ACL still decides).
        configuration.AllowAdmin = true;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        var server = connection.GetServers().FirstOrDefault(s => s.IsConnected && !s.IsReplica);
        if (server is null)
        {
            findings.Add(CheckFinding.Error("reachable", $"no primary among {RedisSink.Describe(options)} answered or accepted the credentials",
                $"check sinks.{name}.endpoints, that the server runs, sinks.{name}.user and password, and sinks.{name}.tls"));
            return findings;
        }

        findings.Add(CheckFinding.Ok("reachable", $"{server.EndPoint} answered, Redis {server.Version}, database {options.Database}"));
        findings.Add(await CheckUserAsync(server, name, options));
        findings.Add(await CheckEvictionAsync(server, name, options));
        return findings;
    }

    private static async Task<CheckFinding> CheckUserAsync(IServer server, string sink, RedisSinkOptions options)
    {
        string? whoami;
        try
        {
            whoami = (string?)await server.ExecuteAsync("ACL", "WHOAMI");
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            return CheckFinding.Ok("acl user", $"logged in as a user that may not run ACL WHOAMI{(options.User is { } u ? $" (configured: {u})" : string.Empty)}");
        }

        // A refused AUTH leaves the connection as the default user where that one needs no password
        // (the sink's own identity check rests on the same fact), so the name must match.
        if (options.User is { } user && !string.Equals(whoami, user, StringComparison.Ordinal))
        {
            return CheckFinding.Error("acl user", $"the connection is logged in as {whoami}, not as {user}: the credentials were refused",
                $"check sinks.{sink}.user and sinks.{sink}.password against the server's ACL (ACL GETUSER {user})");
        }

        return options.User is null && whoami == "default"
            ? CheckFinding.Ok("acl user", "logged in as the default user (no user configured)")
            : CheckFinding.Ok("acl user", $"logged in as {whoami}");
    }

    private static async Task<CheckFinding> CheckEvictionAsync(IServer server, string sink, RedisSinkOptions options)
    {
        // INFO memory reports maxmemory_policy and maxmemory (https://redis.io/docs/latest/commands/info/);
        // every policy but noeviction may remove keys once maxmemory is reached, volatile-* ones only keys
        // with a TTL (https://redis.io/docs/latest/develop/reference/eviction/). Version keys and delete
        // markers of a target with a ttl carry one, so every evicting policy can reach them.
        string? policy = null;
        string? maxmemory = null;
        try
        {
            var text = (string?)await server.ExecuteAsync("INFO", "memory") ?? string.Empty;
            var memory = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(':', 2))
                .Where(pair => pair.Length == 2)
                .ToDictionary(pair => pair[0], pair => pair[1], StringComparer.Ordinal);
            policy = memory.GetValueOrDefault("maxmemory_policy");
            maxmemory = memory.GetValueOrDefault("maxmemory");
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
        }

        if (policy is null)
        {
            return CheckFinding.Warning("maxmemory-policy", "the eviction policy cannot be read (INFO memory is not permitted)",
                "check on the server that maxmemory-policy is noeviction (CONFIG GET maxmemory-policy), or allow the user INFO");
        }

        if (policy == "noeviction")
        {
            return CheckFinding.Ok("maxmemory-policy", "noeviction: the version keys never-regress relies on are never evicted");
        }

        var limit = maxmemory is "0" or null ? "no maxmemory limit is set now, but one can be set at any time" : $"maxmemory is {maxmemory} bytes";
        return options.AllowEviction
            ? CheckFinding.Warning("maxmemory-policy", $"{policy} may evict keys ({limit}); allowed by allowEviction: true", "an evicted version key lets a redelivered older change overwrite newer state; prefer noeviction")
            : CheckFinding.Error("maxmemory-policy", $"{policy} may evict keys ({limit}), among them the version keys and delete markers that keep older changes from overwriting newer state",
                $"CONFIG SET maxmemory-policy noeviction (and in redis.conf), or set sinks.{sink}.allowEviction: true to accept the risk");
    }
}
