using System.Collections;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using Sync.Engine.Changes;

namespace Sync.Sinks.Postgres;

/// <summary>How a value travels in the binary COPY to the staging table.</summary>
public enum StageKind
{
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bytea,
    Date,
    Time,
    Timestamp,
    Interval,
    Uuid,
    Bits,

    /// <summary>As text, cast to the column's type by the server (numeric of any precision,
    /// timestamptz, timetz, jsonb, text, varchar, enum types, …): exact, and a bad value fails that row only.</summary>
    Text,
}

/// <summary>The Debezium-to-PostgreSQL type mapping, the conversion of <see cref="FieldValue"/>s for
/// binary COPY, and the reverse (a stored value back to the <see cref="FieldValue"/> a decoder gives).</summary>
public static class PostgresTypes
{
    private static readonly int EpochDayNumber = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

    /// <summary>The column type for a Debezium/Connect column schema, spelled as <c>format_type</c> prints it.</summary>
    public static string FromSchema(ColumnSchema column)
    {
        ArgumentNullException.ThrowIfNull(column);
        return column.Type switch
        {
            LogicalType.Boolean => "boolean",
            LogicalType.Int8 or LogicalType.Int16 => "smallint",
            LogicalType.Int32 => "integer",
            LogicalType.Int64 => "bigint",
            LogicalType.Float32 => "real",
            LogicalType.Float64 => "double precision",
            LogicalType.Bytes => "bytea",
            LogicalType.Decimal when column.Precision is >= 1 and <= 1000 && (column.Scale ?? 0) >= 0 && (column.Scale ?? 0) <= column.Precision =>
                string.Create(CultureInfo.InvariantCulture, $"numeric({column.Precision},{column.Scale ?? 0})"),
            LogicalType.Decimal or LogicalType.VariableDecimal => "numeric",
            LogicalType.Date => "date",
            LogicalType.Time => "time without time zone",
            LogicalType.Timestamp => "timestamp without time zone",
            LogicalType.TimestampTz => "timestamp with time zone",
            LogicalType.TimeTz => "time with time zone",
            LogicalType.Uuid => "uuid",
            LogicalType.Json or LogicalType.Nested => "jsonb",
            LogicalType.Bits => "bit varying",
            LogicalType.Interval => "interval",
            _ => "text",
        };
    }

    /// <summary>The column type for a value when the row carries no schema.</summary>
    public static string FromKind(ValueKind kind) => kind switch
    {
        ValueKind.Boolean => "boolean",
        ValueKind.Int64 => "bigint",
        ValueKind.Double => "double precision",
        ValueKind.Decimal => "numeric",
        ValueKind.Date => "date",
        ValueKind.Time => "time without time zone",
        ValueKind.Timestamp => "timestamp without time zone",
        ValueKind.TimestampTz => "timestamp with time zone",
        ValueKind.TimeTz => "time with time zone",
        ValueKind.Uuid => "uuid",
        ValueKind.Json => "jsonb",
        ValueKind.Bytes => "bytea",
        ValueKind.Interval => "interval",
        _ => "text",
    };

    /// <summary>How values of a column of this type (a <c>format_type</c> text) are staged.</summary>
    public static StageKind StageOf(string type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return type switch
        {
            "boolean" => StageKind.Bool,
            "smallint" => StageKind.Int2,
            "integer" => StageKind.Int4,
            "bigint" => StageKind.Int8,
            "real" => StageKind.Float4,
            "double precision" => StageKind.Float8,
            "bytea" => StageKind.Bytea,
            "date" => StageKind.Date,
            "uuid" => StageKind.Uuid,
            _ when type.StartsWith("timestamp", StringComparison.Ordinal) && type.EndsWith("without time zone", StringComparison.Ordinal) => StageKind.Timestamp,
            _ when type.StartsWith("time", StringComparison.Ordinal) && !type.StartsWith("timestamp", StringComparison.Ordinal)
                && type.EndsWith("without time zone", StringComparison.Ordinal) => StageKind.Time,
            _ when type.StartsWith("interval", StringComparison.Ordinal) => StageKind.Interval,
            "bit varying" => StageKind.Bits,
            _ => StageKind.Text,
        };
    }

    /// <summary>The staging column's type for a stage kind and the target type.</summary>
    public static string StageType(StageKind kind, string targetType) => kind == StageKind.Text ? "text" : targetType;

