using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Redis;

/// <summary>Shadow backfill: a key generation. Generation g &gt; 0 of table T puts <c>T@g:</c> before
/// every row and index key and keeps its own states; the pointer key <see cref="RedisKeys.Generation"/>
/// names the live generation, and the swap is one MULTI/EXEC that moves the pointer and the checkpoint.</summary>
internal sealed partial class RedisWriter
{
    /// <summary>The live generation's key prefix of a table ("" before any shadow backfill).</summary>
    public async Task<string> GenerationPrefixAsync(string table) =>
        (string?)await _db.StringGetAsync(_keys.Generation(table)) ?? string.Empty;

    public static string PrefixOf(string table, long generation) =>
        generation == 0 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $"{table}@{generation}:");

    private static long GenerationOf(string table, string prefix) =>
        prefix.Length == 0 ? 0 : long.Parse(prefix.AsSpan(table.Length + 1, prefix.Length - table.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>Deletes what an earlier, unfinished build of the next generation left, and the shadow's
    /// checkpoint. Returns the next generation's prefix and the live checkpoint.</summary>
    public async Task<(string Prefix, Dictionary<string, StreamPosition> LiveCheckpoint)> BeginShadowAsync(TargetSpec live, string materializer, string checkpointName)
    {
        if (_keys.Cluster)
        {
            // The swap is a MULTI/EXEC over the generation pointer and two checkpoints, keys of different slots.
            throw new SinkFatalException($"table \"{live.Table}\": a shadow backfill is not supported on a Redis Cluster (its atomic swap spans keys of several slots); run `sync backfill` without --shadow");
        }

        var current = await GenerationPrefixAsync(live.Table);
        var next = PrefixOf(live.Table, GenerationOf(live.Table, current) + 1);
        var options = live.Options as RedisTargetOptions ?? new RedisTargetOptions();
        await DeleteGenerationAsync(new RedisTarget(live.Table, options, next));
        await _db.KeyDeleteAsync(_keys.Checkpoint(checkpointName));
        return (next, await LoadCheckpointAsync(materializer));
    }

    /// <summary>Carries the live generation's erasure markers into the shadow generation (erasing their
    /// keys there), then in one MULTI/EXEC — on condition that neither the live generation nor the live
    /// checkpoint changed since the shadow began — points the table at the shadow generation and moves
    /// the shadow's checkpoint to the materializer. Then deletes the old generation (SCAN + UNLINK)
    /// unless <paramref name="keepOld"/>.</summary>
    public async Task<ShadowSwap> SwapShadowAsync(ShadowTarget shadow, bool keepOld)
    {
        var table = shadow.Live.Table;
        var options = shadow.Live.Options as RedisTargetOptions ?? new RedisTargetOptions();
        var current = await GenerationPrefixAsync(table);
        var live = new RedisTarget(table, options, current);
        var next = Target(shadow.Shadow);

        var erased = new List<string>();
        await foreach (var page in StatePagesAsync(live))
        {
            foreach (var (_, state) in page)
            {
                if (state is { Deleted: true } && state.Version.Lsn == long.MaxValue && ShadowRowKey(next, state.KeyText) is { } rowKey)
                {
                    erased.Add(rowKey);
                }
            }
        }

        if (erased.Count > 0)
        {
            await RunKeyOpsAsync(next, 'e', erased, version: null);
        }

        var pointer = _keys.Generation(table);
        var checkpoint = _keys.Checkpoint(shadow.Materializer);
        var shadowCheckpoint = _keys.Checkpoint(shadow.CheckpointName);
        var hasShadowCheckpoint = await _db.KeyExistsAsync(shadowCheckpoint);
        var transaction = _db.CreateTransaction();
        transaction.AddCondition(current.Length == 0 ? Condition.KeyNotExists(pointer) : Condition.StringEqual(pointer, current));
        transaction.AddCondition(Condition.HashLengthEqual(checkpoint, shadow.LiveCheckpoint.Count));
        foreach (var (stream, position) in shadow.LiveCheckpoint)
        {
            transaction.AddCondition(Condition.HashEqual(checkpoint, stream, position.ToString()));
        }

        if (hasShadowCheckpoint)
        {
            transaction.AddCondition(Condition.KeyExists(shadowCheckpoint));
        }

        _ = transaction.StringSetAsync(pointer, next.GenerationPrefix);
        _ = transaction.KeyDeleteAsync(checkpoint);
        if (hasShadowCheckpoint)
        {
            _ = transaction.KeyRenameAsync(shadowCheckpoint, checkpoint);
        }

        if (!await transaction.ExecuteAsync())
        {
            var now = await LoadCheckpointAsync(shadow.Materializer);
            throw new ShadowSwapException(
                $"table \"{table}\": the checkpoint of '{shadow.Materializer}' or the live key generation changed during the backfill (checkpoint {Describe(shadow.LiveCheckpoint)} -> {Describe(now)}), so a `sync run` or another backfill wrote meanwhile; "
                + $"the live keys are untouched and the shadow generation ({next.GenerationPrefix}…) is left; stop `sync run` for '{shadow.Materializer}' and run the backfill again");
        }

        string old;
        if (keepOld)
        {
            old = current.Length == 0 ? "kept (the unprefixed keys)" : $"kept (keys {current}…)";
        }
        else
        {
            var deleted = await DeleteGenerationAsync(live);
            old = string.Create(CultureInfo.InvariantCulture, $"deleted ({deleted} keys, SCAN + UNLINK)");
        }

        return new ShadowSwap($"keys {next.GenerationPrefix}… (pointer {pointer})", old, erased.Count);
    }

    /// <summary>Unlinks every row, index set, state, marker and metadata key of one generation of a
    /// target, a SCAN page at a time. Returns how many row keys went.</summary>
    private async Task<long> DeleteGenerationAsync(RedisTarget target)
    {
        long rows = 0;
        var prefixLength = _keys.StatePrefix(target.StateTable).Length;
        var indexSets = new HashSet<string>(StringComparer.Ordinal);
        var page = new List<RedisKey>();
        await foreach (var states in StatePagesAsync(target))
        {
            page.Clear();
            foreach (var (stateKey, state) in states)
            {
                indexSets.UnionWith(state?.Indexes ?? []);
                page.Add(stateKey);
                page.Add(stateKey.ToString()[prefixLength..]);
                rows++;
            }

            await UnlinkAsync(page);
        }

        page.Clear();
        page.AddRange(indexSets.Select(i => (RedisKey)i));
        page.Add(_keys.Meta(target.StateTable));
        page.Add(_keys.TruncateMarker(target.StateTable));
        await UnlinkAsync(page);
        return rows;
    }

    /// <summary>The version keys of one generation with their parsed states, a SCAN page at a time,
    /// each page read with one MGET.</summary>
    private async IAsyncEnumerable<List<(RedisKey Key, RedisState? State)>> StatePagesAsync(RedisTarget target)
    {
        var keys = new List<RedisKey>(ScanPage);
        await foreach (var stateKey in StateKeysAsync(target))
        {
            keys.Add(stateKey);
            if (keys.Count == ScanPage)
            {
                yield return await ReadStatesAsync(keys);
                keys.Clear();
            }
        }

        if (keys.Count > 0)
        {
            yield return await ReadStatesAsync(keys);
        }
    }

    private async Task<List<(RedisKey, RedisState?)>> ReadStatesAsync(List<RedisKey> keys)
    {
        var values = await _db.StringGetAsync([.. keys]);
        return [.. keys.Select((k, i) => (k, RedisState.TryParse((byte[]?)values[i])))];
    }

    /// <summary>UNLINK: the server frees the values in the background, so a large generation does not
    /// block it.</summary>
    private Task UnlinkAsync(List<RedisKey> keys) => _db.ExecuteAsync("UNLINK", [.. keys.Select(k => (object)k)]);

    /// <summary>The row key in <paramref name="target"/> of a key given as its state's key text (a JSON
    /// object of the key columns), or null when the text is not one.</summary>
    private static string? ShadowRowKey(RedisTarget target, string keyText)
    {
        try
        {
            using var document = JsonDocument.Parse(keyText);
            var values = document.RootElement.EnumerateObject()
                .ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText(), StringComparer.Ordinal);
            return target.KeyTemplateFor([.. values.Keys]).Render(name => values.GetValueOrDefault(name), out _);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Describe(IReadOnlyDictionary<string, StreamPosition> checkpoint) =>
        checkpoint.Count == 0 ? "none" : string.Join(", ", checkpoint.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} @ {p.Value}"));
}
