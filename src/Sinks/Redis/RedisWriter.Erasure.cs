using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Redis;

/// <summary>Batch erasure: the rows of many subject values found and removed in pipelined round trips.</summary>
internal sealed partial class RedisWriter
{
    /// <summary>Removes the rows of every value, with an erasure marker for each, in pipelined script
    /// calls; when the table is keyed by the column alone (or holds no row yet and
    /// <see cref="SubjectMatches.IsKey"/>), a value without a live row gets its marker too, so that a
    /// change still in flight cannot create that key. Returns the rows removed per value.</summary>
    public async Task<long[]> EraseManyAsync(TargetSpec spec, SubjectMatches matches)
    {
        var target = Target(spec);
        var counts = new long[matches.Values.Count];
        var (found, keyColumns, wanted) = await FindManyAsync(target, matches);
        var statuses = await RunKeyOpsAsync(target, 'e', [.. found.Select(f => f.RowKey)], version: null);
        for (var i = 0; i < found.Count; i++)
        {
            counts[found[i].First] += statuses[i] == "1" ? 1 : 0;
        }

        var template = target.KeyTemplateFor(keyColumns.Length > 0 ? keyColumns : [matches.Column]);
        var soleKey = (keyColumns.Length == 0 ? matches.IsKey : keyColumns is [var only] && only == matches.Column)
            && template.Placeholders is [var placeholder] && placeholder == matches.Column;
        if (!soleKey)
        {
            return counts;
        }

        var withRow = found.Select(f => f.First).ToHashSet();
        var marks = new List<(string RowKey, string KeyText, int First)>();
        foreach (var (text, first) in wanted)
        {
            var rowKey = template.Render(_ => text, out _);
            if (!withRow.Contains(first) && rowKey is not null && !rowKey.StartsWith(_keys.Prefix, StringComparison.Ordinal))
            {
                marks.Add((rowKey, new Row([keyColumns.Length > 0 ? keyColumns[0] : matches.Column], [matches.Values[first]]).ToJson(), first));
            }
        }

        var marked = await RunMarksAsync(target, 'e', marks);
        for (var i = 0; i < marks.Count; i++)
        {
            // A row written since the search is erased by the same call, and counted.
            counts[marks[i].First] += marked[i] == "1" ? 1 : 0;
        }

        return counts;
    }

    /// <summary>Live rows holding each value, counted once, at the first value that matches them.</summary>
    public async Task<long[]> CountManyAsync(TargetSpec spec, SubjectMatches matches)
    {
        var counts = new long[matches.Values.Count];
        foreach (var (_, first) in (await FindManyAsync(Target(spec), matches)).Found)
        {
            counts[first]++;
        }

        return counts;
    }

    /// <summary>For each key without a live row, its state becomes the erasure marker (a delete marker
    /// converted, or a new one of the erasure stream), for the target's <c>deleteMarkerTtl</c> as an
    /// erase leaves it; a key holding a row is left alone. One script op per key, checked and written
    /// atomically, in pipelined calls. Unsupported, with the reason, when the key template cannot be
    /// rendered from the keys' columns: such keys are rejected when a change of them is applied, so the
    /// target holds neither their rows nor their markers.</summary>
    public async Task<MarkOutcome> MarkErasedManyAsync(TargetSpec spec, IReadOnlyList<Row> keys)
    {
        var target = Target(spec);
        var marks = new List<(string RowKey, string KeyText, int First)>();
        string? problem = null;
        foreach (var key in keys.DistinctBy(k => k.ToJson(), StringComparer.Ordinal))
        {
            if (key.Count == 0 || key.Values.Any(v => v.IsNull))
            {
                continue;
            }

            var shape = target.Shape([.. key.Names]);
            if (shape.Problem is not null)
            {
                problem ??= shape.Problem;
                continue;
            }

            // A key rendered into sync's own key space is never written: nothing to protect.
            var rowKey = shape.Template.Render(key, out _);
            if (rowKey is not null && !rowKey.StartsWith(_keys.Prefix, StringComparison.Ordinal))
            {
                marks.Add((rowKey, key.ToJson(), 0));
            }
        }

        var written = (await RunMarksAsync(target, 'm', marks)).Count(s => s == "1");
        return problem is null
            ? new MarkOutcome(written, Supported: true)
            : new MarkOutcome(written, Supported: false) { Reason = $"table \"{target.Table}\": {problem}" };
    }

    /// <summary>Erase (<c>e</c>) or mark (<c>m</c>) ops that name the key (its JSON), so that a key
    /// without a live row gets the erasure marker.</summary>
    private Task<List<string>> RunMarksAsync(RedisTarget target, char op, List<(string RowKey, string KeyText, int First)> marks) =>
        RunRowOpsAsync(target, op, marks.Select(mark => (mark.RowKey, mark.KeyText)), new ChangeVersion(null, "erasure", StreamPosition.Start));

