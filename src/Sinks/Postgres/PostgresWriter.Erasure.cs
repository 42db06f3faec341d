using Npgsql;
using NpgsqlTypes;
using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>Batch erasure: many values of one subject column per statement.</summary>
internal sealed partial class PostgresWriter
{
    /// <summary>How a subject value is compared with a column, and so which array it travels in.</summary>
    private enum ValueShape
    {
        /// <summary>NULL, or a native kind without a batched array form: compared one value at a time.</summary>
        Single,
        Integer,
        Float,
        Boolean,
        Uuid,

        /// <summary>Text cast by the server to the column's type (<c>col = CAST(v AS type)</c>).</summary>
        Cast,

        /// <summary>Compared by canonical text (<c>col::text = v</c>): a value of another kind than the column's.</summary>
        Text,
    }

    /// <summary>Deletes, in one transaction, every row whose column equals one of the values — one
    /// <c>DELETE … USING unnest($1) WITH ORDINALITY</c> per kind of value (a typed array: bigint,
    /// double, boolean, uuid or text), whose <c>RETURNING</c> gives each removed key and the value that
    /// matched it — then writes the erasure markers in one <c>INSERT … SELECT FROM unnest(…)</c>: one
    /// per removed key and, when the table is keyed by the column alone (or does not exist yet and
    /// <see cref="SubjectMatches.IsKey"/>), one per value without a row, so that a change still in flight
    /// cannot create that key. Returns the rows removed per value.</summary>
    public async Task<long[]> EraseManyAsync(PostgresTarget target, SubjectMatches matches, CancellationToken cancellationToken) =>
        (await EraseTogetherAsync([(target, matches)], cancellationToken))[0];

    /// <summary><see cref="EraseManyAsync"/> for several targets in ONE transaction (a consistency
    /// group's tables): a reader sees the subject in all of them or in none, since a transaction's
    /// changes become visible to other sessions at once when it commits
    /// (https://www.postgresql.org/docs/current/transaction-iso.html, Read Committed). Returns the rows
    /// removed per value, per target in order.</summary>
    public async Task<IReadOnlyList<long[]>> EraseTogetherAsync(IReadOnlyList<(PostgresTarget Target, SubjectMatches Matches)> erasures, CancellationToken cancellationToken)
    {
        var prepared = new List<SubjectErasure>(erasures.Count);
        foreach (var (target, matches) in erasures)
        {
            var table = await LoadTableAsync(target, cancellationToken);
            PostgresColumnType? type = null;
            var searchable = table is not null && table.Columns.TryGetValue(matches.Column, out type) && !target.IsReserved(matches.Column);
            var soleKey = table is null ? matches.IsKey : table.KeyColumns is [var only] && only == matches.Column;
            prepared.Add(new(target, matches, table, type, searchable, soleKey));
        }

        if (!prepared.Any(e => e.Applies))
        {
            return [.. prepared.Select(e => new long[e.Matches.Values.Count])];
        }

        return await InTransactionAsync<IReadOnlyList<long[]>>(
            async _ =>
            {
                // Before anything is read: a writer that probed the markers before they exist could
                // otherwise write the subject back once the erasure commits. Every target before any
                // delete, in one order, as a group's transaction takes them (ApplyTransactionAsync).
                foreach (var target in prepared.Where(e => e.Applies).Select(e => e.Target).DistinctBy(t => t.Id).OrderBy(t => t.Id, StringComparer.Ordinal))
                {
                    await LockTargetAsync(target, cancellationToken);
                }

                var counts = new List<long[]>(prepared.Count);
                foreach (var erasure in prepared)
                {
                    counts.Add(erasure.Applies ? await EraseLockedAsync(erasure, cancellationToken) : new long[erasure.Matches.Values.Count]);
                }

                return counts;
            },
            cancellationToken);
    }

    /// <summary>One target's part of an erase, its table read before the transaction.</summary>
    private sealed record SubjectErasure(PostgresTarget Target, SubjectMatches Matches, TableInfo? Table, PostgresColumnType? Type, bool Searchable, bool SoleKey)
    {
        public bool Applies => Searchable || SoleKey;
    }

