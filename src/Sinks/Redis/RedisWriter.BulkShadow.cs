using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Redis;

/// <summary>The newest change per row key of a shadow generation being bulk-loaded
/// (<see cref="RedisSinkOptions.BulkShadow"/>), held until it is written out with plain pipelined
/// writes, and the checkpoint those changes reach. Lives in the sink, not in a connection's writer, so
/// that a reconnect keeps it.</summary>
internal sealed class RedisShadowLoad(int maxKeys)
{
    public int MaxKeys { get; } = maxKeys;

    /// <summary>Per row key, the newest change and the apply script's arguments for it (its encoding).</summary>
    public Dictionary<string, (ChangeEvent Change, RedisValue[] Args)> Rows { get; } = new(StringComparer.Ordinal);

    /// <summary>False while the generation is known to be empty: nothing but this load wrote it. Once a
    /// flush, a truncate, an erase or a change taken by the script path wrote it, a held key may have a
    /// state there, and the flush looks before it writes.</summary>
    public bool MaybeStored { get; set; }

    /// <summary>The version of the generation's truncate marker, once a truncate wrote one.</summary>
    public ChangeVersion? Truncated { get; set; }

    /// <summary>The checkpoint of the batches whose changes are held, written after them.</summary>
    public Dictionary<string, StreamPosition> Checkpoint { get; } = new(StringComparer.Ordinal);

    /// <summary>The expected checkpoint of the first batch held (<see cref="SinkBatch.ExpectedCheckpoint"/>):
    /// what the stored checkpoint still is, since none of the later ones was written.</summary>
    public IReadOnlyDictionary<string, StreamPosition>? ExpectedCheckpoint { get; set; }

    public string? Materializer { get; set; }

    public bool HoldsCheckpoint => Materializer is not null;
}

/// <summary>The bulk load of a shadow generation: one writer, in log order, into keys no one else
/// writes. A change is checked and encoded as the apply script would get it, then kept only if it is
/// not older than the one held for its row key (the script's comparison); held changes of keys the
/// generation does not hold yet are written as the plain commands the script would have run on an
/// absent key; the others go through the script. A change the script path needs (a truncate, one
/// without an LSN, a partial row) first writes out what is held.</summary>
internal sealed partial class RedisWriter
{
    public async Task<ApplyResult> LoadShadowAsync(RedisShadowLoad load, SinkBatch batch)
    {
        var target = Target(batch.Target);
        var context = new BatchContext(target);
        var pending = new List<Task>();
        var guarded = new List<ChangeEvent>();
        var args = new List<RedisValue>(32);
        foreach (var change in batch.Changes)
        {
            if (change.Op == ChangeOp.Truncate || change.Version.Lsn is null || (!change.IsDelete && change.After is { } image && HasUnavailable(target, image)))
            {
                await FlushShadowRowsAsync(load, target, context);
                load.MaybeStored = true;
                if (change.Op == ChangeOp.Truncate)
                {
                    await ApplySegmentAsync(context, guarded);
                    guarded.Clear();
                    await ApplyTruncateAsync(context, change);
                    load.Truncated = RedisState.TryParse((byte[]?)await _db.StringGetAsync(_keys.TruncateMarker(target.StateTable)))?.Version;
                }
                else
                {
                    guarded.Add(change);
                }

                continue;
            }

            if (guarded.Count > 0)
            {
                await ApplySegmentAsync(context, guarded);
                guarded.Clear();
            }

            args.Clear();
            if (Encode(target, change, args, pending) is { } problem)
            {
                context.Reject(change, $"table \"{target.Table}\"{DescribeKey(change)}: {problem}");
                continue;
            }

            var rowKey = (string)args[1]!;
            if (load.Rows.TryGetValue(rowKey, out var held))
            {
                if (change.Version.CompareTo(held.Change.Version) == VersionOrder.Older)
                {
                    context.Stale++;
                    continue;
                }

                if (!string.Equals(held.Change.KeyText, change.KeyText, StringComparison.Ordinal))
                {
                    context.Reject(change, $"table \"{target.Table}\"{DescribeKey(change)}: {Explain(target, "collision")}");
                    continue;
                }
            }
            else if (load.Truncated is { } truncated && change.Version.CompareTo(truncated) == VersionOrder.Older)
            {
                // A key the generation holds has a version at or past the marker, so a change older
                // than the marker is stale whether the key is held or not.
                context.Stale++;
                continue;
            }

            load.Rows[rowKey] = (change, [.. args]);
            if (change.IsDelete)
            {
                context.Deleted++;
            }
            else
            {
                context.Upserted++;
            }
        }

        await ApplySegmentAsync(context, guarded);
        await Task.WhenAll(pending);
        if (load.Rows.Count >= load.MaxKeys)
        {
            await FlushShadowRowsAsync(load, target, context);
        }

        if (context.Rejected.Count > 0 && batch.BeforeCommit is { } beforeCommit)
        {
            await beforeCommit(context.Rejected, CancellationToken.None);
        }

        if (batch.Checkpoint.Count > 0)
        {
            if (!load.HoldsCheckpoint)
            {
                load.Materializer = batch.Materializer;
                load.ExpectedCheckpoint = batch.ExpectedCheckpoint;
            }

            foreach (var (stream, position) in batch.Checkpoint)
            {
                load.Checkpoint[stream] = position;
            }
        }

        if (load.Rows.Count == 0)
        {
            await WriteShadowCheckpointAsync(load, batch.Target);
        }

        return context.ToResult();
    }

