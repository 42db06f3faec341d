using System.Buffers;
using System.Collections.Concurrent;
using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Redis;

/// <summary>The per-batch work of the Redis sink on one connection: builds each change's row key,
/// value, index keys and version, sends them to <see cref="RedisScripts.Apply"/> in pipelined calls of
/// <see cref="RedisSinkOptions.ChangesPerScript"/> changes (one wait per batch), reports stale and
/// rejected changes, calls <see cref="SinkBatch.BeforeCommit"/>, then writes the checkpoint.
/// Not thread-safe: <see cref="RedisSink"/> serializes calls.</summary>
internal sealed partial class RedisWriter
{
    private readonly IDatabase _db;
    private readonly IServer _server;
    private readonly RedisKeys _keys;
    private readonly int _perScript;
    private readonly TimeSpan _replicaWait;
    private readonly Dictionary<TargetSpec, RedisTarget> _targets = [];

    // On a cluster: each table's generation pointer key, as its locator names it (set once, never changed).
    private readonly ConcurrentDictionary<string, string> _generationPointers = new(StringComparer.Ordinal);

    // The stream of consecutive changes is usually the same string: its encoded field is kept.
    private string? _lastStream;
    private byte[] _lastStreamField = [];

    // Reused per change: the state is encoded here and copied out once.
    private readonly ArrayBufferWriter<byte> _state = new(256);

    // Reused per script call: the arguments are copied out once into the call's own array.
    private List<RedisValue>? _callArgs;

    /// <param name="replicaWait">On a cluster, how long each primary may wait for its replicas to
    /// acknowledge a batch's writes before the checkpoint is written (<see cref="AwaitReplicasAsync(RedisKey)"/>).</param>
    public RedisWriter(IDatabase db, IServer server, RedisKeys keys, int perScript, TimeSpan replicaWait = default)
    {
        _db = db;
        _server = server;
        _keys = keys;
        _perScript = perScript;
        _replicaWait = replicaWait;
    }

    public async Task<bool> PingAsync()
    {
        await _db.PingAsync();
        return true;
    }