    /// <summary>Whether a column whose type is <paramref name="existing"/> holds values the source
    /// describes as <paramref name="wanted"/> without loss: the same type, a wider integer, an
    /// unconstrained numeric for any numeric or integer, double for real, varchar(n) or citext for text
    /// (a value too long for varchar(n) is then refused by the server, for that row only).</summary>
    public static bool Holds(string existing, string wanted)
    {
        if (existing == wanted)
        {
            return true;
        }

        static int IntRank(string t) => t switch { "smallint" => 1, "integer" => 2, "bigint" => 3, _ => 0 };
        if (IntRank(wanted) > 0 && (IntRank(existing) >= IntRank(wanted) || existing == "numeric"))
        {
            return true;
        }

        if (existing == "numeric" && wanted.StartsWith("numeric", StringComparison.Ordinal))
        {
            return true;
        }

        if (existing == "double precision" && wanted == "real")
        {
            return true;
        }

        if (wanted == "text" && (existing.StartsWith("character varying", StringComparison.Ordinal) || existing == "citext"))
        {
            return true;
        }

        return existing == "json" && wanted == "jsonb";
    }

    /// <summary>Null when a column staged as <paramref name="kind"/> can hold the value, else why not
    /// (the value itself is not named).</summary>
    public static string? Check(StageKind kind, FieldValue value)
    {
        // An unavailable value is staged as null and never written over the stored value (see PostgresWriter).
        if (value.IsNull || value.IsUnavailable)
        {
            return null;
        }

        var ok = kind switch
        {
            StageKind.Bool => value.Kind == ValueKind.Boolean,
            StageKind.Int2 => value.Kind == ValueKind.Int64 && value.AsInt64 is >= short.MinValue and <= short.MaxValue,
            StageKind.Int4 => value.Kind == ValueKind.Int64 && value.AsInt64 is >= int.MinValue and <= int.MaxValue,
            StageKind.Int8 => value.Kind == ValueKind.Int64,
            StageKind.Float4 or StageKind.Float8 => value.Kind is ValueKind.Double or ValueKind.Int64,
            StageKind.Bytea or StageKind.Bits => value.Kind == ValueKind.Bytes,
            StageKind.Date => value.Kind == ValueKind.Date && ToDate(value.AsInt64) is not null,
            StageKind.Time => value.Kind == ValueKind.Time && value.AsInt64 is >= 0 and <= 86_400_000_000_000,
            StageKind.Timestamp => value.Kind == ValueKind.Timestamp && ToDateTime(value) is not null,
            StageKind.Interval => value.Kind == ValueKind.Interval,
            StageKind.Uuid => value.Kind is ValueKind.Uuid or ValueKind.String && Guid.TryParse(value.AsText, out _),
            _ => true,
        };
        return ok ? null : value.Kind switch
        {
            ValueKind.Int64 when kind is StageKind.Int2 or StageKind.Int4 => "the integer is out of the column type's range",
            ValueKind.Date or ValueKind.Timestamp => "the date is out of range",
            _ => $"a {value.Kind} value does not fit the column type",
        };
    }

    /// <summary>Writes one checked value (see <see cref="Check"/>) into the current COPY row.</summary>
    public static Task WriteAsync(NpgsqlBinaryImporter importer, StageKind kind, FieldValue value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(importer);
        if (value.IsNull || value.IsUnavailable)
        {
            // Unavailable: the source did not send the value; the staged null is what a new row gets,
            // and the upsert of a group with unavailable columns leaves a stored row's value alone.
            return importer.WriteNullAsync(cancellationToken);
        }

        return kind switch
        {
            StageKind.Bool => importer.WriteAsync(value.AsBoolean, NpgsqlDbType.Boolean, cancellationToken),
            StageKind.Int2 => importer.WriteAsync((short)value.AsInt64, NpgsqlDbType.Smallint, cancellationToken),
            StageKind.Int4 => importer.WriteAsync((int)value.AsInt64, NpgsqlDbType.Integer, cancellationToken),
            StageKind.Int8 => importer.WriteAsync(value.AsInt64, NpgsqlDbType.Bigint, cancellationToken),
            StageKind.Float4 => importer.WriteAsync((float)AsDouble(value), NpgsqlDbType.Real, cancellationToken),
            StageKind.Float8 => importer.WriteAsync(AsDouble(value), NpgsqlDbType.Double, cancellationToken),
            StageKind.Bytea => importer.WriteAsync(value.AsBytes, NpgsqlDbType.Bytea, cancellationToken),
            StageKind.Bits => importer.WriteAsync(new BitArray(value.AsBytes), NpgsqlDbType.Varbit, cancellationToken),
            StageKind.Date => importer.WriteAsync(ToDate(value.AsInt64)!.Value, NpgsqlDbType.Date, cancellationToken),
            StageKind.Time => importer.WriteAsync(TimeSpan.FromTicks(value.AsInt64 / 100), NpgsqlDbType.Time, cancellationToken),
            StageKind.Timestamp => importer.WriteAsync(ToDateTime(value)!.Value, NpgsqlDbType.Timestamp, cancellationToken),
            StageKind.Interval => importer.WriteAsync(new NpgsqlInterval(0, 0, value.AsInt64), NpgsqlDbType.Interval, cancellationToken),
            StageKind.Uuid => importer.WriteAsync(Guid.Parse(value.AsText), NpgsqlDbType.Uuid, cancellationToken),
            _ => importer.WriteAsync(TextOf(value), NpgsqlDbType.Text, cancellationToken),
        };
    }