    /// <summary>Deletes the target's rows and writes their erasure markers, in the open transaction with the target locked.</summary>
    private async Task<long[]> EraseLockedAsync(SubjectErasure erasure, CancellationToken cancellationToken)
    {
        var (target, matches, table, type, searchable, soleKey) = erasure;
        var counts = new long[matches.Values.Count];
        var removed = new Markers();
        if (searchable)
        {
            var keyTypes = table!.KeyColumns.Select(k => table.Columns[k]).ToArray();
            var returned = table.KeyColumns.Select((k, i) => keyTypes[i].SelectExpression("t." + Quote(k)))
                .Concat([$"t.{Quote(target.LsnColumn)}", $"t.{Quote(target.StreamColumn)}", $"t.{Quote(target.PositionColumn)}"]);
            foreach (var (condition, parameter, ordinals) in Groups(matches, type!))
            {
                await using var delete = Command(
                    $"DELETE FROM {target.Qualified} t USING unnest($1) WITH ORDINALITY AS v(value, i) WHERE {condition} RETURNING v.i, {string.Join(", ", returned)}",
                    parameter);
                await using var reader = await delete.ExecuteReaderAsync(cancellationToken);
                var n = table.KeyColumns.Length;
                while (await reader.ReadAsync(cancellationToken))
                {
                    counts[ordinals[(int)reader.GetInt64(0) - 1]]++;
                    var values = new FieldValue[n];
                    for (var k = 0; k < n; k++)
                    {
                        values[k] = keyTypes[k].Read(reader, k + 1);
                    }

                    long? lsn = reader.IsDBNull(n + 1) ? null : reader.GetInt64(n + 1);
                    var stream = reader.IsDBNull(n + 2) ? "erasure" : reader.GetString(n + 2);
                    var position = reader.IsDBNull(n + 3) ? [-1L, -1L, -1L] : reader.GetFieldValue<long[]>(n + 3);
                    removed.Add(new Row(table.KeyColumns, values).ToJson(), new ChangeVersion(lsn, stream, new StreamPosition(position[0], position[1], (int)position[2])).Erased());
                }
            }
        }

        if (removed.Keys.Count > 0)
        {
            await using var markers = Command(
                $"""
                INSERT INTO {_markers} (target, key_text, lsn, stream, position, updated_at)
                SELECT $1, k, l, s, ARRAY[a, b, c], now() FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS u(k, l, s, a, b, c)
                ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, stream = excluded.stream,
                  position = excluded.position, updated_at = excluded.updated_at
                """,
                [new NpgsqlParameter<string> { TypedValue = target.Id }, .. removed.Parameters()]);
            await markers.ExecuteNonQueryAsync(cancellationToken);
        }

        if (soleKey)
        {
            // Keys with no row: already deleted (a delete marker may hold their version: it becomes
            // the erasure marker of its own stream) or never written.
            var keyColumn = table?.KeyColumns[0] ?? matches.Column;
            var absent = matches.Values.SelectMany(v => KeyValuesOf(v, type?.Name))
                .Select(v => new Row([keyColumn], [v]).ToJson())
                .Where(k => !removed.Contains(k))
                .Distinct(StringComparer.Ordinal)
                .ToArray();
            if (absent.Length > 0)
            {
                var erased = new ChangeVersion(null, "erasure", StreamPosition.Start).Erased();
                await using var markers = Command(
                    $"""
                    INSERT INTO {_markers} (target, key_text, lsn, stream, position, updated_at)
                    SELECT $1, k, $3, $4, $5, now() FROM unnest($2::text[]) AS u(k)
                    ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, position = excluded.position, updated_at = excluded.updated_at
                    """,
                    new NpgsqlParameter<string> { TypedValue = target.Id },
                    new NpgsqlParameter<string[]> { TypedValue = absent },
                    new NpgsqlParameter<long> { TypedValue = erased.Lsn!.Value },
                    new NpgsqlParameter<string> { TypedValue = erased.Stream },
                    new NpgsqlParameter<long[]> { TypedValue = [erased.Position.Ledger, erased.Position.Entry, erased.Position.BatchIndex] });
                await markers.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        return counts;
    }

    /// <summary>Per value: "cannot match (type)" where the subject column's type has no value whose text
    /// is the value's text (an email against <c>bigint</c>), else null. Such a value is compared by text
    /// (<c>col::text = v</c>, see <see cref="Condition"/>) and so already counts 0 without an error; this
    /// names it for the erasure report, as the Elasticsearch sink names a key its mapped type refuses.</summary>
    public async Task<string?[]> CannotMatchAsync(PostgresTarget target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        var reasons = new string?[matches.Values.Count];
        var table = await LoadTableAsync(target, cancellationToken);
        if (table is null || !table.Columns.TryGetValue(matches.Column, out var type) || target.IsReserved(matches.Column))
        {
            return reasons;
        }

        for (var i = 0; i < reasons.Length; i++)
        {
            reasons[i] = Fits(matches.Values[i], type) ? null : $"cannot match ({type})";
        }

        return reasons;
    }

    /// <summary>Whether a column of <paramref name="type"/> can hold a value equal to this one: for the
    /// integer, floating-point, numeric, boolean and uuid types the text must read as one of them (the
    /// input syntax of PostgreSQL's own parsers: int8in, float8in, numeric_in, boolin, uuid_in); any
    /// other type is given the benefit of the doubt.</summary>
    internal static bool Fits(FieldValue value, PostgresColumnType type)
    {
        if (value.IsNull || value.ToText() is not { } text)
        {
            return true;
        }

        text = text.Trim();
        return type.Stage switch
        {
            StageKind.Int2 => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s) && s is >= short.MinValue and <= short.MaxValue,
            StageKind.Int4 => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n is >= int.MinValue and <= int.MaxValue,
            StageKind.Int8 => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _),
            StageKind.Float4 or StageKind.Float8 => IsNumber(text) || text.ToLowerInvariant() is "nan" or "infinity" or "-infinity" or "+infinity" or "inf" or "-inf" or "+inf",
            StageKind.Bool => value.Kind == ValueKind.Boolean
                || text.ToLowerInvariant() is "t" or "tr" or "tru" or "true" or "f" or "fa" or "fal" or "fals" or "false" or "y" or "ye" or "yes" or "n" or "no" or "on" or "of" or "off" or "1" or "0",
            StageKind.Uuid => Guid.TryParse(text, out _),
            _ when type.IsNumeric => IsNumber(text) || text.ToLowerInvariant() is "nan" or "infinity" or "-infinity" or "+infinity" or "inf" or "-inf" or "+inf",
            _ => true,
        };
    }