    public async Task<Dictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer)
    {
        var entries = await _db.HashGetAllAsync(_keys.Checkpoint(materializer));
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            result[entry.Name.ToString()] = StreamPosition.Parse(entry.Value.ToString());
        }

        return result;
    }

    /// <summary>HSETNX of each entry in one script (atomic on the server), then their values
    /// (ISink.AddCheckpointEntriesAsync).</summary>
    public async Task<IReadOnlyDictionary<string, StreamPosition>> AddCheckpointEntriesAsync(string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries)
    {
        var args = new List<RedisValue>(entries.Count * 2);
        foreach (var (stream, position) in entries)
        {
            args.Add(stream);
            args.Add(position.ToString());
        }

        var values = (RedisValue[]?)await _db.ScriptEvaluateAsync(RedisScripts.AddCheckpointEntries, [_keys.Checkpoint(materializer)], [.. args]) ?? [];
        var stored = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        for (var i = 0; i < entries.Count && i < values.Length; i++)
        {
            if (!values[i].IsNull)
            {
                stored[entries[i].Key] = StreamPosition.Parse(values[i].ToString());
            }
        }

        return stored;
    }

    public async Task<ApplyResult> ApplyAsync(SinkBatch batch)
    {
        var target = Target(batch.Target);
        var context = new BatchContext(target);
        var segment = new List<ChangeEvent>();
        foreach (var change in batch.Changes)
        {
            if (change.Op == ChangeOp.Truncate)
            {
                await ApplySegmentAsync(context, segment);
                segment.Clear();
                await ApplyTruncateAsync(context, change);
            }
            else
            {
                segment.Add(change);
            }
        }

        await ApplySegmentAsync(context, segment);

        if (context.Rejected.Count > 0 && batch.BeforeCommit is { } beforeCommit)
        {
            await beforeCommit(context.Rejected, CancellationToken.None);
        }

        if (batch.Checkpoint.Count > 0)
        {
            var skipped = _keys.Cluster ? await AwaitReplicasAsync(_keys.Checkpoint(batch.Materializer)) : null;
            await WriteCheckpointAsync(batch);
            if (_keys.Cluster)
            {
                await AwaitSkippedPrimaryAsync(_keys.Checkpoint(batch.Materializer), skipped);
            }
        }

        return context.ToResult();
    }

    /// <summary>Writes the batch's checkpoint; with <see cref="SinkBatch.ExpectedCheckpoint"/>, only while
    /// the stored one holds every expected stream at or past its position
    /// (<see cref="RedisScripts.WriteCheckpointIfHeld"/>): a Redis restarted from an older snapshot
    /// during the batch, or restarted empty, is behind, and the checkpoint is not written.</summary>
    private async Task WriteCheckpointAsync(SinkBatch batch)
    {
        var key = _keys.Checkpoint(batch.Materializer);
        if (batch.ExpectedCheckpoint is not { Count: > 0 } expected)
        {
            await _db.HashSetAsync(key, [.. batch.Checkpoint.Select(p => new HashEntry(p.Key, p.Value.ToString()))]);
            return;
        }

        var args = new List<RedisValue>(1 + (2 * (expected.Count + batch.Checkpoint.Count))) { expected.Count };
        foreach (var (stream, position) in expected)
        {
            args.Add(stream);
            args.Add(position.ToString());
        }

        foreach (var (entry, position) in batch.Checkpoint)
        {
            args.Add(entry);
            args.Add(position.ToString());
        }

        if ((long)await _db.ScriptEvaluateAsync(RedisScripts.WriteCheckpointIfHeld, [key], [.. args]) != 1)
        {
            throw new SinkCheckpointChangedException(batch.Materializer);
        }
    }

    /// <summary>Sends the changes (no truncates among them) in pipelined script calls and waits once.</summary>
    private async Task ApplySegmentAsync(BatchContext context, List<ChangeEvent> changes)
    {
        if (changes.Count == 0)
        {
            return;
        }

        var target = context.Target;
        _indexWork.Clear();
        var marker = await ClusterMarkerAsync(target);
        var perCall = PerCall;
        var pending = new List<Task>();
        var calls = new List<(Task<RedisResult> Call, List<ChangeEvent> Changes)>();
        var args = CallArgs(target);
        var inCall = new List<ChangeEvent>();
        foreach (var change in changes)
        {
            var before = args.Count;
            var problem = Encode(target, change, args, pending);
            if (problem is not null)
            {
                args.RemoveRange(before, args.Count - before);
                context.Reject(change, $"table \"{target.Table}\"{DescribeKey(change)}: {problem}");
                continue;
            }

            inCall.Add(change);
            if (inCall.Count >= perCall)
            {
                calls.Add((CallAsync(target, args, marker), inCall));
                args = CallArgs(target);
                inCall = [];
            }
        }

        if (inCall.Count > 0)
        {
            calls.Add((CallAsync(target, args, marker), inCall));
        }

        await Task.WhenAll(pending.Concat(calls.Select(c => (Task)c.Call)));
        if (_keys.Cluster && await ConvergeIndexesAsync() is { Count: > 0 } indexProblems)
        {
            foreach (var change in calls.SelectMany(c => c.Changes))
            {
                if (indexProblems.TryGetValue(target.Shape(change.Key.Names).Template.Render(change.Key, out _)!, out var problem))
                {
                    context.Reject(change, $"table \"{target.Table}\"{DescribeKey(change)}: {problem}");
                }
            }
        }

        foreach (var (call, sent) in calls)
        {
            var statuses = (RedisResult[])call.Result!;
            for (var i = 0; i < sent.Count; i++)
            {
                var change = sent[i];
                switch (Status(statuses[i]))
                {
                    case "1":
                        if (change.IsDelete)
                        {
                            context.Deleted++;
                        }
                        else
                        {
                            context.Upserted++;
                        }

                        break;
                    case "4":
                        context.Upserted++;
                        context.Unavailable++;
                        break;
                    case "0":
                        context.Stale++;
                        break;
                    case var error:
                        context.Reject(change, $"table \"{target.Table}\"{DescribeKey(change)}: {Explain(target, error)}");
                        break;
                }
            }
        }
    }

    /// <summary>A truncate removes every row whose version it supersedes and marks it deleted; rows
    /// written after it (newer versions) survive a replayed truncate. A table-level marker makes a late,
    /// older change of a key never seen before stale too.</summary>
    private async Task ApplyTruncateAsync(BatchContext context, ChangeEvent change)
    {
        var target = context.Target;
        var version = change.Version;
        var markerKey = _keys.TruncateMarker(target.StateTable);
        var marker = RedisState.TryParse((byte[]?)await _db.StringGetAsync(markerKey));
        if (marker is not null && !version.Supersedes(marker.Version))
        {
            context.Stale++;
            return;
        }

        var ops = new List<string>();
        await foreach (var stateKey in StateKeysAsync(target))
        {
            ops.Add(_keys.RowKeyOf(target.StateTable, stateKey.ToString()));
        }

        var statuses = await RunKeyOpsAsync(target, 'x', ops, version);
        context.Deleted += statuses.Count(s => s == "1");
        var stored = new RedisState(true, version with { Lsn = version.Lsn ?? marker?.Version.Lsn }, "*", []);
        await _db.StringSetAsync(markerKey, stored.Encode(), target.MarkerTtl);
    }

    public async Task<long> CountAsync(TargetSpec spec, SubjectMatch match) => (await CountManyAsync(spec, new SubjectMatches(match.Column, [match.Value])))[0];

    /// <summary>Runs one key-level op (<c>e</c> erase, <c>x</c> truncate) over row keys in pipelined calls.</summary>
    private Task<List<string>> RunKeyOpsAsync(RedisTarget target, char op, List<string> rowKeys, ChangeVersion? version) =>
        RunRowOpsAsync(target, op, rowKeys.Select(rowKey => (rowKey, string.Empty)), version ?? new ChangeVersion(null, string.Empty, StreamPosition.Start));

    /// <summary>Runs one row op of the apply script over rows in pipelined calls, each row with the
    /// version the op carries and the text of its key (empty where the op does not need it).</summary>
    private async Task<List<string>> RunRowOpsAsync(RedisTarget target, char op, IEnumerable<(string RowKey, string KeyText)> rows, ChangeVersion version)
    {
        _indexWork.Clear();
        var marker = await ClusterMarkerAsync(target);
        var calls = new List<Task<RedisResult>>();
        foreach (var chunk in rows.Chunk(PerCall))
        {
            var args = Header(target);
            foreach (var (rowKey, keyText) in chunk)
            {
                args.Add(op.ToString());
                args.Add(rowKey);
                AddVersion(args, version);
                args.Add(keyText);
                args.Add(string.Empty);
                args.Add(string.Empty);
                args.Add(0);
            }

            calls.Add(CallAsync(target, args, marker));
        }

        await Task.WhenAll(calls);
        if (_keys.Cluster)
        {
            // Erase and truncate only leave index sets: nothing to join, so nothing to refuse.
            await ConvergeIndexesAsync();
        }

        return [.. calls.SelectMany(c => (RedisResult[])c.Result!).Select(Status)];
    }

    private const int ScanPage = 1000;

    /// <summary>A column of a JSON row (or key) as canonical text, the way <see cref="FieldValue.ToText"/> gives it.</summary>
    internal static string? ColumnText(RedisValue json, string column)
    {
        if (json.IsNull)
        {
            return null;
        }

        using var document = JsonDocument.Parse((byte[])json!);
        return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(column, out var value)
            ? CanonicalText(value)
            : null;
    }

    internal static string? CanonicalText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText(),
    };

    /// <summary>Appends one change to the script's arguments; returns the problem when it cannot be written.</summary>
    private string? Encode(RedisTarget target, ChangeEvent change, List<RedisValue> args, List<Task> pending)
    {
        var problem = Check(target, change, out var rowKey, out var indexes, out var partial) ?? AddArguments(target, change, rowKey, indexes, partial, args);
        if (problem is not null)
        {
            return problem;
        }

        if (!change.IsDelete)
        {
            target.Register(change.After!, change.Key.Names, _db, _keys, pending);
        }

        return null;
    }

    /// <summary>What can refuse a change before its row is encoded: its key, row image and index keys;
    /// gives its row key, index keys and whether its image lacks a stored column's value.</summary>
    private string? Check(RedisTarget target, ChangeEvent change, out string rowKey, out List<string> indexes, out bool partial)
    {
        rowKey = string.Empty;
        indexes = NoIndexes;
        partial = false;
        var key = change.Key;
        if (key.Count == 0)
        {
            return $"a {change.Op} has no key columns";
        }

        var shape = target.Shape(key.Names);
        if (shape.Problem is not null)
        {
            return shape.Problem;
        }

        for (var i = 0; i < key.Count; i++)
        {
            if (key.Values[i].IsNull)
            {
                return $"key column \"{key.Names[i]}\" is NULL";
            }
        }

        rowKey = shape.Template.Render(key, out _)!;
        if (rowKey.StartsWith(_keys.Prefix, StringComparison.Ordinal))
        {
            return $"its Redis key would start with keyPrefix ({_keys.Prefix}), where sync keeps its own keys; the row was not written";
        }

        if (_keys.Cluster && ClusterProblem(target, rowKey) is { } clusterProblem)
        {
            return clusterProblem;
        }

        var image = change.After;
        if (!change.IsDelete)
        {
            if (image is null)
            {
                return $"a {change.Op} has no row image (after)";
            }

            foreach (var name in key.Names)
            {
                var i = image.IndexOf(name);
                if (i < 0)
                {
                    return $"key column \"{name}\" is missing from the row image";
                }

                if (image.Values[i].IsNull)
                {
                    return $"key column \"{name}\" is NULL in the row image";
                }
            }

            partial = HasUnavailable(target, image);
            foreach (var index in target.Indexes)
            {
                if (partial && index.Placeholders.FirstOrDefault(c => image.TryGet(c, out var v) && v.IsUnavailable) is { } unsent)
                {
                    return $"index {index.Text} names column \"{unsent}\", whose value the source did not send (an unchanged TOASTed column: Debezium's unavailable-value placeholder), so the row's index key is unknown; the row was not written (REPLICA IDENTITY FULL on the source table makes updates carry it)";
                }

                var indexKey = index.Render(image, out _);
                if (indexKey is not null && indexKey.StartsWith(_keys.Prefix, StringComparison.Ordinal))
                {
                    return $"its index key for {index.Text} would start with keyPrefix ({_keys.Prefix}), where sync keeps its own keys; the row was not written";
                }

                if (indexKey is not null && !indexes.Contains(indexKey, StringComparer.Ordinal))
                {
                    if (ReferenceEquals(indexes, NoIndexes))
                    {
                        indexes = [];
                    }

                    indexes.Add(indexKey);
                }
            }
        }

        return null;
    }

    /// <summary>Appends a checked change (<see cref="Check"/>) to the script's arguments; returns the
    /// problem when its row cannot be encoded.</summary>
    private string? AddArguments(RedisTarget target, ChangeEvent change, string rowKey, List<string> indexes, bool partial, List<RedisValue> args)
    {
        var version = change.Version;
        var (state, tail) = State(change.IsDelete, version, change.KeyText, indexes);
        if (version.Lsn is { } lsn)
        {
            // The short form: the state holds the rest of the version and the key.
            args.Add(change.IsDelete ? "D" : partial ? "P" : "U");
            args.Add(rowKey);
            args.Add(lsn);
            args.Add(state);
        }
        else
        {
            args.Add(change.IsDelete ? "d" : partial ? "p" : "u");
            args.Add(rowKey);
            AddVersion(args, version);
            args.Add(change.KeyText);
            args.Add(string.Empty);
        }

        args.Add(tail);
        args.Add(indexes.Count);
        foreach (var index in indexes)
        {
            args.Add(index);
        }

        if (change.IsDelete)
        {
            return null;
        }

        return target.Format == RedisValueFormat.Hash ? AddHash(target, change.After!, args, partial) : AddJson(target, change.After!, args, partial);
    }

    /// <summary>True when a column the target stores is one the source did not send (<see cref="FieldValue.IsUnavailable"/>).</summary>
    private static bool HasUnavailable(RedisTarget target, Row image)
    {
        for (var i = 0; i < image.Count; i++)
        {
            if (image.Values[i].IsUnavailable && target.Stores(image.Names[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The hash value: pair count, then field, value… (NULL columns left out); for a partial
    /// upsert then the count and names of the unsent columns, whose stored fields the script keeps.</summary>
    private static string? AddHash(RedisTarget target, Row image, List<RedisValue> args, bool partial)
    {
        var countAt = args.Count;
        args.Add(0);
        var pairs = 0;
        for (var i = 0; i < image.Count; i++)
        {
            if (IsHashField(target, image, i))
            {
                args.Add(image.Names[i]);
                args.Add(HashValue(image.Values[i]));
                pairs++;
            }
        }

        args[countAt] = pairs;
        if (partial)
        {
            countAt = args.Count;
            args.Add(0);
            var unsent = 0;
            for (var i = 0; i < image.Count; i++)
            {
                if (image.Values[i].IsUnavailable && target.Stores(image.Names[i]))
                {
                    args.Add(image.Names[i]);
                    unsent++;
                }
            }

            args[countAt] = unsent;
        }

        return null;
    }

    /// <summary>Whether a column of the image is a field of the row's hash (NULL and unsent columns are not).</summary>
    private static bool IsHashField(RedisTarget target, Row image, int i) =>
        !image.Values[i].IsNull && !image.Values[i].IsUnavailable && target.Stores(image.Names[i]);

    /// <summary>A hash field's value; a long is sent as its decimal digits, as ToText gives it.</summary>
    private static RedisValue HashValue(in FieldValue value) => value.Kind == ValueKind.Int64 ? value.AsInt64 : value.ToText();

    /// <summary>The JSON value: the row's JSON text; for a partial upsert the count of unsent columns, then
    /// the text cut where their values go (segment, name, segment, …), for the script to put the stored
    /// values there: the row keeps its column order.</summary>
    private static string? AddJson(RedisTarget target, Row image, List<RedisValue> args, bool partial)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        List<(string Name, int Start, int End)>? cuts = partial ? [] : null;
        try
        {
            using var writer = new Utf8JsonWriter(buffer);
            writer.WriteStartObject();
            for (var i = 0; i < image.Count; i++)
            {
                if (!target.Stores(image.Names[i]))
                {
                    continue;
                }

                writer.WritePropertyName(image.Names[i]);
                if (image.Values[i].IsUnavailable)
                {
                    // A null keeps the writer's state valid; its bytes are where the stored value goes.
                    writer.Flush();
                    var start = buffer.WrittenCount;
                    writer.WriteNullValue();
                    writer.Flush();
                    cuts!.Add((image.Names[i], start, buffer.WrittenCount));
                }
                else
                {
                    image.Values[i].WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            return $"the row cannot be written as JSON: {e.GetType().Name}";
        }

        var json = buffer.WrittenMemory;
        if (cuts is null)
        {
            args.Add(json.ToArray());
            return null;
        }

        args.Add(cuts.Count);
        var from = 0;
        foreach (var (name, start, end) in cuts)
        {
            args.Add(json[from..start].ToArray());
            args.Add(name);
            from = end;
        }

        args.Add(json[from..].ToArray());
        return null;
    }

    /// <summary>The state the change writes (the encoding of <see cref="RedisState.Encode"/>) and its tail,
    /// the part after the batch index, as UTF-8 in one array. Without an LSN the state is only its tail
    /// (the script puts the head before it): the change inherits the stored LSN, which only the script knows.</summary>
    private (ReadOnlyMemory<byte> State, ReadOnlyMemory<byte> Tail) State(bool deleted, ChangeVersion version, string keyText, List<string> indexes)
    {
        if (!ReferenceEquals(version.Stream, _lastStream))
        {
            _lastStream = version.Stream;
            _lastStreamField = Encoding.UTF8.GetBytes(string.Concat(Encoding.UTF8.GetByteCount(version.Stream).ToString(CultureInfo.InvariantCulture), ":", version.Stream));
        }

        _state.ResetWrittenCount();
        if (version.Lsn is { } lsn)
        {
            WriteAscii(deleted ? "1," : "0,");
            WriteNumber(lsn);
            WriteNumber(version.Position.Ledger);
            WriteNumber(version.Position.Entry);
            WriteNumber(version.Position.BatchIndex);
        }

        var headLength = _state.WrittenCount;
        var count = deleted ? 0 : indexes.Count;
        WriteNumber(count);
        WriteField(keyText);
        _state.Write(_lastStreamField);
        for (var i = 0; i < count; i++)
        {
            WriteField(indexes[i]);
        }

        var bytes = _state.WrittenSpan.ToArray();
        return (bytes, bytes.AsMemory(headLength));
    }

    private void WriteAscii(string text)
    {
        var span = _state.GetSpan(text.Length);
        var written = Encoding.ASCII.GetBytes(text, span);
        _state.Advance(written);
    }

    /// <summary>A number in decimal digits followed by a comma.</summary>
    private void WriteNumber(long value)
    {
        var span = _state.GetSpan(21);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        span[written] = (byte)',';
        _state.Advance(written + 1);
    }

    /// <summary>A text as the state encodes it: its length in UTF-8 bytes, a colon, the text.</summary>
    private void WriteField(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        var span = _state.GetSpan(length + 12);
        length.TryFormat(span, out var digits, default, CultureInfo.InvariantCulture);
        span[digits] = (byte)':';
        var written = Encoding.UTF8.GetBytes(value, span[(digits + 1)..]);
        _state.Advance(digits + 1 + written);
    }

    private static void AddVersion(List<RedisValue> args, ChangeVersion version)
    {
        args.Add(version.Lsn?.ToString(CultureInfo.InvariantCulture) ?? string.Empty);
        args.Add(version.Position.Ledger);
        args.Add(version.Position.Entry);
        args.Add(version.Position.BatchIndex);
        args.Add(version.Stream);
    }

    private static readonly List<string> NoIndexes = [];

    /// <summary>The reused argument list of a script call, holding only the header.</summary>
    private List<RedisValue> CallArgs(RedisTarget target)
    {
        _callArgs ??= new List<RedisValue>(5 + (_perScript * 16));
        _callArgs.Clear();
        AddHeader(_callArgs, target);
        return _callArgs;
    }

    private List<RedisValue> Header(RedisTarget target)
    {
        var args = new List<RedisValue>(5 + (_perScript * 8));
        AddHeader(args, target);
        return args;
    }

    private void AddHeader(List<RedisValue> args, RedisTarget target)
    {
        args.Add(target.Format == RedisValueFormat.Hash ? "h" : "j");
        args.Add(target.TtlMs);
        args.Add((long)target.MarkerTtl.TotalMilliseconds);
        args.Add(_keys.TruncateMarker(target.StateTable));
        args.Add(_keys.StatePrefix(target.StateTable));
    }

    private static string Status(RedisResult result) => result.Resp2Type == ResultType.Integer ? ((long)result).ToString(CultureInfo.InvariantCulture) : result.ToString();

    private static string Explain(RedisTarget target, string error)
    {
        if (error == "collision")
        {
            return $"its Redis key already holds the row of another key: the key template ({target.KeyTemplateText}) renders two keys alike (values containing the template's literal text); the row was not written";
        }

        if (error.StartsWith("wrongtype:", StringComparison.Ordinal))
        {
            return $"its Redis key holds a {error["wrongtype:".Length..]}, not a {(target.Format == RedisValueFormat.Hash ? "hash" : "string")} (WRONGTYPE); the row was not written";
        }

        if (error.StartsWith("wrongindex:", StringComparison.Ordinal)
            && int.TryParse(error.AsSpan("wrongindex:".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return $"an index set key of the row holds a value that is not a set (WRONGTYPE, its {n}. index key); the row was not written";
        }

        return $"the script refused it ({error})";
    }

    private static string DescribeKey(ChangeEvent change) =>
        change.Key.Count == 0 ? string.Empty : " (key " + string.Join(", ", change.Key.Names.Select(n => "\"" + n + "\"")) + ")";

    private RedisTarget Target(TargetSpec spec)
    {
        if (!_targets.TryGetValue(spec, out var target))
        {
            var options = spec.Options as RedisTargetOptions ?? new RedisTargetOptions();
            target = new RedisTarget(spec.Table, options, options.GenerationPrefix);
            _targets[spec] = target;
        }

        return target;
    }

    /// <summary>Forgets what was registered in the target metadata (after a failed attempt).</summary>
    public void Forget() => _targets.Clear();

    private sealed class BatchContext(RedisTarget target) : BatchTally
    {
        public RedisTarget Target { get; } = target;
    }
}

/// <summary>One target's compiled settings and what this process registered in its metadata.</summary>
internal sealed class RedisTarget
{
    private readonly RedisKeyTemplate? _template;
    private readonly HashSet<string>? _fields;
    private readonly Dictionary<string, KeyShape> _shapes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _registered = new(StringComparer.Ordinal);
    private bool _keyRegistered;
    private (string[] Names, KeyShape Shape)? _lastShape;
    private string[]? _lastRegisteredNames;

    /// <param name="generationPrefix">Put before every row and index key of the target, and before the
    /// table in the names of its state keys: the key generation a shadow backfill built ("" before any).</param>
    public RedisTarget(string table, RedisTargetOptions options, string generationPrefix = "")
    {
        var problems = options.Validate("target");
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems), nameof(options));
        }

        Table = table;
        GenerationPrefix = generationPrefix;
        StateTable = generationPrefix + table;
        Format = options.Format;
        _template = options.KeyTemplate is null ? null : RedisKeyTemplate.Parse(options.KeyTemplate);
        _fields = options.Fields is null ? null : new HashSet<string>(options.Fields, StringComparer.Ordinal);
        Indexes = [.. (options.Indexes ?? []).Select(RedisKeyTemplate.Parse).Select(t => t.WithLiteralPrefix(generationPrefix))];
        TtlMs = options.Ttl is { } ttl ? (long)Math.Ceiling(ttl.TotalMilliseconds) : 0;
        MarkerTtl = options.DeleteMarkerTtl;
    }

    public string Table { get; }

    /// <summary>The key generation's prefix ("" for the keys written before any shadow backfill).</summary>
    public string GenerationPrefix { get; }

    /// <summary>The name the target's state, marker and metadata keys are kept under (one per generation).</summary>
    public string StateTable { get; }

    public RedisValueFormat Format { get; }

    public IReadOnlyList<RedisKeyTemplate> Indexes { get; }

    public long TtlMs { get; }

    public TimeSpan MarkerTtl { get; }

    public string KeyTemplateText => _template?.Text ?? $"{Table}:{{key columns…}}";

    public bool Stores(string column) => _fields is null || _fields.Contains(column);

    public RedisKeyTemplate KeyTemplateFor(IReadOnlyList<string> keyColumns) =>
        (_template ?? RedisKeyTemplate.ForKey(Table, keyColumns)).WithLiteralPrefix(GenerationPrefix);

    /// <summary>The key template for rows with these key columns, or why it cannot serve them.</summary>
    public KeyShape Shape(string[] keyNames)
    {
        if (_lastShape is { } last && (ReferenceEquals(last.Names, keyNames) || last.Names.AsSpan().SequenceEqual(keyNames)))
        {
            return last.Shape;
        }

        var shape = ShapeOf(keyNames);
        _lastShape = ((string[])keyNames.Clone(), shape);
        return shape;
    }

    private KeyShape ShapeOf(string[] keyNames)
    {
        var id = string.Join('\0', keyNames);
        if (_shapes.TryGetValue(id, out var shape))
        {
            return shape;
        }

        var template = KeyTemplateFor(keyNames);
        string? problem = null;
        var key = string.Join(", ", keyNames.Select(n => "\"" + n + "\""));
        foreach (var column in template.Placeholders)
        {
            if (!keyNames.Contains(column, StringComparer.Ordinal))
            {
                problem = $"keyTemplate ({template.Text}) names column \"{column}\", which is not a key column (key: {key}): a row's Redis key must not move when a column is updated, so placeholders must be key columns";
                break;
            }
        }

        if (problem is null && keyNames.FirstOrDefault(k => !template.Placeholders.Contains(k, StringComparer.Ordinal)) is { } left)
        {
            problem = $"keyTemplate ({template.Text}) leaves out key column \"{left}\": rows that differ only in it would share one Redis key";
        }

        shape = new KeyShape(template, problem);
        _shapes[id] = shape;
        return shape;
    }

    /// <summary>Queues the metadata writes for key columns and stored columns not registered yet.</summary>
    public void Register(Row image, string[] keyNames, IDatabase db, RedisKeys keys, List<Task> pending)
    {
        // Rows decoded from one schema share one array of names: seen once, they are registered.
        if (_keyRegistered && ReferenceEquals(image.Names, _lastRegisteredNames))
        {
            return;
        }

        var meta = keys.Meta(StateTable);
        if (!_keyRegistered)
        {
            pending.Add(db.HashSetAsync(meta, "key", JsonSerializer.Serialize(keyNames), When.NotExists));
            _keyRegistered = true;
        }

        List<HashEntry>? added = null;
        foreach (var name in image.Names)
        {
            if (Stores(name) && _registered.Add(name))
            {
                (added ??= []).Add(new HashEntry("c:" + name, 1));
            }
        }

        if (added is not null)
        {
            pending.Add(db.HashSetAsync(meta, [.. added]));
        }

        _lastRegisteredNames = image.Names;
    }

    internal sealed record KeyShape(RedisKeyTemplate Template, string? Problem);
}
