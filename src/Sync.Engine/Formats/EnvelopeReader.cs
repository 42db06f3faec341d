using System.Text.Unicode;

namespace Sync.Engine.Formats;

/// <summary>Decodes a bare Debezium envelope (JsonConverter with schemas disabled, Pulsar IO's
/// default) in one <see cref="Utf8JsonReader"/> pass, without building a <see cref="JsonDocument"/>.
/// It gives exactly what <see cref="DebeziumJsonDecoder"/>'s document path gives; anything it does
/// not handle itself (a schema wrapper, an escaped property name, and every kind of bad input)
/// makes <see cref="TryDecode"/> return false, and the document path decides, so that error
/// messages stay those of the document path.</summary>
/// <remarks>Per-event allocations are what the change model keeps: the rows, their values, the
/// source block. Column names, equal string values at a column position and the repetitive source
/// texts (connector, db, table, …) are reused while their bytes repeat. Not thread-safe: one per decoder.</remarks>
internal sealed class EnvelopeReader(DecoderOptions options)
{
    // One instance for every fallback: it never leaves this class, and nothing reads its stack trace.
    private static readonly Fallback Unhandled = new();

    private readonly ColumnNames _beforeNames = new();
    private readonly ColumnNames _afterNames = new();
    private readonly ColumnNames _keyNames = new();
    private readonly PropertyNameGuard _guard = new();
    private readonly ColumnStrings _strings = new();
    private readonly TextCache _connector = new();
    private readonly TextCache _name = new();
    private readonly TextCache _db = new();
    private readonly TextCache _schema = new();
    private readonly TextCache _table = new();
    private readonly TextCache _snapshot = new();
    private readonly TextCache _txId = new();
    private byte[] _keyBytes = new byte[64];

    /// <summary>How many messages this reader decoded itself (the rest went to the document path).</summary>
    public long Decoded { get; private set; }

    /// <summary>Decodes <paramref name="message"/> (which has a value) when it is a bare envelope
    /// that decodes without error; false leaves the message to the document path.</summary>
    public bool TryDecode(SourceMessage message, out ChangeEvent change)
    {
        change = null!;
        var input = message.Value.Span;
        _guard.Reset();
        try
        {
            change = Decode(message, input)!;
            if (change is null)
            {
                return false;
            }

            Decoded++;
            return true;
        }
        catch (Fallback)
        {
            return false;
        }
        catch (DecodeException)
        {
            return false;
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate in a string.
            return false;
        }
    }

    private ChangeEvent? Decode(SourceMessage message, ReadOnlySpan<byte> input)
    {
        var reader = new Utf8JsonReader(input);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        ChangeOp? op = null;
        Row? before = null;
        Row? after = null;
        SourceInfo? source = null;
        long? tsMs = null;
        TransactionBlock? transaction = null;
        var segment = _guard.Open();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = _guard.Add(input, segment, ref reader);
            reader.Read();
            switch (name.Length)
            {
                case 2 when name.SequenceEqual("op"u8):
                    op = ReadOp(ref reader);
                    break;
                case 5 when name.SequenceEqual("after"u8):
                    after = ReadImage(ref reader, input, _afterNames);
                    break;
                case 6 when name.SequenceEqual("before"u8):
                    before = ReadImage(ref reader, input, _beforeNames);
                    break;
                case 6 when name.SequenceEqual("source"u8):
                    source = ReadSource(ref reader, input);
                    break;
                case 5 when name.SequenceEqual("ts_ms"u8):
                    tsMs = ReadInt64(ref reader);
                    break;
                case 11 when name.SequenceEqual("transaction"u8):
                    if (!TransactionBlockReader.TryRead(ref reader, out transaction))
                    {
                        throw Unhandled;
                    }

                    break;
                case 6 when name.SequenceEqual("schema"u8):
                case 7 when name.SequenceEqual("payload"u8):
                    // Likely the {schema, payload} wrapper (JsonConverter writes schema first): the document path tells.
                    return null;
                default:
                    SkipValue(ref reader, input);
                    break;
            }
        }

        _guard.Close(segment);

        // Checked last, so that a wrapper leaves after one property: the document path refuses
        // invalid UTF-8 anywhere, even in a part nobody reads.
        if (reader.Read() || !Utf8.IsValid(input))
        {
            return null;
        }