    /// <summary>Writes out every held change and then the checkpoint they reach; for any call on the
    /// generation other than a batch (a read, an erase, the swap). A held change the script refuses
    /// then (its key's state in the generation belongs to another key) fails the call.</summary>
    public async Task FlushShadowLoadAsync(RedisShadowLoad load, TargetSpec spec)
    {
        var target = Target(spec);
        var context = new BatchContext(target);
        await FlushShadowRowsAsync(load, target, context);
        if (context.Rejected.Count > 0)
        {
            throw new SinkFatalException($"table \"{target.Table}\": writing out the held changes of the shadow generation refused {context.Rejected.Count}: {string.Join("; ", context.Rejected.Take(3).Select(r => r.Reason))}");
        }

        await WriteShadowCheckpointAsync(load, spec);
    }

    private async Task WriteShadowCheckpointAsync(RedisShadowLoad load, TargetSpec spec)
    {
        if (load.Materializer is not { } materializer)
        {
            return;
        }

        await WriteCheckpointAsync(new SinkBatch(materializer, spec, [], new Dictionary<string, StreamPosition>(load.Checkpoint, StringComparer.Ordinal)) { ExpectedCheckpoint = load.ExpectedCheckpoint });
        load.Checkpoint.Clear();
        load.Materializer = null;
        load.ExpectedCheckpoint = null;
    }

    /// <summary>Writes the held changes: those of keys without a state in the generation as plain
    /// commands in one pipeline, the others through the apply script (which compares and reports).</summary>
    private async Task FlushShadowRowsAsync(RedisShadowLoad load, RedisTarget target, BatchContext context)
    {
        if (load.Rows.Count == 0)
        {
            return;
        }

        var rows = load.Rows.Values.ToList();
        var stored = load.MaybeStored ? await StoredStatesAsync(target, rows) : null;
        load.MaybeStored = true;
        var writes = new List<Task>(rows.Count * 3);
        var batch = _db.CreateBatch();
        var scripted = new List<(ChangeEvent Change, RedisValue[] Args)>();
        for (var i = 0; i < rows.Count; i++)
        {
            if (stored is not null && stored[i])
            {
                scripted.Add(rows[i]);
            }
            else
            {
                WritePlain(batch, target, rows[i].Args, writes);
            }
        }

        batch.Execute();
        var calls = new List<(Task<RedisResult> Call, (ChangeEvent Change, RedisValue[] Args)[] Rows)>();
        var marker = await ClusterMarkerAsync(target);
        foreach (var chunk in scripted.Chunk(PerCall))
        {
            var args = Header(target);
            foreach (var row in chunk)
            {
                args.AddRange(row.Args);
            }

            calls.Add((CallAsync(target, args, marker), chunk));
        }

        await Task.WhenAll(writes.Concat(calls.Select(c => (Task)c.Call)));
        foreach (var (call, sent) in calls)
        {
            var statuses = (RedisResult[])call.Result!;
            for (var i = 0; i < sent.Length; i++)
            {
                var status = Status(statuses[i]);
                if (status is not ("0" or "1" or "4"))
                {
                    context.Reject(sent[i].Change, $"table \"{target.Table}\"{DescribeKey(sent[i].Change)}: {Explain(target, status)}");
                }
            }
        }

        load.Rows.Clear();
    }