    /// <summary>The live row keys holding any of the values, each with the index of the first value
    /// that matches it (values compare by canonical text), the table's key columns (empty when no row
    /// was ever written), and the wanted texts. Candidates come from the key itself for a single key
    /// column, else from the column's index set when one is configured, else from a SCAN of the
    /// target's states, and every candidate is checked against the stored row. One pass for all values:
    /// the index sets' members and the candidates' states are read in pipelined round trips, and a
    /// SCAN runs once, not per value.</summary>
    private async Task<(List<(string RowKey, int First)> Found, string[] KeyColumns, Dictionary<string, int> Wanted)> FindManyAsync(RedisTarget target, SubjectMatches matches)
    {
        var wanted = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < matches.Values.Count; i++)
        {
            if (matches.Values[i].ToText() is { } text)
            {
                wanted.TryAdd(text, i);
            }
        }

        var found = new List<(string RowKey, int First)>();
        var meta = await _db.HashGetAllAsync(_keys.Meta(target.StateTable));
        var keyColumns = meta.FirstOrDefault(e => e.Name == "key") is { Value.HasValue: true } k
            ? JsonSerializer.Deserialize<string[]>(k.Value.ToString()) ?? []
            : [];
        var column = matches.Column;
        var isKey = keyColumns.Contains(column, StringComparer.Ordinal);
        if (wanted.Count == 0 || (!isKey && !meta.Any(e => e.Name == "c:" + column)))
        {
            return (found, keyColumns, wanted);
        }

        var rowKeys = target.KeyTemplateFor(keyColumns);
        if (isKey && keyColumns.Length == 1)
        {
            var candidates = wanted.Keys.Select(text => rowKeys.Render(_ => text, out _)!).Distinct(StringComparer.Ordinal);
            foreach (var page in candidates.Chunk(ScanPage))
            {
                await CheckManyAsync(target, column, isKey, rowKeys, page, wanted, found);
            }
        }
        else if (target.Indexes.FirstOrDefault(ix => ix.SoleColumn == column) is { } index)
        {
            var members = new List<Task<RedisValue[]>>();
            foreach (var text in wanted.Keys)
            {
                members.Add(_db.SetMembersAsync(index.Render(_ => text, out _)!));
            }

            await Task.WhenAll(members);
            var candidates = members.SelectMany(m => m.Result).Select(m => m.ToString()).Distinct(StringComparer.Ordinal);
            foreach (var page in candidates.Chunk(ScanPage))
            {
                await CheckManyAsync(target, column, isKey, rowKeys, page, wanted, found);
            }
        }
        else
        {
            // The target's states, not its key pattern: a pattern may match another target's keys
            // (users:{id} and users:{id}:prefs), and an erase deletes what it finds.
            var page = new List<string>(ScanPage);
            await foreach (var stateKey in StateKeysAsync(target))
            {
                page.Add(_keys.RowKeyOf(target.StateTable, stateKey.ToString()));
                if (page.Count == ScanPage)
                {
                    await CheckManyAsync(target, column, isKey, rowKeys, [.. page], wanted, found);
                    page.Clear();
                }
            }

            await CheckManyAsync(target, column, isKey, rowKeys, [.. page], wanted, found);
        }