        if (op is not { } code || (after is null && code is ChangeOp.Create or ChangeOp.Update or ChangeOp.Read))
        {
            return null;
        }

        return new ChangeEvent
        {
            Op = code,
            Key = code == ChangeOp.Truncate ? Row.Empty : ReadKey(message.Key, code == ChangeOp.Delete ? before : after),
            Before = before,
            After = after,
            Source = source,
            Origin = message.ToOrigin(),
            TsMs = tsMs,
            Transaction = transaction,
        };
    }

    private static ChangeOp ReadOp(ref Utf8JsonReader reader)
    {
        return reader.TokenType == JsonTokenType.String && OpCodes.TryRead(ref reader, out var op) ? op : throw Unhandled;
    }

    private Row? ReadImage(ref Utf8JsonReader reader, ReadOnlySpan<byte> input, ColumnNames names) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.StartObject => ReadRow(ref reader, input, names),
        _ => throw Unhandled,
    };

    /// <summary>Reads the object the reader is at into a schemaless row: properties in order, values as they are.</summary>
    private Row ReadRow(ref Utf8JsonReader reader, ReadOnlySpan<byte> input, ColumnNames cache)
    {
        var values = cache.NewValues();
        var count = 0;
        var sameShape = true;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueIsEscaped)
            {
                throw Unhandled;
            }

            cache.Get(count, reader.ValueSpan, ref sameShape);
            reader.Read();
            var value = reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped
                ? FieldValue.FromString(_strings.Get(count, reader.ValueSpan))
                : ReadValue(ref reader, input);
            Put(ref values, count++, value);
        }

        return TakeRow(values, count, sameShape, cache);
    }

    private static void Put(ref FieldValue[] values, int position, FieldValue value)
    {
        if (position == values.Length)
        {
            Array.Resize(ref values, Math.Max(4, position * 2));
        }

        values[position] = value;
    }

    /// <summary>The row of the first <paramref name="count"/> values read and the names <paramref name="cache"/> holds for them.</summary>
    private static Row TakeRow(FieldValue[] values, int count, bool sameShape, ColumnNames cache)
    {
        string[] names;
        if (cache.IsVerified(count, sameShape))
        {
            names = cache.Shape;
        }
        else
        {
            names = cache.Names(count);
            RequireUnique(names, count);
            cache.Verified(names);
        }

        if (values.Length != count)
        {
            Array.Resize(ref values, count);
        }

        return new Row(names, values);
    }

    /// <summary>Reads a key written the way Debezium writes one: a flat object without whitespace
    /// whose values are integers of up to 18 digits or strings without escapes (<c>{"id":42}</c>).
    /// A key is a document of its own, and most are a few bytes, where setting up a
    /// <see cref="Utf8JsonReader"/> costs more than the reading. Null for anything else, which the
    /// reader then reads; the key's bytes are valid UTF-8.</summary>
    private Row? TryReadFlatKey(ReadOnlySpan<byte> key)
    {
        if (key.Length < 2 || key[0] != (byte)'{' || key[^1] != (byte)'}')
        {
            return null;
        }

        var values = _keyNames.NewValues();
        var count = 0;
        var sameShape = true;
        var at = 1;
        if (key.Length == 2)
        {
            return TakeRow(values, 0, sameShape, _keyNames);
        }

        while (true)
        {
            if (!TryReadPlainString(key, ref at, out var name) || at >= key.Length || key[at++] != (byte)':' || at >= key.Length)
            {
                return null;
            }

            if (name.SequenceEqual("schema"u8) || name.SequenceEqual("payload"u8))
            {
                // Maybe the {schema, payload} wrapper: the document path tells.
                return null;
            }

            FieldValue value;
            if (key[at] == (byte)'"')
            {
                if (!TryReadPlainString(key, ref at, out var text))
                {
                    return null;
                }

                value = FieldValue.FromString(_strings.Get(count, text));
            }
            else if (TryReadSmallInteger(key, ref at, out var number))
            {
                value = FieldValue.FromInt64(number);
            }
            else
            {
                return null;
            }

            _keyNames.Get(count, name, ref sameShape);
            Put(ref values, count++, value);
            if (at == key.Length - 1)
            {
                return TakeRow(values, count, sameShape, _keyNames);
            }

            if (key[at++] != (byte)',')
            {
                return null;
            }
        }
    }

    /// <summary>A string at <paramref name="at"/> without escapes or control characters; moves past its closing quote.</summary>
    private static bool TryReadPlainString(ReadOnlySpan<byte> input, ref int at, out ReadOnlySpan<byte> text)
    {
        text = default;
        if (at >= input.Length || input[at] != (byte)'"')
        {
            return false;
        }

        var rest = input[(at + 1)..];
        var end = rest.IndexOfAny((byte)'"', (byte)'\\');
        if (end < 0 || rest[end] != (byte)'"' || rest[..end].IndexOfAnyInRange((byte)0, (byte)0x1F) >= 0)
        {
            return false;
        }

        text = rest[..end];
        at += end + 2;
        return true;
    }

    /// <summary>A JSON integer (no fraction or exponent) of at most 18 digits, which always fits a long.</summary>
    private static bool TryReadSmallInteger(ReadOnlySpan<byte> input, ref int at, out long value)
    {
        value = 0;
        var i = at;
        var negative = i < input.Length && input[i] == (byte)'-';
        if (negative)
        {
            i++;
        }

        var first = i;
        while (i < input.Length && input[i] - (uint)'0' <= 9)
        {
            value = (value * 10) + (input[i] - '0');
            i++;
        }

        var digits = i - first;
        if (digits == 0 || digits > 18 || (digits > 1 && input[first] == (byte)'0')
            || (i < input.Length && input[i] is (byte)'.' or (byte)'e' or (byte)'E'))
        {
            return false;
        }

        value = negative ? -value : value;
        at = i;
        return true;
    }

    /// <summary>A value without a schema, as <see cref="FieldReader.ReadSchemaless"/> keeps it.</summary>
    private FieldValue ReadValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> input)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return FieldValue.Null;
            case JsonTokenType.True: return FieldValue.FromBoolean(true);
            case JsonTokenType.False: return FieldValue.FromBoolean(false);
            case JsonTokenType.String: return FieldValue.FromString(reader.GetString()!);
            case JsonTokenType.Number:
                if (reader.TryGetInt64(out var n))
                {
                    return FieldValue.FromInt64(n);
                }

                return DecimalNumber.TryToPlain(Encoding.UTF8.GetString(reader.ValueSpan), out var plain)
                    ? FieldValue.FromDecimalText(plain)
                    : throw Unhandled;
            case JsonTokenType.StartObject:
            case JsonTokenType.StartArray:
                {
                    var start = (int)reader.TokenStartIndex;
                    SkipValue(ref reader, input);
                    return FieldValue.FromJson(Encoding.UTF8.GetString(input[start..(int)reader.BytesConsumed]));
                }

            default: throw Unhandled;
        }
    }

    private SourceInfo? ReadSource(ref Utf8JsonReader reader, ReadOnlySpan<byte> input)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Unhandled;
        }

        var source = default(SourceBlock);
        var segment = _guard.Open();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var property = _guard.Add(input, segment, ref reader);
            reader.Read();
            switch (property.Length)
            {
                case 2 when property.SequenceEqual("db"u8): source.Db = ReadText(ref reader, _db); break;
                case 3 when property.SequenceEqual("lsn"u8):
                case 3 when property.SequenceEqual("pos"u8):
                case 3 when property.SequenceEqual("row"u8):
                case 3 when property.SequenceEqual("scn"u8):
                case 4 when property.SequenceEqual("file"u8):
                case 10 when property.SequenceEqual("commit_lsn"u8):
                case 10 when property.SequenceEqual("change_lsn"u8):
                case 10 when property.SequenceEqual("commit_scn"u8):
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        // Not a coordinate, as on the document path: taken as absent.
                        SkipValue(ref reader, input);
                        break;
                    }

                    ReadCoordinate(ref reader, property, ref source.Coordinates);
                    break;
                case 4 when property.SequenceEqual("name"u8): source.Name = ReadText(ref reader, _name); break;
                case 4 when property.SequenceEqual("txId"u8): source.TxId = ReadScalarText(ref reader, _txId); break;
                case 5 when property.SequenceEqual("table"u8): source.Table = ReadText(ref reader, _table); break;
                case 5 when property.SequenceEqual("ts_ms"u8): source.TsMs = ReadInt64(ref reader); break;
                case 6 when property.SequenceEqual("schema"u8): source.Schema = ReadText(ref reader, _schema); break;
                case 8 when property.SequenceEqual("snapshot"u8): source.Snapshot = ReadScalarText(ref reader, _snapshot); break;
                case 9 when property.SequenceEqual("connector"u8): source.Connector = ReadText(ref reader, _connector); break;
                default: SkipValue(ref reader, input); break;
            }
        }

        _guard.Close(segment);
        return source.ToSourceInfo();
    }

    /// <summary>A source coordinate, read as <see cref="SourceCoordinates.Accept"/> reads it on the document path.</summary>
    private static void ReadCoordinate(ref Utf8JsonReader reader, scoped ReadOnlySpan<byte> property, ref SourceCoordinates coordinates)
    {
        if (reader.ValueIsEscaped)
        {
            throw Unhandled;
        }

        if (property.Length == 3 && property[0] != (byte)'s')
        {
            // lsn, pos, row: an integer, or a string holding one.
            var raw = reader.ValueSpan;
            long? integer = reader.TokenType switch
            {
                JsonTokenType.Number when reader.TryGetInt64(out var n) => n,
                JsonTokenType.String when System.Buffers.Text.Utf8Parser.TryParse(raw, out long parsed, out var used) && used == raw.Length => parsed,
                _ => null,
            };
            switch (property[0])
            {
                case (byte)'l': coordinates.Lsn = integer; break;
                case (byte)'p': coordinates.Pos = integer; break;
                default: coordinates.Row = integer; break;
            }

            return;
        }

        var textValue = reader.TokenType is JsonTokenType.String or JsonTokenType.Number ? Encoding.UTF8.GetString(reader.ValueSpan) : null;
        switch (property.Length)
        {
            case 3: coordinates.Scn = textValue; break;
            case 4: coordinates.File = textValue; break;
            case 10 when property.SequenceEqual("commit_lsn"u8): coordinates.CommitLsn = textValue; break;
            case 10 when property.SequenceEqual("change_lsn"u8): coordinates.ChangeLsn = textValue; break;
            default: coordinates.CommitScn = textValue; break;
        }
    }

    private static string? ReadText(ref Utf8JsonReader reader, TextCache cache) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.String => cache.Get(ref reader),
        _ => throw Unhandled,
    };

    /// <summary>A string, number or boolean as text (txId, snapshot), as the document path gives it.</summary>
    private static string? ReadScalarText(ref Utf8JsonReader reader, TextCache cache) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.String or JsonTokenType.Number => cache.Get(ref reader),
        JsonTokenType.True => "true",
        JsonTokenType.False => "false",
        _ => throw Unhandled,
    };

    private static long? ReadInt64(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.Number when reader.TryGetInt64(out var n) => n,
        _ => throw Unhandled,
    };

    private Row ReadKey(MessageKey messageKey, Row? image)
    {
        if (messageKey.Text is not { Length: > 0 } text)
        {
            return options.KeyColumns is { Count: > 0 } columns && image is not null
                ? RowReader.Project(image, columns, null, string.Empty)
                : throw Unhandled;
        }

        int length;
        if (messageKey.IsBase64)
        {
            EnsureKeyBuffer((text.Length * 3 / 4) + 3);
            if (!Convert.TryFromBase64String(text, _keyBytes, out length))
            {
                throw Unhandled;
            }
        }
        else
        {
            EnsureKeyBuffer(Encoding.UTF8.GetByteCount(text));
            length = Encoding.UTF8.GetBytes(text, _keyBytes);
        }

        var key = _keyBytes.AsSpan(0, length);
        if (!Utf8.IsValid(key))
        {
            throw Unhandled;
        }

        if (TryReadFlatKey(key) is { } flat)
        {
            return flat;
        }

        var reader = new Utf8JsonReader(key);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw Unhandled;
        }

        // A key object naming schema or payload may be the {schema, payload} wrapper: the document path tells.
        var probe = reader;
        while (probe.Read() && probe.TokenType == JsonTokenType.PropertyName)
        {
            if (probe.ValueTextEquals("schema"u8) || probe.ValueTextEquals("payload"u8))
            {
                throw Unhandled;
            }

            probe.Skip();
        }

        var row = ReadRow(ref reader, key, _keyNames);
        return reader.Read() ? throw Unhandled : row;
    }

    private void EnsureKeyBuffer(int length)
    {
        if (_keyBytes.Length < length)
        {
            _keyBytes = new byte[Math.Max(length, _keyBytes.Length * 2)];
        }
    }

    /// <summary>Moves past the value the reader is at, checking nested objects for duplicate
    /// property names as the document path's parse does.</summary>
    private void SkipValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> input)
    {
        if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return;
        }

        var depth = reader.CurrentDepth;
        Span<int> inline = stackalloc int[16];
        var segments = new SegmentStack(inline);
        if (reader.TokenType == JsonTokenType.StartObject)
        {
            segments.Push(_guard.Open());
        }

        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    _guard.Add(input, segments.Peek(), ref reader);
                    break;
                case JsonTokenType.StartObject:
                    segments.Push(_guard.Open());
                    break;
                case JsonTokenType.EndObject:
                    _guard.Close(segments.Pop());
                    if (reader.CurrentDepth == depth)
                    {
                        return;
                    }

                    break;
                case JsonTokenType.EndArray:
                    if (reader.CurrentDepth == depth)
                    {
                        return;
                    }

                    break;
                default:
                    break;
            }
        }
    }

    private static void RequireUnique(string[] names, int count)
    {
        if (count <= 16)
        {
            for (var i = 1; i < count; i++)
            {
                for (var j = 0; j < i; j++)
                {
                    if (string.Equals(names[i], names[j], StringComparison.Ordinal))
                    {
                        throw Unhandled;
                    }
                }
            }

            return;
        }

        var seen = new HashSet<string>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            if (!seen.Add(names[i]))
            {
                throw Unhandled;
            }
        }
    }

    /// <summary>Not an error: the document path decides this message.</summary>
    private sealed class Fallback : Exception;

    /// <summary>Open objects of a nested value (the guard segment of each), on the stack while shallow.</summary>
    private ref struct SegmentStack(Span<int> inline)
    {
        private Span<int> _items = inline;
        private int _count;

        public void Push(int segment)
        {
            if (_count == _items.Length)
            {
                var larger = new int[_items.Length * 2];
                _items.CopyTo(larger);
                _items = larger;
            }

            _items[_count++] = segment;
        }

        public readonly int Peek() => _items[_count - 1];

        public int Pop() => _items[--_count];
    }

    /// <summary>Property names of the objects being read, to refuse a duplicate as the document path
    /// does (it compares unescaped names; an escaped name is left to it). Each open object keeps a
    /// 64-bit summary of its names' lengths and end bytes, so a name that differs from all before it
    /// in those (nearly every name) is not compared with them.</summary>
    private sealed class PropertyNameGuard
    {
        private (int Start, int Length)[] _names = new (int, int)[32];
        private ulong[] _summaries = new ulong[8];
        private int _count;
        private int _depth;

        public void Reset()
        {
            _count = 0;
            _depth = 0;
        }

        /// <summary>Starts an object; its names are those added after this mark. Objects nest: each
        /// <see cref="Open"/> is ended by one <see cref="Close"/>, innermost first.</summary>
        public int Open()
        {
            if (_depth == _summaries.Length)
            {
                Array.Resize(ref _summaries, _depth * 2);
            }

            _summaries[_depth++] = 0;
            return _count;
        }

        public void Close(int segment)
        {
            _count = segment;
            _depth--;
        }

        /// <summary>The name the reader is at, refused when escaped or already in the object.</summary>
        public ReadOnlySpan<byte> Add(ReadOnlySpan<byte> input, int segment, ref Utf8JsonReader reader)
        {
            if (reader.ValueIsEscaped)
            {
                throw Unhandled;
            }

            var name = reader.ValueSpan;
            var bit = 1UL << (name.IsEmpty ? 0 : ((name.Length * 7) + (name[0] * 3) + name[^1]) & 63);
            ref var summary = ref _summaries[_depth - 1];
            if ((summary & bit) != 0)
            {
                for (var i = segment; i < _count; i++)
                {
                    var (start, length) = _names[i];
                    if (length == name.Length && input.Slice(start, length).SequenceEqual(name))
                    {
                        throw Unhandled;
                    }
                }
            }

            summary |= bit;
            if (_count == _names.Length)
            {
                Array.Resize(ref _names, _count * 2);
            }

            _names[_count++] = ((int)reader.TokenStartIndex + 1, name.Length);
            return name;
        }
    }

    /// <summary>The column names of the previous row of one image, by position: a row with the same
    /// columns reuses their strings, and a shape already checked for duplicates is not checked again.
    /// Rows of one shape share their names array (nothing writes to <see cref="Row.Names"/>), which
    /// also lets sinks recognise a repeated shape by reference.</summary>
    private sealed class ColumnNames
    {
        public string[] Shape { get; private set; } = [];

        private byte[][] _raw = new byte[16][];
        private string[] _names = new string[16];
        private int _stored;
        private int _verifiedCount = -1;

        public string Get(int position, ReadOnlySpan<byte> raw, ref bool sameShape)
        {
            if (position < _stored && raw.SequenceEqual(_raw[position]))
            {
                return _names[position];
            }

            sameShape = false;
            _verifiedCount = -1;
            if (position == _raw.Length)
            {
                Array.Resize(ref _raw, position * 2);
                Array.Resize(ref _names, position * 2);
            }

            _raw[position] = raw.ToArray();
            _names[position] = Encoding.UTF8.GetString(raw);
            _stored = Math.Max(_stored, position + 1);
            return _names[position];
        }

        /// <summary>An array for the values of the next row: as long as the last row, which the next
        /// one nearly always matches, so that it becomes the row's own without a copy.</summary>
        public FieldValue[] NewValues() => _verifiedCount switch
        {
            < 0 => new FieldValue[8],
            0 => [],
            _ => new FieldValue[_verifiedCount],
        };

        /// <summary>A copy of the names at the first <paramref name="count"/> positions, as last read.</summary>
        public string[] Names(int count) => _names.AsSpan(0, count).ToArray();

        public bool IsVerified(int count, bool sameShape) => sameShape && count == _verifiedCount;

        public void Verified(string[] names)
        {
            Shape = names;
            _verifiedCount = names.Length;
        }
    }

    /// <summary>The last string value read at each column position, without escapes: an update's
    /// before and after images share most values, and low-cardinality columns repeat across
    /// events, so an equal value reuses the string.</summary>
    private sealed class ColumnStrings
    {
        private TextCache?[] _columns = new TextCache?[16];

        public string Get(int position, ReadOnlySpan<byte> raw)
        {
            if (position >= _columns.Length)
            {
                Array.Resize(ref _columns, Math.Max(position + 1, _columns.Length * 2));
            }

            return (_columns[position] ??= new TextCache()).Get(raw);
        }
    }

    /// <summary>The last text read at one place (a column position, or a source field such as
    /// connector, db, table, the transaction id of a run of changes), reused while its bytes
    /// repeat. The bytes are kept in a reused buffer.</summary>
    private sealed class TextCache
    {
        private const int MaxKept = 256;

        private byte[] _raw = [];
        private int _length;
        private string? _text;

        /// <summary>The string or number token the reader is at, as text.</summary>
        public string Get(ref Utf8JsonReader reader) =>
            !reader.ValueIsEscaped ? Get(reader.ValueSpan)
            : reader.TokenType == JsonTokenType.String ? reader.GetString()! : Encoding.UTF8.GetString(reader.ValueSpan);

        /// <summary>The text of UTF-8 bytes without escapes.</summary>
        public string Get(ReadOnlySpan<byte> raw)
        {
            if (_text is not null && raw.SequenceEqual(_raw.AsSpan(0, _length)))
            {
                return _text;
            }

            var text = Encoding.UTF8.GetString(raw);
            if (raw.Length <= MaxKept)
            {
                if (_raw.Length < raw.Length)
                {
                    _raw = new byte[Math.Max(raw.Length, 32)];
                }

                raw.CopyTo(_raw);
                _length = raw.Length;
                _text = text;
            }
            else
            {
                _text = null;
            }

            return text;
        }
    }
}