    /// <summary>Per held row, whether the generation holds a state for its key (one MGET per page).</summary>
    private async Task<bool[]> StoredStatesAsync(RedisTarget target, List<(ChangeEvent Change, RedisValue[] Args)> rows)
    {
        var stored = new bool[rows.Count];
        var reads = new List<(int From, Task<RedisValue[]> Values)>();
        for (var from = 0; from < rows.Count; from += ScanPage)
        {
            var keys = rows.Skip(from).Take(ScanPage).Select(r => (RedisKey)_keys.State(target.StateTable, (string)r.Args[1]!)).ToArray();
            reads.Add((from, _db.StringGetAsync(keys)));
        }

        foreach (var (from, values) in reads)
        {
            var page = await values;
            for (var i = 0; i < page.Length; i++)
            {
                stored[from + i] = !page[i].IsNull;
            }
        }

        return stored;
    }

    /// <summary>What the apply script does for the short form of an upsert (<c>U</c>) or delete
    /// (<c>D</c>) of a key with no state and no value: the row (hash fields or JSON text) with the
    /// target's TTL, the row key in each index set, the state (a delete's with the marker TTL).
    /// Arguments: op, row key, LSN, state, tail, index count, index keys…, then the value.</summary>
    private void WritePlain(IBatch batch, RedisTarget target, RedisValue[] args, List<Task> writes)
    {
        var rowKey = (string)args[1]!;
        var stateKey = _keys.State(target.StateTable, rowKey);
        var state = args[3];
        if (args[0] == "D")
        {
            writes.Add(batch.StringSetAsync(stateKey, state, TimeSpan.FromMilliseconds((long)target.MarkerTtl.TotalMilliseconds)));
            return;
        }

        var indexCount = (int)args[5];
        for (var j = 0; j < indexCount; j++)
        {
            writes.Add(batch.SetAddAsync((string)args[6 + j]!, rowKey));
        }

        var ttl = target.TtlMs > 0 ? TimeSpan.FromMilliseconds(target.TtlMs) : (TimeSpan?)null;
        var at = 6 + indexCount;
        if (target.Format == RedisValueFormat.Hash)
        {
            var pairs = (int)args[at];
            if (pairs > 0)
            {
                var entries = new HashEntry[pairs];
                for (var j = 0; j < pairs; j++)
                {
                    entries[j] = new HashEntry(args[at + 1 + (2 * j)], args[at + 2 + (2 * j)]);
                }

                writes.Add(batch.HashSetAsync(rowKey, entries));
                if (ttl is { } rowTtl)
                {
                    writes.Add(batch.KeyExpireAsync(rowKey, rowTtl));
                }
            }
        }
        else
        {
            writes.Add(SetAsync(batch, rowKey, args[at], ttl));
        }

        writes.Add(SetAsync(batch, stateKey, state, ttl));
    }

    private static Task<bool> SetAsync(IBatch batch, RedisKey key, RedisValue value, TimeSpan? ttl) =>
        ttl is { } expiry ? batch.StringSetAsync(key, value, expiry) : batch.StringSetAsync(key, value);
}