    private static bool IsNumber(string text) =>
        decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        || double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    /// <summary>Rows holding each value, counted once (by row), at the first value that matches them.</summary>
    public async Task<long[]> CountManyAsync(PostgresTarget target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        var counts = new long[matches.Values.Count];
        var table = await LoadTableAsync(target, cancellationToken);
        if (table is null || !table.Columns.TryGetValue(matches.Column, out var type) || target.IsReserved(matches.Column))
        {
            return counts;
        }

        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (condition, parameter, ordinals) in Groups(matches, type))
        {
            await using var select = Command(
                $"SELECT min(v.i), t.ctid::text FROM {target.Qualified} t JOIN unnest($1) WITH ORDINALITY AS v(value, i) ON {condition} GROUP BY t.ctid",
                parameter);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var index = ordinals[(int)reader.GetInt64(0) - 1];
                var row = reader.GetString(1);
                first[row] = first.TryGetValue(row, out var seen) ? Math.Min(seen, index) : index;
            }
        }

        foreach (var index in first.Values)
        {
            counts[index]++;
        }

        return counts;
    }

    /// <summary>The distinct values grouped by how they compare with a column of <paramref name="type"/>:
    /// per group the join condition (<c>t</c> the table, <c>v.value</c> the array element), the array
    /// parameter, and for each element the index of its first occurrence in the request. NULLs match
    /// nothing; a value of a native kind without an array form is a group of its own, compared as
    /// <see cref="Condition"/> would.</summary>
    private static IEnumerable<(string Condition, NpgsqlParameter Parameter, int[] Ordinals)> Groups(SubjectMatches matches, PostgresColumnType type)
    {
        var column = "t." + Quote(matches.Column);
        var distinct = matches.Values.Select((v, i) => (Value: v, Index: i)).Where(p => !p.Value.IsNull).DistinctBy(p => p.Value);
        foreach (var group in distinct.GroupBy(p => ShapeOf(p.Value, type)))
        {
            var items = group.ToArray();
            var ordinals = items.Select(p => p.Index).ToArray();
            switch (group.Key)
            {
                case ValueShape.Integer:
                    yield return ($"{column} = v.value", new NpgsqlParameter<long[]> { TypedValue = [.. items.Select(p => p.Value.AsInt64)] }, ordinals);
                    break;
                case ValueShape.Float:
                    yield return ($"{column} = v.value", new NpgsqlParameter<double[]> { TypedValue = [.. items.Select(p => p.Value.Kind == ValueKind.Int64 ? p.Value.AsInt64 : p.Value.AsDouble)] }, ordinals);
                    break;
                case ValueShape.Boolean:
                    yield return ($"{column} = v.value", new NpgsqlParameter<bool[]> { TypedValue = [.. items.Select(p => p.Value.AsBoolean)] }, ordinals);
                    break;
                case ValueShape.Uuid:
                    yield return ($"{column} = v.value", new NpgsqlParameter<Guid[]> { TypedValue = [.. items.Select(p => Guid.Parse(p.Value.AsText))] }, ordinals);
                    break;
                case ValueShape.Cast:
                    yield return ($"{column} = CAST(v.value AS {type.Name})", TextArray(items.Select(p => p.Value)), ordinals);
                    break;
                case ValueShape.Text:
                    yield return ($"{column}::text = v.value", TextArray(items.Select(p => p.Value)), ordinals);
                    break;
                default:
                    // One element per statement: the array holds the value as the column's own type.
                    foreach (var (value, index) in items)
                    {
                        var single = type.Parameter(value);
                        yield return ($"{column} = v.value", ArrayOf(single), [index]);
                    }

                    break;
            }
        }
    }

    private static NpgsqlParameter TextArray(IEnumerable<FieldValue> values) =>
        new NpgsqlParameter<string[]> { TypedValue = [.. values.Select(v => v.ToText()!)], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    /// <summary>A one-element array of a scalar parameter's value and type.</summary>
    private static NpgsqlParameter ArrayOf(NpgsqlParameter scalar)
    {
        var value = scalar.Value!;
        var array = Array.CreateInstance(value.GetType(), 1);
        array.SetValue(value, 0);
        var parameter = new NpgsqlParameter { Value = array };
        if (scalar.NpgsqlDbType != NpgsqlDbType.Unknown)
        {
            parameter.NpgsqlDbType = NpgsqlDbType.Array | scalar.NpgsqlDbType;
        }

        return parameter;
    }

    /// <summary>As <see cref="Condition"/> decides: a value of the column's own native kind compares
    /// natively; else by the column's text or a server-side cast.</summary>
    private static ValueShape ShapeOf(FieldValue value, PostgresColumnType type)
    {
        if (type.Stage != StageKind.Text && type.Check(value) is null)
        {
            return type.Stage switch
            {
                StageKind.Int2 or StageKind.Int4 or StageKind.Int8 => ValueShape.Integer,
                StageKind.Float4 or StageKind.Float8 => ValueShape.Float,
                StageKind.Bool => ValueShape.Boolean,
                StageKind.Uuid => ValueShape.Uuid,
                _ => ValueShape.Single,
            };
        }

        return IsNaturalText(value, type) ? ValueShape.Cast : ValueShape.Text;
    }

    /// <summary>The key values a subject value names in a sole key column of <paramref name="type"/>,
    /// as a decoder gives them (and so as the key text of a change reads): integers for integer
    /// columns (text of digits included), text for text columns, a uuid for uuid; for a table not
    /// created yet (type null) both readings of an integer, since the source's type is unknown.</summary>
    private static IEnumerable<FieldValue> KeyValuesOf(FieldValue value, string? type)
    {
        if (value.IsNull)
        {
            yield break;
        }

        var text = value.ToText()!;
        FieldValue? integer = value.Kind == ValueKind.Int64 ? value
            : long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n.ToString(CultureInfo.InvariantCulture) == text ? FieldValue.FromInt64(n)
            : null;
        switch (type)
        {
            case null:
                yield return value;
                if (value.Kind == ValueKind.Int64)
                {
                    yield return FieldValue.FromString(text);
                }

                break;
            case "smallint" or "integer" or "bigint":
                if (integer is { } i)
                {
                    yield return i;
                }

                break;
            case "uuid":
                if (Guid.TryParse(text, out var guid))
                {
                    yield return FieldValue.FromUuid(guid.ToString());
                }

                break;
            case "text" or "citext":
            case var varchar when varchar.StartsWith("character varying", StringComparison.Ordinal):
                yield return FieldValue.FromString(text);
                break;
        }
    }

    /// <summary>For each key without a row, upserts its marker as <see cref="ChangeVersion.Erased"/> of
    /// the version it holds (a delete marker keeps its stream; a key without one gets the erasure
    /// stream), in one transaction; a key that holds a row is left alone. Returns the markers written
    /// or converted (a marker already at the erasure version counts 0).</summary>
    public async Task<long> MarkErasedManyAsync(PostgresTarget target, IReadOnlyList<Row> keys, CancellationToken cancellationToken)
    {
        var table = await LoadTableAsync(target, cancellationToken);
        return await InTransactionAsync(
            async _ =>
            {
                // As an erase: no writer may create one of these rows between the look and the marker.
                await LockTargetAsync(target, cancellationToken);
                var absent = new List<string>();
                foreach (var key in keys.DistinctBy(k => k.ToJson()))
                {
                    if (table is null || !await HoldsRowAsync(target, table, key, cancellationToken))
                    {
                        absent.Add(key.ToJson());
                    }
                }

                if (absent.Count == 0)
                {
                    return 0L;
                }

                var erased = new ChangeVersion(null, "erasure", StreamPosition.Start).Erased();
                await using var markers = Command(
                    $"""
                    INSERT INTO {_markers} AS m (target, key_text, lsn, stream, position, updated_at)
                    SELECT $1, k, $3, $4, $5, now() FROM unnest($2::text[]) AS u(k)
                    ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, position = excluded.position, updated_at = excluded.updated_at
                    WHERE m.lsn IS DISTINCT FROM excluded.lsn OR m.position IS DISTINCT FROM excluded.position
                    """,
                    new NpgsqlParameter<string> { TypedValue = target.Id },
                    new NpgsqlParameter<string[]> { TypedValue = [.. absent] },
                    new NpgsqlParameter<long> { TypedValue = erased.Lsn!.Value },
                    new NpgsqlParameter<string> { TypedValue = erased.Stream },
                    new NpgsqlParameter<long[]> { TypedValue = [erased.Position.Ledger, erased.Position.Entry, erased.Position.BatchIndex] });
                return (long)await markers.ExecuteNonQueryAsync(cancellationToken);
            },
            cancellationToken);
    }

    /// <summary>Whether the table holds the row of <paramref name="key"/>, each key column compared
    /// natively where the value is of the column's kind, else by the column's text.</summary>
    private async Task<bool> HoldsRowAsync(PostgresTarget target, TableInfo table, Row key, CancellationToken cancellationToken)
    {
        var conditions = new List<string>();
        var parameters = new List<NpgsqlParameter>();
        for (var i = 0; i < key.Count; i++)
        {
            if (!table.Columns.TryGetValue(key.Names[i], out var type) || key.Values[i].IsNull)
            {
                return false;
            }

            var native = type.Stage != StageKind.Text && type.Check(key.Values[i]) is null;
            conditions.Add(native ? $"{Quote(key.Names[i])} = ${i + 1}" : $"{Quote(key.Names[i])}::text = ${i + 1}");
            parameters.Add(native ? type.Parameter(key.Values[i]) : new NpgsqlParameter<string> { TypedValue = key.Values[i].ToText()! });
        }

        await using var exists = Command($"SELECT EXISTS (SELECT 1 FROM {target.Qualified} WHERE {string.Join(" AND ", conditions)})", [.. parameters]);
        return (bool)(await exists.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Erasure markers of removed keys, as the columns of one <c>unnest</c>.</summary>
    private sealed class Markers
    {
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
        private readonly List<long?> _lsns = [];
        private readonly List<string> _streams = [];
        private readonly List<long> _ledgers = [];
        private readonly List<long> _entries = [];
        private readonly List<long> _batches = [];

        public List<string> Keys { get; } = [];

        public bool Contains(string keyText) => _seen.Contains(keyText);

        public void Add(string keyText, ChangeVersion version)
        {
            if (!_seen.Add(keyText))
            {
                return;
            }

            Keys.Add(keyText);
            _lsns.Add(version.Lsn);
            _streams.Add(version.Stream);
            _ledgers.Add(version.Position.Ledger);
            _entries.Add(version.Position.Entry);
            _batches.Add(version.Position.BatchIndex);
        }

        public NpgsqlParameter[] Parameters() =>
        [
            new NpgsqlParameter<string[]> { TypedValue = [.. Keys] },
            new NpgsqlParameter<long?[]> { TypedValue = [.. _lsns] },
            new NpgsqlParameter<string[]> { TypedValue = [.. _streams] },
            new NpgsqlParameter<long[]> { TypedValue = [.. _ledgers] },
            new NpgsqlParameter<long[]> { TypedValue = [.. _entries] },
            new NpgsqlParameter<long[]> { TypedValue = [.. _batches] },
        ];
    }

    /// <summary>The condition that a row's column equals the subject value, and its parameter; null
    /// for a NULL value (no subject is NULL). A value of the column's own kind is compared natively
    /// (<c>col = $1</c>, or <c>col = CAST($1 AS type)</c> for types staged as text); a value of another
    /// kind — an erasure request naming <c>customer_id</c> as the text <c>"7"</c> — is compared by its
    /// canonical text with the column's text (<c>col::text = $1</c>), which never fails on bad input.</summary>
    private static (string Sql, NpgsqlParameter Parameter)? Condition(SubjectMatch match, PostgresColumnType type)
    {
        var value = match.Value;
        if (value.IsNull)
        {
            return null;
        }

        var column = Quote(match.Column);
        if (type.Stage != StageKind.Text && type.Check(value) is null)
        {
            return ($"{column} = $1", type.Parameter(value));
        }

        var natural = IsNaturalText(value, type);
        var text = new NpgsqlParameter<string> { TypedValue = value.ToText()!, NpgsqlDbType = NpgsqlDbType.Text };
        return natural ? ($"{column} = CAST($1 AS {type.Name})", text) : ($"{column}::text = $1", text);
    }

    /// <summary>Whether a value that is not of the column's native kind is the column's own kind written
    /// as text (a decimal for numeric, an ISO timestamp for timestamptz, text for text columns), so that
    /// a cast of it compares exactly; else the column's text is compared.</summary>
    private static bool IsNaturalText(FieldValue value, PostgresColumnType type) => value.Kind switch
    {
        ValueKind.Decimal or ValueKind.Int64 => type.IsNumeric,
        ValueKind.TimestampTz => type.Name == "timestamp with time zone",
        ValueKind.TimeTz => type.Name == "time with time zone",
        ValueKind.Json => type.IsJson,
        ValueKind.String => type.Stage == StageKind.Text && !type.IsNumeric
            && type.Name is not ("timestamp with time zone" or "time with time zone" or "jsonb" or "json"),
        _ => false,
    };

    /// <summary>One page of a sweep over the target (see <see cref="ISink.ScanColumn"/>): the column's text
    /// in the rows of the heap blocks <c>[first, first + count)</c> (a TID range scan, as
    /// <see cref="ScanStoredRowsPageAsync"/> reads), how many rows the blocks held (nulls included), and
    /// the table's size in blocks. Null values: the table or the column is gone.</summary>
    public async Task<(List<string>? Values, int Rows, long Blocks)> ScanColumnPageAsync(PostgresTarget target, string column, long first, long count, CancellationToken cancellationToken)
    {
        var table = await LoadTableAsync(target, cancellationToken);
        if (table is null || !table.Columns.ContainsKey(column) || target.IsReserved(column))
        {
            return (null, 0, 0);
        }

        var blocks = await RelationBlocksAsync(target, cancellationToken);
        var values = new List<string>();
        await using var select = Command(
            $"SELECT t.{Quote(column)}::text FROM {target.Qualified} t WHERE t.ctid >= $1::text::tid AND t.ctid < $2::text::tid",
            new NpgsqlParameter { Value = Tid(first) },
            new NpgsqlParameter { Value = Tid(first + count) });
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var rows = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            rows++;
            if (!reader.IsDBNull(0))
            {
                values.Add(reader.GetString(0));
            }
        }

        return (values, rows, blocks);
    }
}
