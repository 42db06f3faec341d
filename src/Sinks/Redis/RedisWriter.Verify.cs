using StackExchange.Redis;
using Sync.Engine.Verify;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Redis;

/// <summary>The sweep of <c>sync verify</c> (<see cref="ISink.ScanStoredRows"/>).</summary>
internal sealed partial class RedisWriter
{
    /// <summary>Every version state of the target (SCAN MATCH its state pattern on the primary, or on every
    /// primary of a cluster (<see cref="StateKeysAsync"/>), a page at a time): a delete
    /// marker as such, a live state with its row (a hash's fields, or a JSON string's members; a row gone
    /// behind sync's back reads as a marker-less absence, the state's version kept). Then the rows that
    /// have no state (SCAN MATCH the key template's pattern, TYPE the target's value type: written behind
    /// sync's back), with a version of no stream, keyed by their key columns.</summary>
    public async IAsyncEnumerable<StoredRow> ScanStoredRowsAsync(TargetSpec spec)
    {
        var target = Target(spec);
        var page = new List<string>(ScanPage);
        await foreach (var stateKey in StateKeysAsync(target))
        {
            page.Add(_keys.RowKeyOf(target.StateTable, stateKey.ToString()));
            if (page.Count == ScanPage)
            {
                foreach (var row in await StatedRowsAsync(target, page))
                {
                    yield return row;
                }

                page.Clear();
            }
        }

        foreach (var row in await StatedRowsAsync(target, page))
        {
            yield return row;
        }

        var meta = await _db.HashGetAsync(_keys.Meta(target.StateTable), "key");
        var keyColumns = meta.HasValue ? JsonSerializer.Deserialize<string[]>(meta.ToString()) ?? [] : [];
        if (keyColumns.Length == 0)
        {
            yield break;
        }

        await foreach (var rowKeys in RowKeyPagesAsync(target, target.KeyTemplateFor(keyColumns)))
        {
            var stated = rowKeys.Select(k => _db.KeyExistsAsync(_keys.State(target.StateTable, k))).ToArray();
            await Task.WhenAll(stated);
            var unstated = rowKeys.Where((_, i) => !stated[i].Result).ToArray();
            var images = await ReadRowsAsync(target, unstated);
            foreach (var image in images)
            {
                if (image is not null && keyColumns.All(k => image.IndexOf(k) >= 0))
                {
                    var key = new Row(keyColumns, [.. keyColumns.Select(k => image[k])]);
                    yield return new StoredRow(key, image, new ChangeVersion(null, string.Empty, StreamPosition.Start));
                }
            }
        }
    }

    private async Task<List<StoredRow>> StatedRowsAsync(RedisTarget target, List<string> rowKeys)
    {
        var rows = new List<StoredRow>(rowKeys.Count);
        if (rowKeys.Count == 0)
        {
            return rows;
        }

        var states = rowKeys.Select(k => _db.StringGetAsync(_keys.State(target.StateTable, k))).ToArray();
        await Task.WhenAll(states);
        var parsed = states.Select(s => RedisState.TryParse((byte[]?)s.Result)).ToArray();
        var images = await ReadRowsAsync(target, [.. rowKeys.Select((k, i) => parsed[i] is { Deleted: false } ? k : null)]);
        for (var i = 0; i < rowKeys.Count; i++)
        {
            if (parsed[i] is { } state)
            {
                rows.Add(new StoredRow(StoredKeys.FromKeyText(state.KeyText), state.Deleted ? null : images[i], state.Version));
            }
        }

        return rows;
    }

    /// <summary>The rows at the keys (null where a key is null, holds nothing, or holds another type or
    /// text that is no JSON object: a value sync did not write is read, never trusted). Hash fields are the
    /// canonical text of their values; JSON members keep numbers as exact decimals.</summary>
    private async Task<Row?[]> ReadRowsAsync(RedisTarget target, string?[] rowKeys)
    {
        if (target.Format == RedisValueFormat.Hash)
        {
            var hashes = rowKeys.Select(k => k is null ? Task.FromResult<HashEntry[]?>(null) : ReadHashAsync(k)).ToArray();
            await Task.WhenAll(hashes);
            return [.. hashes.Select(h => h.Result is { Length: > 0 } entries
                ? new Row([.. entries.Select(e => e.Name.ToString())], [.. entries.Select(e => FieldValue.FromString(e.Value.ToString()))])
                : null)];
        }

        var strings = rowKeys.Select(k => k is null ? Task.FromResult(RedisValue.Null) : ReadStringAsync(k)).ToArray();
        await Task.WhenAll(strings);
        return [.. strings.Select(s => s.Result.HasValue ? JsonRow(s.Result.ToString()) : null)];
    }

    private async Task<HashEntry[]?> ReadHashAsync(string key)
    {
        try
        {
            return await _db.HashGetAllAsync(key);
        }
        catch (RedisServerException)
        {
            return null;
        }
    }

    private async Task<RedisValue> ReadStringAsync(string key)
    {
        try
        {
            return await _db.StringGetAsync(key);
        }
        catch (RedisServerException)
        {
            return RedisValue.Null;
        }
    }

    /// <summary>A JSON string's members as a row (<see cref="StoredKeys.FromKeyText"/> reads any JSON
    /// object so: numbers exact, nested objects and arrays as JSON); null for text that is no JSON object.</summary>
    private static Row? JsonRow(string text)
    {
        try
        {
            return StoredKeys.FromKeyText(text);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}
