using System.Runtime.InteropServices;
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

    /// <summary>Per row key, the newest change, checked but not encoded: only the one that survives is.</summary>
    public Dictionary<string, HeldChange> Rows { get; } = new(StringComparer.Ordinal);

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

/// <summary>A change held by a shadow load: its index keys, and for the JSON format its row's text (the
/// rendering is what can refuse such a row, so it is done when the change arrives). A value in the
/// load's dictionary: most held changes are replaced by a newer one of their key, and holding them
/// allocates nothing of its own.</summary>
internal readonly record struct HeldChange(ChangeEvent Change, List<string> Indexes, byte[]? Json);

/// <summary>The bulk load of a shadow generation: one writer, in log order, into keys no one else
/// writes. A change is checked for what can refuse it when it arrives, then kept only if it is not
/// older than the one held for its row key (the script's comparison); it is encoded only at the
/// write-out, if it is still the newest. Held changes of keys the generation does not hold yet are
/// written as the plain commands the script would have run on an absent key; the others go through the
/// script. A change the script path needs (a truncate, one without an LSN, a partial row) first writes
/// out what is held.</summary>
internal sealed partial class RedisWriter
{
    public async Task<ApplyResult> LoadShadowAsync(RedisShadowLoad load, SinkBatch batch)
    {
        var target = Target(batch.Target);
        var context = new BatchContext(target);
        var pending = new List<Task>();
        var guarded = new List<ChangeEvent>();
        var rendered = new List<RedisValue>(1);
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

            rendered.Clear();
            var problem = Check(target, change, out var rowKey, out var indexes, out _);
            if (problem is null && !change.IsDelete && target.Format == RedisValueFormat.Json)
            {
                problem = AddJson(target, change.After!, rendered, partial: false);
            }

            if (problem is not null)
            {
                context.Reject(change, $"table \"{target.Table}\"{DescribeKey(change)}: {problem}");
                continue;
            }

            if (!change.IsDelete)
            {
                target.Register(change.After!, change.Key.Names, _db, _keys, pending);
            }

            // One lookup of the row key: the slot is filled below, or left empty and removed again.
            ref var held = ref CollectionsMarshal.GetValueRefOrAddDefault(load.Rows, rowKey, out var isHeld);
            if (isHeld)
            {
                if (change.Version.CompareTo(held.Change.Version) == VersionOrder.Older)
                {
                    context.Stale++;
                    continue;
                }

                if (!SameKey(held.Change.Key, change.Key) && !string.Equals(held.Change.KeyText, change.KeyText, StringComparison.Ordinal))
                {
                    context.Reject(change, $"table \"{target.Table}\"{DescribeKey(change)}: {Explain(target, "collision")}");
                    continue;
                }
            }
            else if (load.Truncated is { } truncated && change.Version.CompareTo(truncated) == VersionOrder.Older)
            {
                // A key the generation holds has a version at or past the marker, so a change older
                // than the marker is stale whether the key is held or not.
                load.Rows.Remove(rowKey);
                context.Stale++;
                continue;
            }

            held = new HeldChange(change, indexes, rendered.Count > 0 ? (byte[])rendered[0]! : null);
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

    /// <summary>Whether two keys have the same columns and values. Their key texts are then equal too
    /// (<see cref="Row.ToJson"/> writes only names and values), so the texts need not be made to tell
    /// that two changes of one row key are of one source key.</summary>
    private static bool SameKey(Row held, Row change)
    {
        if (held.Count != change.Count)
        {
            return false;
        }

        for (var i = 0; i < held.Count; i++)
        {
            if (!string.Equals(held.Names[i], change.Names[i], StringComparison.Ordinal) || !held.Values[i].Equals(change.Values[i]))
            {
                return false;
            }
        }

        return true;
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

    /// <summary>How many held rows' plain commands go out together in a write-out: a page of them is sent
    /// as soon as it is built, so that the server works through it while the client builds the next.</summary>
    internal const int WriteOutRows = 1000;

    /// <summary>Writes the held changes: those of keys without a state in the generation as plain
    /// commands, pipelined in pages of <see cref="WriteOutRows"/>, the others through the apply script
    /// (which compares and reports).</summary>
    private async Task FlushShadowRowsAsync(RedisShadowLoad load, RedisTarget target, BatchContext context)
    {
        if (load.Rows.Count == 0)
        {
            return;
        }

        var rows = load.Rows.ToList();
        var stored = load.MaybeStored ? await StoredStatesAsync(target, rows) : null;
        load.MaybeStored = true;
        var writes = new List<Task>(rows.Count * 3);
        var statePrefix = _keys.Cluster ? null : _keys.StatePrefix(target.StateTable);

        // Live states without a TTL go out as one MSET per page (not on a cluster, where a page's keys
        // are in many slots): one command instead of one per row, on both sides of the connection.
        var states = statePrefix is not null && target.TtlMs == 0 ? new List<KeyValuePair<RedisKey, RedisValue>>(WriteOutRows) : null;
        var batch = _db.CreateBatch();
        var inBatch = 0;
        var scripted = new List<KeyValuePair<string, HeldChange>>();
        for (var i = 0; i < rows.Count; i++)
        {
            if (stored is not null && stored[i])
            {
                scripted.Add(rows[i]);
                continue;
            }

            WritePlain(batch, target, statePrefix, rows[i].Key, rows[i].Value, writes, states);
            if (++inBatch == WriteOutRows)
            {
                // Sent now, so that Redis applies these while the next rows' commands are built.
                SendPage(batch, states, writes);
                batch = _db.CreateBatch();
                inBatch = 0;
            }
        }

        SendPage(batch, states, writes);
        var calls = new List<(Task<RedisResult> Call, List<ChangeEvent> Changes)>();
        var marker = await ClusterMarkerAsync(target);
        foreach (var chunk in scripted.Chunk(PerCall))
        {
            var args = Header(target);
            var sent = new List<ChangeEvent>(chunk.Length);
            foreach (var (rowKey, held) in chunk)
            {
                var before = args.Count;
                if (AddArguments(target, held.Change, rowKey, held.Indexes, partial: false, args) is { } problem)
                {
                    args.RemoveRange(before, args.Count - before);
                    context.Reject(held.Change, $"table \"{target.Table}\"{DescribeKey(held.Change)}: {problem}");
                    continue;
                }

                sent.Add(held.Change);
            }

            if (sent.Count > 0)
            {
                calls.Add((CallAsync(target, args, marker), sent));
            }
        }

        await Task.WhenAll(writes.Concat(calls.Select(c => (Task)c.Call)));
        foreach (var (call, sent) in calls)
        {
            var statuses = (RedisResult[])call.Result!;
            for (var i = 0; i < sent.Count; i++)
            {
                var status = Status(statuses[i]);
                if (status is not ("0" or "1" or "4"))
                {
                    context.Reject(sent[i], $"table \"{target.Table}\"{DescribeKey(sent[i])}: {Explain(target, status)}");
                }
            }
        }

        load.Rows.Clear();
    }

    private static void SendPage(IBatch batch, List<KeyValuePair<RedisKey, RedisValue>>? states, List<Task> writes)
    {
        if (states is { Count: > 0 })
        {
            writes.Add(batch.StringSetAsync([.. states]));
            states.Clear();
        }

        batch.Execute();
    }

    /// <summary>Per held row, whether the generation holds a state for its key (one MGET per page).</summary>
    private async Task<bool[]> StoredStatesAsync(RedisTarget target, List<KeyValuePair<string, HeldChange>> rows)
    {
        var stored = new bool[rows.Count];
        var reads = new List<(int From, Task<RedisValue[]> Values)>();
        for (var from = 0; from < rows.Count; from += ScanPage)
        {
            var keys = rows.Skip(from).Take(ScanPage).Select(r => (RedisKey)_keys.State(target.StateTable, r.Key)).ToArray();
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
    /// (<c>D</c>) of a key with no state and no value, built from the held change: the row (hash fields
    /// or JSON text) with the target's TTL, the row key in each index set, the state (a delete's with
    /// the marker TTL).</summary>
    /// <param name="statePrefix">What comes before a row key in its state key, when that is the same for
    /// every row key (not on a cluster, where it carries the row key's hash tag).</param>
    /// <param name="states">Where a live row's state goes when the page writes them with one MSET (no TTL).</param>
    private void WritePlain(IBatch batch, RedisTarget target, string? statePrefix, string rowKey, HeldChange held, List<Task> writes, List<KeyValuePair<RedisKey, RedisValue>>? states)
    {
        var change = held.Change;
        var stateKey = statePrefix is null ? _keys.State(target.StateTable, rowKey) : statePrefix + rowKey;
        var (state, _) = State(change.IsDelete, change.Version, change.KeyText, held.Indexes);
        if (change.IsDelete)
        {
            writes.Add(batch.StringSetAsync(stateKey, state, TimeSpan.FromMilliseconds((long)target.MarkerTtl.TotalMilliseconds)));
            return;
        }

        foreach (var index in held.Indexes)
        {
            writes.Add(batch.SetAddAsync(index, rowKey));
        }

        var ttl = target.TtlMs > 0 ? TimeSpan.FromMilliseconds(target.TtlMs) : (TimeSpan?)null;
        if (target.Format == RedisValueFormat.Hash)
        {
            var image = change.After!;
            var pairs = 0;
            for (var i = 0; i < image.Count; i++)
            {
                pairs += IsHashField(target, image, i) ? 1 : 0;
            }

            if (pairs > 0)
            {
                var entries = new HashEntry[pairs];
                pairs = 0;
                for (var i = 0; i < image.Count; i++)
                {
                    if (IsHashField(target, image, i))
                    {
                        entries[pairs++] = new HashEntry(image.Names[i], HashValue(image.Values[i]));
                    }
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
            writes.Add(SetAsync(batch, rowKey, held.Json, ttl));
        }

        if (states is not null)
        {
            states.Add(new(stateKey, state));
        }
        else
        {
            writes.Add(SetAsync(batch, stateKey, state, ttl));
        }
    }

    private static Task<bool> SetAsync(IBatch batch, RedisKey key, RedisValue value, TimeSpan? ttl) =>
        ttl is { } expiry ? batch.StringSetAsync(key, value, expiry) : batch.StringSetAsync(key, value);
}