        return (found, keyColumns, wanted);
    }

    /// <summary>Adds to <paramref name="found"/> the candidate row keys whose column holds one of the wanted
    /// texts, each with the index of the value it matched: a live row (key columns read from the state's key
    /// JSON, other columns from the row), or a row written behind sync's back — a value of the target's
    /// type under a key with no state, or behind a delete or erasure marker (a backup restored, another
    /// program's write) — read as <see cref="ReadUnstatedAsync"/> reads it. One pipelined round trip per
    /// page, and one more for the candidates without a live state.</summary>
    private async Task CheckManyAsync(RedisTarget target, string column, bool isKey, RedisKeyTemplate rowKeys, string[] candidates, Dictionary<string, int> wanted, List<(string RowKey, int First)> found)
    {
        if (candidates.Length == 0)
        {
            return;
        }

        var states = candidates.Select(c => _db.StringGetAsync(_keys.State(target.StateTable, c))).ToArray();
        var values = isKey ? null : candidates.Select(c => ReadColumnAsync(target, c, column)).ToArray();
        await Task.WhenAll(states);
        if (values is not null)
        {
            await Task.WhenAll(values);
        }

        var unstated = new List<int>();
        for (var i = 0; i < candidates.Length; i++)
        {
            var state = RedisState.TryParse((byte[]?)states[i].Result);
            if (state is null || state.Deleted)
            {
                unstated.Add(i);
                continue;
            }

            var text = isKey ? ColumnText(state.KeyText, column) : values![i].Result;
            if (text is not null && wanted.TryGetValue(text, out var first))
            {
                found.Add((candidates[i], first));
            }
        }

        if (unstated.Count == 0)
        {
            return;
        }

        var texts = await ReadUnstatedAsync(target, column, rowKeys, [.. unstated.Select(i => candidates[i])]);
        for (var j = 0; j < unstated.Count; j++)
        {
            if (texts[j] is { } text && wanted.TryGetValue(text, out var first))
            {
                found.Add((candidates[unstated[j]], first));
            }
        }
    }

    /// <summary>The column's text in rows that have no live state to read it from: null where the key holds
    /// nothing, or a value of another type than the target's (a hash for <c>hash</c>, a string for
    /// <c>json</c>). The key's own text where the template renders it from the column alone, else the
    /// row's field or member.</summary>
    private async Task<string?[]> ReadUnstatedAsync(RedisTarget target, string column, RedisKeyTemplate rowKeys, string[] keys)
    {
        var want = target.Format == RedisValueFormat.Hash ? RedisType.Hash : RedisType.String;
        var fromKey = rowKeys.SoleColumn == column;
        var types = keys.Select(k => _db.KeyTypeAsync(k)).ToArray();
        var values = fromKey ? null : keys.Select(k => ReadColumnAsync(target, k, column)).ToArray();
        await Task.WhenAll(types);
        if (values is not null)
        {
            await Task.WhenAll(values);
        }

        return [.. keys.Select((key, i) => types[i].Result != want ? null : fromKey ? rowKeys.SoleValueOf(key) : values![i].Result)];
    }

    /// <summary>The column's text in the row at <paramref name="rowKey"/> (a hash's field, a JSON object's
    /// member); null when it has none, or when the key holds something else (another type, text that is
    /// not a JSON object): a value sync did not write is read, never trusted.</summary>
    private async Task<string?> ReadColumnAsync(RedisTarget target, string rowKey, string column)
    {
        try
        {
            return target.Format == RedisValueFormat.Hash
                ? (string?)await _db.HashGetAsync(rowKey, column)
                : ColumnText(await _db.StringGetAsync(rowKey), column);
        }
        catch (Exception e) when (e is RedisServerException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The target's row keys, a <c>SCAN</c> page at a time (https://redis.io/docs/latest/commands/scan/:
    /// <c>MATCH</c> the key template's pattern, <c>COUNT</c> <see cref="ScanPage"/>, <c>TYPE</c> the
    /// target's value type, Redis 6.0+), never <c>KEYS</c>: every row sync wrote and every value of that
    /// type another program wrote under the same pattern, without sync's own keys — and the keys of
    /// another target whose template shares the pattern (users:{id} and users:{id}:prefs), so this is
    /// for reading only. SCAN may return a key twice, and a key written or deleted during the scan may
    /// or may not come.</summary>
    private async IAsyncEnumerable<string[]> RowKeyPagesAsync(RedisTarget target, RedisKeyTemplate rowKeys)
    {
        var type = target.Format == RedisValueFormat.Hash ? "hash" : "string";
        foreach (var server in Primaries())
        {
            var cursor = "0";
            do
            {
                var reply = (RedisResult[])(await server.ExecuteAsync("SCAN", cursor, "MATCH", rowKeys.Pattern, "COUNT", ScanPage, "TYPE", type))!;
                cursor = (string)reply[0]!;
                var page = ((RedisResult[])reply[1]!).Select(k => (string)k!).Where(k => !k.StartsWith(_keys.Prefix, StringComparison.Ordinal)).ToArray();
                if (page.Length > 0)
                {
                    yield return page;
                }
            }
            while (cursor != "0");
        }
    }

    /// <summary>The column's text in every row of the target (see <see cref="ISink.ScanColumn"/>), a SCAN
    /// page of row keys at a time (<see cref="RowKeyPagesAsync"/>), so that a row written behind sync's
    /// back under the target's key template is seen too, whatever its state says. A column the template
    /// renders alone is read from the key itself; any other from the rows, one pipelined round trip per page.</summary>
    public async IAsyncEnumerable<string> ScanColumnAsync(TargetSpec spec, string column)
    {
        var target = Target(spec);
        var meta = await _db.HashGetAllAsync(_keys.Meta(target.StateTable));
        var keyColumns = meta.FirstOrDefault(e => e.Name == "key") is { Value.HasValue: true } k
            ? JsonSerializer.Deserialize<string[]>(k.Value.ToString()) ?? []
            : [];
        if (!keyColumns.Contains(column, StringComparer.Ordinal) && !meta.Any(e => e.Name == "c:" + column))
        {
            yield break;
        }

        var rowKeys = target.KeyTemplateFor(keyColumns);
        var fromKey = rowKeys.SoleColumn == column;
        await foreach (var page in RowKeyPagesAsync(target, rowKeys))
        {
            var values = fromKey ? null : page.Select(key => ReadColumnAsync(target, key, column)).ToArray();
            if (values is not null)
            {
                await Task.WhenAll(values);
            }

            for (var i = 0; i < page.Length; i++)
            {
                if ((fromKey ? rowKeys.SoleValueOf(page[i]) : values![i].Result) is { } text)
                {
                    yield return text;
                }
            }
        }
    }
}
