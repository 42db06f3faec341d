using StackExchange.Redis;

namespace Sync.Sinks.Tests.Redis;

/// <summary>The Redis server the tests use: <c>SYNC_TEST_REDIS</c> (<c>127.0.0.1:PORT</c>), which
/// ./scripts/test.sh exports after starting a throwaway redis-server. Without it the tests fail (they
/// never skip silently). Each test owns a key namespace (<see cref="NewNamespace"/>) and removes it.</summary>
internal static class RedisTestServer
{
    public static string Endpoint =>
        TestServers.Redis;

    /// <summary>A fresh namespace: <c>t{guid}:</c>. Data keys and sync's own keys of one test start with it.</summary>
    public static string NewNamespace() => $"t{Guid.NewGuid():N}:";

    /// <summary>A sink <c>target</c> (a block under <c>sinks:</c>) on the standalone Redis or
    /// <paramref name="endpoint"/>, its keys under the namespace.</summary>
    public static string TargetYaml(string ns, string? endpoint = null) => $"""
          target:
            type: redis
            endpoints: ['{endpoint ?? Endpoint}']
            keyPrefix: '{ns}sync:'
        """;

    public static RedisSinkOptions Options(string ns) => new()
    {
        Endpoints = [Endpoint],
        KeyPrefix = ns + "sync:",
        Retry = new RetryPolicy { MaxAttempts = 4, InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) },
    };

    public static async Task<ConnectionMultiplexer> ConnectAsync(string? endpoint = null) =>
        await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { endpoint ?? Endpoint }, AllowAdmin = true });

    /// <summary>Deletes every key of the namespace.</summary>
    public static async Task CleanAsync(string ns, string? endpoint = null)
    {
        await using var connection = await ConnectAsync(endpoint);
        var server = connection.GetServers()[0];
        var db = connection.GetDatabase();
        var keys = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: RedisKeys.EscapePattern(ns) + "*", pageSize: 1000))
        {
            keys.Add(key);
        }

        if (keys.Count > 0)
        {
            await db.KeyDeleteAsync([.. keys]);
        }
    }

    /// <summary>Every row of a target as canonical <c>col=value|…</c> text (columns by name; a column the
    /// target ever stored but the row lacks is <c>null</c>), rows sorted: the data keys are found through
    /// their live version states, and rendered from the hash fields or the JSON object.</summary>
    public static Task<IReadOnlyList<string>> ReadRowsAsync(IDatabase db, IServer server, RedisKeys keys, string table, RedisValueFormat format) =>
        ReadRowsAsync(db, [server], keys, table, format);

    /// <inheritdoc cref="ReadRowsAsync(IDatabase, IServer, RedisKeys, string, RedisValueFormat)"/>
    /// <remarks>The states are scanned on every server given (every primary of a cluster).</remarks>
    public static async Task<IReadOnlyList<string>> ReadRowsAsync(IDatabase db, IReadOnlyList<IServer> servers, RedisKeys keys, string table, RedisValueFormat format)
    {
        var meta = await db.HashGetAllAsync(keys.Meta(table));
        var columns = meta.Where(e => e.Name.ToString().StartsWith("c:", StringComparison.Ordinal)).Select(e => e.Name.ToString()[2..]).ToList();
        var rows = new List<string>();
        var stateKeys = new List<RedisKey>();
        foreach (var server in servers)
        {
            await foreach (var stateKey in server.KeysAsync(db.Database, keys.StatePattern(table), pageSize: 1000))
            {
                stateKeys.Add(stateKey);
            }
        }

        foreach (var stateKey in stateKeys)
        {
            var state = RedisState.TryParse((byte[]?)await db.StringGetAsync(stateKey));
            if (state is null || state.Deleted)
            {
                continue;
            }

            var rowKey = keys.RowKeyOf(table, stateKey.ToString());
            var cells = columns.ToDictionary(c => c, _ => "null", StringComparer.Ordinal);
            if (format == RedisValueFormat.Hash)
            {
                foreach (var entry in await db.HashGetAllAsync(rowKey))
                {
                    cells[entry.Name.ToString()] = entry.Value.ToString();
                }
            }
            else
            {
                var json = await db.StringGetAsync(rowKey);
                if (!json.IsNull)
                {
                    using var document = JsonDocument.Parse((byte[])json!);
                    foreach (var property in document.RootElement.EnumerateObject())
                    {
                        cells[property.Name] = property.Value.ValueKind switch
                        {
                            JsonValueKind.Null => "null",
                            JsonValueKind.String => property.Value.GetString()!,
                            JsonValueKind.True => "true",
                            JsonValueKind.False => "false",
                            _ => property.Value.GetRawText(),
                        };
                    }
                }
            }

            rows.Add(string.Join('|', cells.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}")));
        }

        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    public static string Ms(TimeSpan span) => ((long)span.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
}