    /// <summary>A checked value as a command parameter of the staging type (see <see cref="StageType"/>).</summary>
    public static NpgsqlParameter Parameter(StageKind kind, FieldValue value)
    {
        if (value.IsNull)
        {
            return new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text };
        }

        return kind switch
        {
            StageKind.Bool => new NpgsqlParameter<bool> { TypedValue = value.AsBoolean },
            StageKind.Int2 => new NpgsqlParameter<short> { TypedValue = (short)value.AsInt64 },
            StageKind.Int4 => new NpgsqlParameter<int> { TypedValue = (int)value.AsInt64 },
            StageKind.Int8 => new NpgsqlParameter<long> { TypedValue = value.AsInt64 },
            StageKind.Float4 => new NpgsqlParameter<float> { TypedValue = (float)AsDouble(value) },
            StageKind.Float8 => new NpgsqlParameter<double> { TypedValue = AsDouble(value) },
            StageKind.Bytea => new NpgsqlParameter<byte[]> { TypedValue = value.AsBytes },
            StageKind.Bits => new NpgsqlParameter<BitArray> { TypedValue = new BitArray(value.AsBytes), NpgsqlDbType = NpgsqlDbType.Varbit },
            StageKind.Date => new NpgsqlParameter<DateOnly> { TypedValue = ToDate(value.AsInt64)!.Value },
            StageKind.Time => new NpgsqlParameter<TimeSpan> { TypedValue = TimeSpan.FromTicks(value.AsInt64 / 100), NpgsqlDbType = NpgsqlDbType.Time },
            StageKind.Timestamp => new NpgsqlParameter<DateTime> { TypedValue = ToDateTime(value)!.Value, NpgsqlDbType = NpgsqlDbType.Timestamp },
            StageKind.Interval => new NpgsqlParameter<NpgsqlInterval> { TypedValue = new NpgsqlInterval(0, 0, value.AsInt64) },
            StageKind.Uuid => new NpgsqlParameter<Guid> { TypedValue = Guid.Parse(value.AsText) },
            _ => new NpgsqlParameter<string> { TypedValue = TextOf(value), NpgsqlDbType = NpgsqlDbType.Text },
        };
    }

    /// <summary>The SQL that reads a column for <see cref="Read"/>: types Npgsql cannot read exactly
    /// (numeric beyond 28 digits, json, enums, …) are read as their text.</summary>
    public static string SelectExpression(string quotedColumn, string type) => StageOf(type) switch
    {
        StageKind.Text when type is "timestamp with time zone" or "time with time zone" => quotedColumn,
        StageKind.Text => quotedColumn + "::text",
        _ => quotedColumn,
    };

    /// <summary>A stored value (selected with <see cref="SelectExpression"/>) as the decoder would have
    /// produced it, so that <see cref="FieldValue.ToText"/> gives the canonical text:
    /// integers Int64, numeric exact Decimal text, timestamps microseconds since the epoch (pre-1970
    /// included), timestamptz as UTC ISO-8601 with <c>Z</c>, intervals microseconds, bits as the bytes written.</summary>
    public static FieldValue Read(NpgsqlDataReader reader, int ordinal, string type)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(type);
        if (reader.IsDBNull(ordinal))
        {
            return FieldValue.Null;
        }

        switch (StageOf(type))
        {
            case StageKind.Bool: return FieldValue.FromBoolean(reader.GetBoolean(ordinal));
            case StageKind.Int2: return FieldValue.FromInt64(reader.GetInt16(ordinal));
            case StageKind.Int4: return FieldValue.FromInt64(reader.GetInt32(ordinal));
            case StageKind.Int8: return FieldValue.FromInt64(reader.GetInt64(ordinal));
            case StageKind.Float4: return FieldValue.FromDouble(reader.GetFloat(ordinal));
            case StageKind.Float8: return FieldValue.FromDouble(reader.GetDouble(ordinal));
            case StageKind.Bytea: return FieldValue.FromBytes(reader.GetFieldValue<byte[]>(ordinal));
            case StageKind.Bits:
                var bits = reader.GetFieldValue<BitArray>(ordinal);
                var bytes = new byte[(bits.Length + 7) / 8];
                bits.CopyTo(bytes, 0);
                return FieldValue.FromBytes(bytes);
            case StageKind.Date: return FieldValue.FromDate(reader.GetFieldValue<DateOnly>(ordinal).DayNumber - EpochDayNumber);
            case StageKind.Time: return FieldValue.FromTime(reader.GetFieldValue<TimeSpan>(ordinal).Ticks * 100);
            case StageKind.Timestamp:
                return FieldValue.FromTimestamp((reader.GetFieldValue<DateTime>(ordinal).Ticks - DateTime.UnixEpoch.Ticks) / 10, TimeUnit.Microseconds);
            case StageKind.Interval:
                var interval = reader.GetFieldValue<NpgsqlInterval>(ordinal);
                return FieldValue.FromInterval(interval.Time + ((interval.Months * 30L) + interval.Days) * 86_400_000_000L);
            case StageKind.Uuid: return FieldValue.FromUuid(reader.GetGuid(ordinal).ToString());
        }

        if (type == "timestamp with time zone")
        {
            var utc = reader.GetFieldValue<DateTime>(ordinal);
            return FieldValue.FromTimestampTz(utc.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + Fraction(utc.Ticks % TimeSpan.TicksPerSecond) + "Z");
        }

        if (type == "time with time zone")
        {
            var time = reader.GetFieldValue<DateTimeOffset>(ordinal);
            var offset = time.Offset == TimeSpan.Zero ? "Z" : time.ToString("zzz", CultureInfo.InvariantCulture);
            return FieldValue.FromTimeTz(time.ToString("HH:mm:ss", CultureInfo.InvariantCulture) + Fraction(time.Ticks % TimeSpan.TicksPerSecond) + offset);
        }

        var text = reader.GetString(ordinal);
        if (type.StartsWith("numeric", StringComparison.Ordinal))
        {
            return FieldValue.FromDecimalText(text);
        }

        return type is "jsonb" or "json" ? FieldValue.FromJson(text) : FieldValue.FromString(text);
    }

    private static string Fraction(long ticks) =>
        ticks == 0 ? string.Empty : "." + ticks.ToString("0000000", CultureInfo.InvariantCulture).TrimEnd('0');

    private static double AsDouble(FieldValue value) => value.Kind == ValueKind.Int64 ? value.AsInt64 : value.AsDouble;

    private static string TextOf(FieldValue value) => value.Kind == ValueKind.Double && double.IsPositiveInfinity(value.AsDouble)
        ? "Infinity"
        : value.Kind == ValueKind.Double && double.IsNegativeInfinity(value.AsDouble) ? "-Infinity" : value.ToText()!;

    private static DateOnly? ToDate(long days) =>
        days is >= -719_162 and <= 2_932_896 ? DateOnly.FromDayNumber((int)(EpochDayNumber + days)) : null;

    /// <summary>A timestamp count as a local <see cref="DateTime"/> at microsecond precision (the
    /// precision of PostgreSQL's timestamp; nanoseconds are floored), or null out of range.</summary>
    private static DateTime? ToDateTime(FieldValue value)
    {
        var count = value.AsInt64;
        var micros = value.Unit switch
        {
            TimeUnit.Milliseconds => count is > long.MaxValue / 1000 or < long.MinValue / 1000 ? (long?)null : count * 1000,
            TimeUnit.Microseconds => count,
            _ => Math.DivRem(count, 1000L, out var rest) - (rest < 0 ? 1 : 0),
        };
        if (micros is not { } m)
        {
            return null;
        }

        var minMicros = (DateTime.MinValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;
        var maxMicros = (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;
        return m < minMicros || m > maxMicros ? null : new DateTime(DateTime.UnixEpoch.Ticks + (m * 10), DateTimeKind.Unspecified);
    }
}
