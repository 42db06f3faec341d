using System.Collections;
using Npgsql;
using NpgsqlTypes;

namespace Sync.Sinks.Postgres;

/// <summary>
/// A column type of a target table: its name in DDL, spelled as <c>format_type</c> prints it (so that
/// the type the writer creates and the type it reads back from the catalog are the same text), and
/// how a <see cref="FieldValue"/> of it is checked, written into the binary COPY, bound as a command
/// parameter and read back as the decoder would have produced it.
/// </summary>
/// <remarks>The type is resolved once — from the source's column schema, or from the catalog's type
/// name when a table is loaded — and carries its writer from then on, as Npgsql resolves a
/// <c>PgTypeInfo</c> (a PostgreSQL data type name together with the converter that writes and reads
/// its values) from a <c>TypeInfoMapping</c> of CLR type and data type name
/// (Npgsql, src/Npgsql/Internal/TypeInfoMapping.cs and <c>IPgTypeInfoResolver</c>), instead of
/// matching the type's name again for every value.</remarks>
public abstract class PostgresColumnType
{
    private static readonly int EpochDayNumber = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

    public static readonly PostgresColumnType Boolean = new Binary<bool>(
        "boolean", StageKind.Bool, NpgsqlDbType.Boolean, false, v => v.Kind == ValueKind.Boolean, v => v.AsBoolean,
        (r, i) => FieldValue.FromBoolean(r.GetBoolean(i)));

    public static readonly PostgresColumnType SmallInt = new Binary<short>(
        "smallint", StageKind.Int2, NpgsqlDbType.Smallint, false,
        v => v.Kind == ValueKind.Int64 && v.AsInt64 is >= short.MinValue and <= short.MaxValue, v => (short)v.AsInt64,
        (r, i) => FieldValue.FromInt64(r.GetInt16(i)));

    public static readonly PostgresColumnType Integer = new Binary<int>(
        "integer", StageKind.Int4, NpgsqlDbType.Integer, false,
        v => v.Kind == ValueKind.Int64 && v.AsInt64 is >= int.MinValue and <= int.MaxValue, v => (int)v.AsInt64,
        (r, i) => FieldValue.FromInt64(r.GetInt32(i)));

    public static readonly PostgresColumnType BigInt = new Binary<long>(
        "bigint", StageKind.Int8, NpgsqlDbType.Bigint, false, v => v.Kind == ValueKind.Int64, v => v.AsInt64,
        (r, i) => FieldValue.FromInt64(r.GetInt64(i)));

    public static readonly PostgresColumnType Real = new Binary<float>(
        "real", StageKind.Float4, NpgsqlDbType.Real, false, v => v.Kind is ValueKind.Double or ValueKind.Int64, v => (float)AsDouble(v),
        (r, i) => FieldValue.FromDouble(r.GetFloat(i)));

    public static readonly PostgresColumnType DoublePrecision = new Binary<double>(
        "double precision", StageKind.Float8, NpgsqlDbType.Double, false, v => v.Kind is ValueKind.Double or ValueKind.Int64, AsDouble,
        (r, i) => FieldValue.FromDouble(r.GetDouble(i)));

    public static readonly PostgresColumnType Bytea = new Binary<byte[]>(
        "bytea", StageKind.Bytea, NpgsqlDbType.Bytea, false, v => v.Kind == ValueKind.Bytes, v => v.AsBytes,
        (r, i) => FieldValue.FromBytes(r.GetFieldValue<byte[]>(i)));

    public static readonly PostgresColumnType BitVarying = new Binary<BitArray>(
        "bit varying", StageKind.Bits, NpgsqlDbType.Varbit, true, v => v.Kind == ValueKind.Bytes, v => new BitArray(v.AsBytes), ReadBits);

    public static readonly PostgresColumnType Date = new Binary<DateOnly>(
        "date", StageKind.Date, NpgsqlDbType.Date, false, v => v.Kind == ValueKind.Date && ToDate(v.AsInt64) is not null, v => ToDate(v.AsInt64)!.Value,
        (r, i) => FieldValue.FromDate(r.GetFieldValue<DateOnly>(i).DayNumber - EpochDayNumber));

