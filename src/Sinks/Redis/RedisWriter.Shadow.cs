using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Redis;

/// <summary>Shadow backfill: a key generation. Generation g &gt; 0 of table T puts <c>T@g:</c> before
/// every row and index key and keeps its own states; the pointer key <see cref="RedisKeys.Generation"/>
/// names the live generation, and the swap is one MULTI/EXEC that moves the pointer and the checkpoint.
/// On a Redis Cluster the pointer carries the hash tag of the materializer's checkpoint key
/// (<see cref="RedisKeys.ClusterGeneration"/>, found through <see cref="RedisKeys.GenerationLocator"/>) and
/// the swap is one script in that slot (<see cref="SwitchGenerationScript"/>).</summary>
internal sealed partial class RedisWriter
{
    /// <summary>The live generation's key prefix of a table ("" before any shadow backfill).</summary>
    public async Task<string> GenerationPrefixAsync(string table)
    {
        if (!_keys.Cluster)
        {
            return (string?)await _db.StringGetAsync(_keys.Generation(table)) ?? string.Empty;
        }

        var pointer = await GenerationPointerAsync(table);
        return pointer is null ? string.Empty : (string?)await _db.StringGetAsync(pointer) ?? string.Empty;
    }

    /// <summary>On a cluster: the pointer key that the table's locator names, or null while it names none.
    /// The locator is written once (SET NX in <see cref="ClusterPointerAsync"/>, which refuses any other
    /// pointer) and never deleted by the sink, so a found one is kept and each batch reads only the
    /// pointer; an absent one is read again, so that a run sees the first shadow backfill's swap.</summary>
    private async Task<string?> GenerationPointerAsync(string table)
    {
        if (_generationPointers.TryGetValue(table, out var known))
        {
            return known;
        }

        var pointer = (string?)await _db.StringGetAsync(_keys.GenerationLocator(table));
        if (pointer is not null)
        {
            _generationPointers[table] = pointer;
        }

        return pointer;
    }

    /// <summary>On a cluster: checks the swap's conditions, switches the pointer (KEYS[1]) and replaces the
    /// checkpoint (KEYS[2], in the pointer's slot) by the shadow's, read beforehand and passed in.
    /// ARGV: the expected live prefix ("" = no pointer), the new prefix, the number n of the expected
    /// checkpoint's entries, n stream/position pairs, then the shadow checkpoint's pairs. Returns 1 when
    /// switched, 0 when a condition failed (nothing changed).</summary>
    private const string SwitchGenerationScript = """
        local current = redis.call('GET', KEYS[1]) or ''
        if current ~= ARGV[1] then return 0 end
        local n = tonumber(ARGV[3])
        if redis.call('HLEN', KEYS[2]) ~= n then return 0 end
        for i = 0, n - 1 do
          if redis.call('HGET', KEYS[2], ARGV[4 + 2 * i]) ~= ARGV[5 + 2 * i] then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('DEL', KEYS[2])
        if #ARGV > 3 + 2 * n then
          redis.call('HSET', KEYS[2], unpack(ARGV, 4 + 2 * n))
        end
        return 1
        """;

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
            await ClusterPointerAsync(live.Table, materializer);
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

        var pointer = _keys.Cluster ? await ClusterPointerAsync(table, shadow.Materializer) : _keys.Generation(table);
        var switched = _keys.Cluster
            ? await SwitchOnClusterAsync(shadow, pointer, current, next.GenerationPrefix)
            : await SwitchAsync(shadow, pointer, current, next.GenerationPrefix);
        if (!switched)
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

    /// <summary>The standalone switch: one MULTI/EXEC, conditioned on the pointer and the live checkpoint
    /// being as they were when the shadow began, that sets the pointer and renames the shadow's checkpoint.</summary>
    private async Task<bool> SwitchAsync(ShadowTarget shadow, string pointer, string current, string next)
    {
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

        _ = transaction.StringSetAsync(pointer, next);
        _ = transaction.KeyDeleteAsync(checkpoint);
        if (hasShadowCheckpoint)
        {
            _ = transaction.KeyRenameAsync(shadowCheckpoint, checkpoint);
        }

        return await transaction.ExecuteAsync();
    }

