using System.Globalization;
using Sync.Engine.Changes;

namespace Sync.Testing.Changes;

/// <summary>
/// A small fluent builder of <see cref="ChangeEvent"/>s for tests:
/// <code>
/// Change.Upsert(key: ("id", 1), lsn: 10, ("name", "a"))
/// Change.Delete(key: ("id", 1), lsn: 11)
/// Change.Tombstone(key: ("id", 1), position: 12)                // Debezium Server tombstone: no LSN
/// Change.Upsert(key: [("tenant", "t1"), ("id", 1)], lsn: 13, ("name", "b")).OnTopic("orders")
/// </code>
/// Key columns are put in the row image first unless listed among the columns. The position
/// defaults to the LSN (<c>StreamPosition(0, lsn)</c>, entry 0 without an LSN: set it with
/// <see cref="At(ChangeEvent, long)"/>); the topic to <see cref="DefaultTopic"/>.
/// Values: null, bool, integers, float/double, decimal (exact), string, byte[], Guid, DateOnly,
/// DateTime (microsecond timestamp), DateTimeOffset, TimeSpan (interval), or a <see cref="FieldValue"/>.
/// Named <c>Change</c> (not <c>Changes</c>) so that it never clashes with the <c>Sync.Engine.Changes</c> namespace.
/// </summary>
public static class Change
{
    public const string DefaultTopic = "persistent://public/default/db1.public.items";

    public static ChangeEvent Create((string Name, object? Value) key, long? lsn, params (string Name, object? Value)[] columns) =>
        RowChange(ChangeOp.Create, [key], lsn, columns);

    public static ChangeEvent Create((string Name, object? Value)[] key, long? lsn, params (string Name, object? Value)[] columns) =>
        RowChange(ChangeOp.Create, key, lsn, columns);

    public static ChangeEvent Update((string Name, object? Value) key, long? lsn, params (string Name, object? Value)[] columns) =>
        RowChange(ChangeOp.Update, [key], lsn, columns);

    public static ChangeEvent Update((string Name, object? Value)[] key, long? lsn, params (string Name, object? Value)[] columns) =>
        RowChange(ChangeOp.Update, key, lsn, columns);

    /// <summary>An upsert (op=u); sinks treat create, update and snapshot read alike.</summary>
    public static ChangeEvent Upsert((string Name, object? Value) key, long? lsn, params (string Name, object? Value)[] columns) =>
        RowChange(ChangeOp.Update, [key], lsn, columns);

    public static ChangeEvent Upsert((string Name, object? Value)[] key, long? lsn, params (string Name, object? Value)[] columns) =>
        RowChange(ChangeOp.Update, key, lsn, columns);

    /// <summary>A snapshot read (op=r).</summary>
    public static ChangeEvent Read((string Name, object? Value) key, long? lsn, params (string Name, object? Value)[] columns) =>
        RowChange(ChangeOp.Read, [key], lsn, columns);

    /// <summary>A delete (op=d), as Pulsar IO writes it: with the LSN, no tombstone following.</summary>
    public static ChangeEvent Delete((string Name, object? Value) key, long? lsn) => Delete([key], lsn);

    public static ChangeEvent Delete((string Name, object? Value)[] key, long? lsn) =>
        Build(ChangeOp.Delete, KeyRow(key), null, lsn, PositionOf(lsn, null));

    /// <summary>A tombstone (key, no value): it carries no LSN, only its position in the stream.</summary>
    public static ChangeEvent Tombstone((string Name, object? Value) key, long position) => Tombstone([key], position);

    public static ChangeEvent Tombstone((string Name, object? Value)[] key, long position) =>
        Build(ChangeOp.Tombstone, KeyRow(key), null, null, new StreamPosition(0, position));

    /// <summary>A table truncate (op=t): no key.</summary>
    public static ChangeEvent Truncate(long? lsn, long? position = null) =>
        Build(ChangeOp.Truncate, Row.Empty, null, lsn, PositionOf(lsn, position));

    /// <summary>A row of named values, converted as described on <see cref="Change"/>.</summary>
    public static Row RowOf(params (string Name, object? Value)[] columns) =>
        new([.. columns.Select(c => c.Name)], [.. columns.Select(c => Value(c.Value))]);