    public static readonly PostgresColumnType Uuid = new Binary<Guid>(
        "uuid", StageKind.Uuid, NpgsqlDbType.Uuid, false,
        v => v.Kind is ValueKind.Uuid or ValueKind.String && Guid.TryParse(v.AsText, out _), v => Guid.Parse(v.AsText),
        (r, i) => FieldValue.FromUuid(r.GetGuid(i).ToString()));

    public static readonly PostgresColumnType Time = TimeNamed("time without time zone");

    public static readonly PostgresColumnType Timestamp = TimestampNamed("timestamp without time zone");

    public static readonly PostgresColumnType Interval = IntervalNamed("interval");

    public static readonly PostgresColumnType Text = new StagedAsText("text");

    public static readonly PostgresColumnType Numeric = new StagedAsText("numeric");

    public static readonly PostgresColumnType Jsonb = new StagedAsText("jsonb");

    public static readonly PostgresColumnType TimestampTz = new StagedAsText("timestamp with time zone");

    public static readonly PostgresColumnType TimeTz = new StagedAsText("time with time zone");

    private PostgresColumnType(string name, StageKind stage)
    {
        Name = name;
        Stage = stage;
    }

    /// <summary>The type in DDL, as <c>format_type</c> prints it.</summary>
    public string Name { get; }

    /// <summary>How values of the type are staged.</summary>
    public StageKind Stage { get; }

    /// <summary>The staging column's type.</summary>
    public string StageType => Stage == StageKind.Text ? "text" : Name;

    /// <summary>Any numeric, with or without precision and scale.</summary>
    public bool IsNumeric => Name.StartsWith("numeric", StringComparison.Ordinal);

    public bool IsJson => Name is "jsonb" or "json";

    public override string ToString() => Name;