    /// <summary>The cluster switch: the shadow's checkpoint is read first (nothing writes it any more),
    /// every primary's replicas are waited for (they then hold the new generation before any reader is
    /// pointed at it), then <see cref="SwitchGenerationScript"/> runs in the slot of the pointer and the
    /// live checkpoint. After it, that slot's replicas are waited for too, so that the old generation is
    /// unlinked only once a failover can no longer bring the old pointer back.</summary>
    private async Task<bool> SwitchOnClusterAsync(ShadowTarget shadow, string pointer, string current, string next)
    {
        var shadowCheckpoint = await LoadCheckpointAsync(shadow.CheckpointName);
        var args = new List<RedisValue> { current, next, shadow.LiveCheckpoint.Count };
        foreach (var (stream, position) in shadow.LiveCheckpoint.Concat(shadowCheckpoint))
        {
            args.Add(stream);
            args.Add(position.ToString());
        }

        await AwaitReplicasAsync((RedisKey)pointer);
        if ((long)await _db.ScriptEvaluateAsync(SwitchGenerationScript, [pointer, _keys.Checkpoint(shadow.Materializer)], [.. args]) != 1)
        {
            return false;
        }

        if (await _db.IdentifyEndpointAsync(pointer) is { } endpoint && _db.Multiplexer.GetServer(endpoint) is { IsConnected: true, IsReplica: false } primary)
        {
            await AwaitReplicasAsync(primary);
        }

        await _db.KeyDeleteAsync(_keys.Checkpoint(shadow.CheckpointName));
        return true;
    }

    /// <summary>On a cluster: the table's generation pointer for the materializer's shadow backfills,
    /// recorded in the table's locator when none is yet; refused when the locator names another
    /// materializer's pointer (the pointer cannot move between slots atomically).</summary>
    private async Task<string> ClusterPointerAsync(string table, string materializer)
    {
        var pointer = _keys.ClusterGeneration(table, materializer)
            ?? throw new SinkFatalException($"table \"{table}\": on a Redis Cluster the key generation pointer carries the hash tag of the checkpoint key of '{materializer}' ({_keys.Checkpoint(materializer)}), and that key's hashed part holds a '}}' (or the table name a '{{'); rename the materializer or the table for a shadow backfill");
        var locator = _keys.GenerationLocator(table);
        await _db.StringSetAsync(locator, pointer, when: When.NotExists);
        var recorded = (string?)await _db.StringGetAsync(locator);
        if (!string.Equals(recorded, pointer, StringComparison.Ordinal))
        {
            throw new SinkFatalException($"table \"{table}\": on a Redis Cluster its key generation is switched by the pointer {recorded} (named in {locator}), which belongs to another materializer's checkpoint than that of '{materializer}'; shadow-backfill this table through that materializer");
        }

        return pointer;
    }

    /// <summary>Unlinks every row, index set, state, marker and metadata key of one generation of a
    /// target, a SCAN page at a time. Returns how many row keys went.</summary>
    private async Task<long> DeleteGenerationAsync(RedisTarget target)
    {
        long rows = 0;
        var indexSets = new HashSet<string>(StringComparer.Ordinal);
        var page = new List<RedisKey>();
        await foreach (var states in StatePagesAsync(target))
        {
            page.Clear();
            foreach (var (stateKey, state) in states)
            {
                indexSets.UnionWith(state?.Indexes ?? []);
                var rowKey = _keys.RowKeyOf(target.StateTable, stateKey.ToString());
                page.Add(stateKey);
                page.Add(rowKey);
                if (_keys.Cluster)
                {
                    page.Add(_keys.LeftIndexes(target.StateTable, rowKey));
                }

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
        // On a cluster the keys are in many slots: one GET each, pipelined, instead of one MGET.
        var values = _keys.Cluster ? await Task.WhenAll(keys.Select(k => _db.StringGetAsync(k))) : await _db.StringGetAsync([.. keys]);
        return [.. keys.Select((k, i) => (k, RedisState.TryParse((byte[]?)values[i])))];
    }

    /// <summary>UNLINK: the server frees the values in the background, so a large generation does not
    /// block it. On a cluster one UNLINK per key (pipelined), each sent to its slot's primary.</summary>
    private Task UnlinkAsync(List<RedisKey> keys) => _keys.Cluster
        ? Task.WhenAll(keys.Select(k => _db.ExecuteAsync("UNLINK", k)))
        : _db.ExecuteAsync("UNLINK", [.. keys.Select(k => (object)k)]);

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