    /// <summary>Converts a CLR value to the <see cref="FieldValue"/> a decoder would produce.</summary>
    public static FieldValue Value(object? value) => value switch
    {
        null => FieldValue.Null,
        FieldValue v => v,
        bool b => FieldValue.FromBoolean(b),
        byte or sbyte or short or ushort or int or uint or long => FieldValue.FromInt64(Convert.ToInt64(value, CultureInfo.InvariantCulture)),
        float f => FieldValue.FromDouble(f),
        double d => FieldValue.FromDouble(d),
        decimal m => FieldValue.FromDecimalText(m.ToString(CultureInfo.InvariantCulture)),
        string s => FieldValue.FromString(s),
        byte[] bytes => FieldValue.FromBytes(bytes),
        Guid g => FieldValue.FromUuid(g.ToString()),
        DateOnly d => FieldValue.FromDate(d.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber),
        DateTime t => FieldValue.FromTimestamp((t - DateTime.UnixEpoch).Ticks / 10, TimeUnit.Microseconds),
        DateTimeOffset o => FieldValue.FromTimestampTz(o.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture)),
        TimeSpan span => FieldValue.FromInterval(span.Ticks / 10),
        _ => throw new ArgumentException($"no FieldValue for a {value.GetType().Name}", nameof(value)),
    };

    /// <summary>The same change at another position (ledger 0, entry <paramref name="entry"/>).</summary>
    public static ChangeEvent At(this ChangeEvent change, long entry) => change.At(new StreamPosition(0, entry));

    public static ChangeEvent At(this ChangeEvent change, StreamPosition position) =>
        Copy(change, origin: change.Origin with { Position = position });

    /// <summary>The same change from another topic (stream).</summary>
    public static ChangeEvent OnTopic(this ChangeEvent change, string topic) =>
        Copy(change, origin: change.Origin with { Topic = topic });

    /// <summary>The same change with another LSN (null: none, as a tombstone).</summary>
    public static ChangeEvent WithLsn(this ChangeEvent change, long? lsn) =>
        Copy(change, source: (change.Source ?? new SourceInfo()) with { Lsn = lsn });

    /// <summary>The same change with exactly this row image (no key columns added).</summary>
    public static ChangeEvent WithAfter(this ChangeEvent change, Row? after) => Copy(change, after: after, replaceAfter: true);

    /// <summary>The same change with this before image (the row as it was before the change).</summary>
    public static ChangeEvent WithBefore(this ChangeEvent change, Row? before) => Copy(change, before: before, replaceBefore: true);

    /// <summary>The same change whose row image carries a schema built from <paramref name="columns"/>
    /// (columns of the image not listed get no schema entry).</summary>
    public static ChangeEvent WithSchema(this ChangeEvent change, params ColumnSchema[] columns)
    {
        var after = change.After ?? throw new InvalidOperationException("a change without a row image has no schema");
        return Copy(change, after: new Row(after.Names, after.Values, new RowSchema(columns)), replaceAfter: true);
    }

    private static ChangeEvent RowChange(ChangeOp op, (string Name, object? Value)[] key, long? lsn, (string Name, object? Value)[] columns)
    {
        var keyRow = KeyRow(key);
        var image = key.Where(k => !columns.Any(c => c.Name == k.Name)).Concat(columns).ToArray();
        return Build(op, keyRow, RowOf(image), lsn, PositionOf(lsn, null));
    }

    private static Row KeyRow((string Name, object? Value)[] key) => RowOf(key);

    private static StreamPosition PositionOf(long? lsn, long? position) =>
        new(0, position ?? lsn ?? 0);

    private static ChangeEvent Build(ChangeOp op, Row key, Row? after, long? lsn, StreamPosition position) => new()
    {
        Op = op,
        Key = key,
        After = after,
        Source = new SourceInfo { Connector = "postgresql", Name = "db1", Db = "db1", Schema = "public", Table = "items", Lsn = lsn },
        Origin = new Origin { Topic = DefaultTopic, Position = position },
    };

    private static ChangeEvent Copy(ChangeEvent change, Row? after = null, bool replaceAfter = false, SourceInfo? source = null, Origin? origin = null, Row? before = null, bool replaceBefore = false) => new()
    {
        Op = change.Op,
        Key = change.Key,
        Before = replaceBefore ? before : change.Before,
        After = replaceAfter ? after : change.After,
        Source = source ?? change.Source,
        Origin = origin ?? change.Origin,
        TsMs = change.TsMs,
    };
}