    /// <summary>The type of a column whose <c>format_type</c> is <paramref name="name"/>; a type the
    /// writer has no binary form for is staged as text.</summary>
    public static PostgresColumnType Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name switch
        {
            "boolean" => Boolean,
            "smallint" => SmallInt,
            "integer" => Integer,
            "bigint" => BigInt,
            "real" => Real,
            "double precision" => DoublePrecision,
            "bytea" => Bytea,
            "date" => Date,
            "uuid" => Uuid,
            "bit varying" => BitVarying,
            "time without time zone" => Time,
            "timestamp without time zone" => Timestamp,
            "interval" => Interval,
            "text" => Text,
            "numeric" => Numeric,
            "jsonb" => Jsonb,
            "timestamp with time zone" => TimestampTz,
            "time with time zone" => TimeTz,
            _ when name.StartsWith("timestamp", StringComparison.Ordinal) && name.EndsWith("without time zone", StringComparison.Ordinal) => TimestampNamed(name),
            _ when name.StartsWith("time", StringComparison.Ordinal) && !name.StartsWith("timestamp", StringComparison.Ordinal)
                && name.EndsWith("without time zone", StringComparison.Ordinal) => TimeNamed(name),
            _ when name.StartsWith("interval", StringComparison.Ordinal) => IntervalNamed(name),
            _ => new StagedAsText(name),
        };
    }

    /// <summary>The column type for a Debezium/Connect column schema.</summary>
    public static PostgresColumnType FromSchema(ColumnSchema column)
    {
        ArgumentNullException.ThrowIfNull(column);
        return column.Type switch
        {
            LogicalType.Boolean => Boolean,
            LogicalType.Int8 or LogicalType.Int16 => SmallInt,
            LogicalType.Int32 => Integer,
            LogicalType.Int64 => BigInt,
            LogicalType.Float32 => Real,
            LogicalType.Float64 => DoublePrecision,
            LogicalType.Bytes => Bytea,
            LogicalType.Decimal when column.Precision is >= 1 and <= 1000 && (column.Scale ?? 0) >= 0 && (column.Scale ?? 0) <= column.Precision =>
                new StagedAsText(string.Create(CultureInfo.InvariantCulture, $"numeric({column.Precision},{column.Scale ?? 0})")),
            LogicalType.Decimal or LogicalType.VariableDecimal => Numeric,
            LogicalType.Date => Date,
            LogicalType.Time => Time,
            LogicalType.Timestamp => Timestamp,
            LogicalType.TimestampTz => TimestampTz,
            LogicalType.TimeTz => TimeTz,
            LogicalType.Uuid => Uuid,
            LogicalType.Json or LogicalType.Nested => Jsonb,
            LogicalType.Bits => BitVarying,
            LogicalType.Interval => Interval,
            _ => Text,
        };
    }

    /// <summary>The column type for a value when the row carries no schema.</summary>
    public static PostgresColumnType FromKind(ValueKind kind) => kind switch
    {
        ValueKind.Boolean => Boolean,
        ValueKind.Int64 => BigInt,
        ValueKind.Double => DoublePrecision,
        ValueKind.Decimal => Numeric,
        ValueKind.Date => Date,
        ValueKind.Time => Time,
        ValueKind.Timestamp => Timestamp,
        ValueKind.TimestampTz => TimestampTz,
        ValueKind.TimeTz => TimeTz,
        ValueKind.Uuid => Uuid,
        ValueKind.Json => Jsonb,
        ValueKind.Bytes => Bytea,
        ValueKind.Interval => Interval,
        _ => Text,
    };

    /// <summary>Whether a column of this type holds values the source describes as
    /// <paramref name="wanted"/> without loss: the same type, a wider integer, an unconstrained numeric
    /// for any numeric or integer, double for real, varchar(n) or citext for text (a value too long for
    /// varchar(n) is then refused by the server, for that row only).</summary>
    public bool Holds(PostgresColumnType wanted)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        var (existing, name) = (Name, wanted.Name);
        if (existing == name)
        {
            return true;
        }

        static int IntRank(string t) => t switch { "smallint" => 1, "integer" => 2, "bigint" => 3, _ => 0 };
        if (IntRank(name) > 0 && (IntRank(existing) >= IntRank(name) || existing == "numeric"))
        {
            return true;
        }

        if (existing == "numeric" && wanted.IsNumeric)
        {
            return true;
        }

        if (existing == "double precision" && name == "real")
        {
            return true;
        }

        if (name == "text" && (existing.StartsWith("character varying", StringComparison.Ordinal) || existing == "citext"))
        {
            return true;
        }

        return existing == "json" && name == "jsonb";
    }

    /// <summary>Null when a column of this type can hold the value, else why not (the value itself is not named).</summary>
    public string? Check(FieldValue value)
    {
        // An unavailable value is staged as null and never written over the stored value (see PostgresWriter).
        if (value.IsNull || value.IsUnavailable || Fits(value))
        {
            return null;
        }

        return value.Kind switch
        {
            ValueKind.Int64 when Stage is StageKind.Int2 or StageKind.Int4 => "the integer is out of the column type's range",
            ValueKind.Date or ValueKind.Timestamp => "the date is out of range",
            _ => $"a {value.Kind} value does not fit the column type",
        };
    }

    /// <summary>Writes one checked value (see <see cref="Check"/>) into the current COPY row.</summary>
    public Task WriteAsync(NpgsqlBinaryImporter importer, FieldValue value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(importer);

        // Unavailable: the source did not send the value; the staged null is what a new row gets,
        // and the upsert of a group with unavailable columns leaves a stored row's value alone.
        return value.IsNull || value.IsUnavailable ? importer.WriteNullAsync(cancellationToken) : WriteValueAsync(importer, value, cancellationToken);
    }

    /// <summary>A checked value as a command parameter of the staging type (see <see cref="StageType"/>).</summary>
    public NpgsqlParameter Parameter(FieldValue value) =>
        value.IsNull ? new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text } : ParameterOf(value);

    /// <summary>Checked values (see <see cref="Check"/>) of many rows as one array parameter of the
    /// staging type, read by <c>unnest</c>: a null or unavailable value is a null element, as
    /// <see cref="WriteAsync"/> stages it.</summary>
    public NpgsqlParameter ArrayParameter(IReadOnlyList<FieldValue> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return ArrayOf(values);
    }

    /// <summary>The SQL that reads a column for <see cref="Read"/>: types Npgsql cannot read exactly
    /// (numeric beyond 28 digits, json, enums, …) are read as their text.</summary>
    public virtual string SelectExpression(string quotedColumn) => quotedColumn;

    /// <summary>A stored value (selected with <see cref="SelectExpression"/>) as the decoder would have
    /// produced it, so that <see cref="FieldValue.ToText"/> gives the canonical text:
    /// integers Int64, numeric exact Decimal text, timestamps microseconds since the epoch (pre-1970
    /// included), timestamptz as UTC ISO-8601 with <c>Z</c>, intervals microseconds, bits as the bytes written.</summary>
    public FieldValue Read(NpgsqlDataReader reader, int ordinal)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return reader.IsDBNull(ordinal) ? FieldValue.Null : ReadValue(reader, ordinal);
    }

    protected abstract bool Fits(FieldValue value);

    protected abstract Task WriteValueAsync(NpgsqlBinaryImporter importer, FieldValue value, CancellationToken cancellationToken);

    protected abstract NpgsqlParameter ParameterOf(FieldValue value);

    protected abstract NpgsqlParameter ArrayOf(IReadOnlyList<FieldValue> values);

    protected abstract FieldValue ReadValue(NpgsqlDataReader reader, int ordinal);

    private static PostgresColumnType TimeNamed(string name) => new Binary<TimeSpan>(
        name, StageKind.Time, NpgsqlDbType.Time, true, v => v.Kind == ValueKind.Time && v.AsInt64 is >= 0 and <= 86_400_000_000_000,
        v => TimeSpan.FromTicks(v.AsInt64 / 100), (r, i) => FieldValue.FromTime(r.GetFieldValue<TimeSpan>(i).Ticks * 100));

    private static PostgresColumnType TimestampNamed(string name) => new Binary<DateTime>(
        name, StageKind.Timestamp, NpgsqlDbType.Timestamp, true, v => v.Kind == ValueKind.Timestamp && ToDateTime(v) is not null, v => ToDateTime(v)!.Value,
        (r, i) => FieldValue.FromTimestamp((r.GetFieldValue<DateTime>(i).Ticks - DateTime.UnixEpoch.Ticks) / 10, TimeUnit.Microseconds));

    private static PostgresColumnType IntervalNamed(string name) => new Binary<NpgsqlInterval>(
        name, StageKind.Interval, NpgsqlDbType.Interval, false, v => v.Kind == ValueKind.Interval, v => new NpgsqlInterval(0, 0, v.AsInt64),
        (r, i) =>
        {
            var interval = r.GetFieldValue<NpgsqlInterval>(i);
            return FieldValue.FromInterval(interval.Time + ((interval.Months * 30L) + interval.Days) * 86_400_000_000L);
        });

    private static FieldValue ReadBits(NpgsqlDataReader reader, int ordinal)
    {
        var bits = reader.GetFieldValue<BitArray>(ordinal);
        var bytes = new byte[(bits.Length + 7) / 8];
        bits.CopyTo(bytes, 0);
        return FieldValue.FromBytes(bytes);
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

    /// <summary>A type with a binary form: values travel as <typeparamref name="T"/> with
    /// <paramref name="wireType"/>, the pair an Npgsql converter reads and writes.</summary>
    private sealed class Binary<T>(
        string name,
        StageKind stage,
        NpgsqlDbType wireType,
        bool parameterNamesType,
        Func<FieldValue, bool> fits,
        Func<FieldValue, T> toWire,
        Func<NpgsqlDataReader, int, FieldValue> read)
        : PostgresColumnType(name, stage)
    {
        protected override bool Fits(FieldValue value) => fits(value);

        protected override Task WriteValueAsync(NpgsqlBinaryImporter importer, FieldValue value, CancellationToken cancellationToken) =>
            importer.WriteAsync(toWire(value), wireType, cancellationToken);

        protected override NpgsqlParameter ParameterOf(FieldValue value) => parameterNamesType
            ? new NpgsqlParameter<T> { TypedValue = toWire(value), NpgsqlDbType = wireType }
            : new NpgsqlParameter<T> { TypedValue = toWire(value) };

        protected override FieldValue ReadValue(NpgsqlDataReader reader, int ordinal) => read(reader, ordinal);

        /// <summary>A value type's elements travel as <c>T?</c>, so that an array can hold nulls; the
        /// stage kind names the one <typeparamref name="T"/> each binary type is made with.</summary>
        protected override NpgsqlParameter ArrayOf(IReadOnlyList<FieldValue> values) => Stage switch
        {
            StageKind.Bool => Nullables((Func<FieldValue, bool>)(object)toWire, values),
            StageKind.Int2 => Nullables((Func<FieldValue, short>)(object)toWire, values),
            StageKind.Int4 => Nullables((Func<FieldValue, int>)(object)toWire, values),
            StageKind.Int8 => Nullables((Func<FieldValue, long>)(object)toWire, values),
            StageKind.Float4 => Nullables((Func<FieldValue, float>)(object)toWire, values),
            StageKind.Float8 => Nullables((Func<FieldValue, double>)(object)toWire, values),
            StageKind.Date => Nullables((Func<FieldValue, DateOnly>)(object)toWire, values),
            StageKind.Time => Nullables((Func<FieldValue, TimeSpan>)(object)toWire, values),
            StageKind.Timestamp => Nullables((Func<FieldValue, DateTime>)(object)toWire, values),
            StageKind.Interval => Nullables((Func<FieldValue, NpgsqlInterval>)(object)toWire, values),
            StageKind.Uuid => Nullables((Func<FieldValue, Guid>)(object)toWire, values),
            _ => References(values),
        };

        private NpgsqlParameter Nullables<TValue>(Func<FieldValue, TValue> wire, IReadOnlyList<FieldValue> values)
            where TValue : struct
        {
            var array = new TValue?[values.Count];
            for (var i = 0; i < array.Length; i++)
            {
                var value = values[i];
                array[i] = value.IsNull || value.IsUnavailable ? null : wire(value);
            }

            return new NpgsqlParameter<TValue?[]> { TypedValue = array, NpgsqlDbType = NpgsqlDbType.Array | wireType };
        }

        /// <summary>The reference types (bytea's byte[], varbit's BitArray): a null element is a null reference.</summary>
        private NpgsqlParameter References(IReadOnlyList<FieldValue> values)
        {
            var array = new T[values.Count];
            for (var i = 0; i < array.Length; i++)
            {
                var value = values[i];
                array[i] = value.IsNull || value.IsUnavailable ? default! : toWire(value);
            }

            return new NpgsqlParameter<T[]> { TypedValue = array, NpgsqlDbType = NpgsqlDbType.Array | wireType };
        }
    }

    /// <summary>A type staged as text and cast to the column's type by the server (numeric of any
    /// precision, timestamptz, timetz, jsonb, text, varchar, enum types, …): exact, and a bad value
    /// fails that row only.</summary>
    private sealed class StagedAsText(string name) : PostgresColumnType(name, StageKind.Text)
    {
        public override string SelectExpression(string quotedColumn) =>
            Name is "timestamp with time zone" or "time with time zone" ? quotedColumn : quotedColumn + "::text";

        protected override bool Fits(FieldValue value) => true;

        protected override Task WriteValueAsync(NpgsqlBinaryImporter importer, FieldValue value, CancellationToken cancellationToken) =>
            importer.WriteAsync(TextOf(value), NpgsqlDbType.Text, cancellationToken);

        protected override NpgsqlParameter ParameterOf(FieldValue value) =>
            new NpgsqlParameter<string> { TypedValue = TextOf(value), NpgsqlDbType = NpgsqlDbType.Text };

        protected override NpgsqlParameter ArrayOf(IReadOnlyList<FieldValue> values)
        {
            var array = new string?[values.Count];
            for (var i = 0; i < array.Length; i++)
            {
                var value = values[i];
                array[i] = value.IsNull || value.IsUnavailable ? null : TextOf(value);
            }

            return new NpgsqlParameter<string?[]> { TypedValue = array, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };
        }

        protected override FieldValue ReadValue(NpgsqlDataReader reader, int ordinal)
        {
            if (Name == "timestamp with time zone")
            {
                var utc = reader.GetFieldValue<DateTime>(ordinal);
                return FieldValue.FromTimestampTz(utc.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + Fraction(utc.Ticks % TimeSpan.TicksPerSecond) + "Z");
            }

            if (Name == "time with time zone")
            {
                var time = reader.GetFieldValue<DateTimeOffset>(ordinal);
                var offset = time.Offset == TimeSpan.Zero ? "Z" : time.ToString("zzz", CultureInfo.InvariantCulture);
                return FieldValue.FromTimeTz(time.ToString("HH:mm:ss", CultureInfo.InvariantCulture) + Fraction(time.Ticks % TimeSpan.TicksPerSecond) + offset);
            }

            var text = reader.GetString(ordinal);
            if (IsNumeric)
            {
                return FieldValue.FromDecimalText(text);
            }

            return IsJson ? FieldValue.FromJson(text) : FieldValue.FromString(text);
        }
    }
}
