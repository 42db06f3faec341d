using System.Buffers.Binary;
using Npgsql;
using NpgsqlTypes;

namespace Sync.Sinks.Postgres;

/// <summary>
/// The columns of a bulk-loaded shadow written straight into the shadow table with binary COPY, when
/// the whole history was held (see <see cref="ShadowLoad"/>): each value goes in the binary form of its
/// column's own type, so that the server stores what the staging log's cast would have stored. Types
/// staged as text have a binary form here only where it is known to equal the cast from text:
/// <c>text</c> (the same UTF-8), <c>jsonb</c> (version 1, then the text, parsed as the text input
/// parses it) and unconstrained <c>numeric</c> for plain decimal texts (encoded here as
/// <c>numeric_recv</c> reads it); any other type, or any other numeric text, leaves the held changes
/// to the log.
/// </summary>
/// <remarks>The binary layouts are PostgreSQL's <c>jsonb_recv</c> (src/backend/utils/adt/jsonb.c: a
/// version byte 1, then the JSON text) and <c>numeric_recv</c> (src/backend/utils/adt/numeric.c: the
/// number of base-10000 digits, the weight of the first, the sign 0x0000 or 0x4000, the display
/// scale, then the digits, each a big-endian 16-bit integer; the server strips leading and trailing
/// zero digits and makes a zero positive, as <c>numeric_in</c> does).</remarks>
internal sealed class ShadowLoadColumns
{
    /// <summary>Longest decimal text encoded here (digits); a longer one goes through the log.</summary>
    private const int MaxDecimalLength = 1000;

    private const ushort NumericNegative = 0x4000;

    private readonly PostgresColumnType[] _types;
    private readonly Form[] _forms;

    private ShadowLoadColumns(PostgresColumnType[] types, Form[] forms)
    {
        _types = types;
        _forms = forms;
    }

    private enum Form
    {
        /// <summary>The value as the log stages it: the column's own binary type, or text into a text column.</summary>
        Staged,
        Jsonb,
        Numeric,
    }

    /// <summary>The columns of <paramref name="shape"/>, or null when a type has no binary form here.</summary>
    public static ShadowLoadColumns? For(ShadowLoadShape shape)
    {
        var forms = new Form[shape.Types.Length];
        for (var i = 0; i < forms.Length; i++)
        {
            var type = shape.Types[i];
            Form? form = type.Stage != StageKind.Text ? Form.Staged : type.Name switch
            {
                "text" => Form.Staged,
                "jsonb" => Form.Jsonb,
                "numeric" => Form.Numeric,
                _ => null,
            };
            if (form is not { } known)
            {
                return null;
            }

            forms[i] = known;
        }

        return new ShadowLoadColumns(shape.Types, forms);
    }

    /// <summary>True when every numeric value of the held upserts is a plain decimal text.</summary>
    public bool Fit(IEnumerable<HeldChange> held)
    {
        if (!_forms.Contains(Form.Numeric))
        {
            return true;
        }

        foreach (var (_, change) in held)
        {
            if (change.IsDelete)
            {
                continue;
            }

            var values = change.After!.Values;
            for (var i = 0; i < _forms.Length; i++)
            {
                if (_forms[i] == Form.Numeric && !values[i].IsNull && !values[i].IsUnavailable && Numeric(values[i].ToText()!) is null)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Writes one upsert's values into the current COPY row.</summary>
    public async Task WriteAsync(NpgsqlBinaryImporter importer, IReadOnlyList<FieldValue> values, CancellationToken cancellationToken)
    {
        for (var i = 0; i < _forms.Length; i++)
        {
            var value = values[i];
            switch (_forms[i])
            {
                case Form.Jsonb when !value.IsNull && !value.IsUnavailable:
                    await importer.WriteAsync(value.ToText()!, NpgsqlDbType.Jsonb, cancellationToken);
                    break;
                case Form.Numeric when !value.IsNull && !value.IsUnavailable:
                    // The bytes are numeric_recv's input; COPY sends a field's bytes as they are.
                    await importer.WriteAsync(Numeric(value.ToText()!)!, NpgsqlDbType.Bytea, cancellationToken);
                    break;
                default:
                    await _types[i].WriteAsync(importer, value, cancellationToken);
                    break;
            }
        }
    }

    /// <summary>The binary form of a plain decimal text (<c>-?digits(.digits)?</c>), or null for any other text.</summary>
    internal static byte[]? Numeric(string text)
    {
        var negative = text.StartsWith('-');
        var body = negative ? text.AsSpan(1) : text.AsSpan();
        var point = body.IndexOf('.');
        var whole = point < 0 ? body : body[..point];
        var fraction = point < 0 ? [] : body[(point + 1)..];
        if (whole.IsEmpty || (point >= 0 && fraction.IsEmpty) || whole.Length + fraction.Length > MaxDecimalLength
            || whole.ContainsAnyExceptInRange('0', '9') || fraction.ContainsAnyExceptInRange('0', '9'))
        {
            return null;
        }

        whole = whole.TrimStart('0');

        // Base-10000 digits: the whole part padded on the left, the fraction on the right, to groups of four.
        var wholeGroups = (whole.Length + 3) / 4;
        var fractionGroups = (fraction.Length + 3) / 4;
        var digits = new short[wholeGroups + fractionGroups];
        for (var i = 0; i < whole.Length; i++)
        {
            var position = (wholeGroups * 4) - whole.Length + i;
            digits[position / 4] = (short)((digits[position / 4] * 10) + (whole[i] - '0'));
        }

        for (var i = 0; i < fractionGroups * 4; i++)
        {
            var group = wholeGroups + (i / 4);
            digits[group] = (short)((digits[group] * 10) + (i < fraction.Length ? fraction[i] - '0' : 0));
        }

        var first = 0;
        while (first < digits.Length && digits[first] == 0)
        {
            first++;
        }

        var last = digits.Length;
        while (last > first && digits[last - 1] == 0)
        {
            last--;
        }

        var count = last - first;
        var weight = count == 0 ? 0 : wholeGroups - 1 - first;
        var bytes = new byte[8 + (2 * count)];
        BinaryPrimitives.WriteInt16BigEndian(bytes, (short)count);
        BinaryPrimitives.WriteInt16BigEndian(bytes.AsSpan(2), (short)weight);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), negative && count > 0 ? NumericNegative : (ushort)0);
        BinaryPrimitives.WriteInt16BigEndian(bytes.AsSpan(6), (short)fraction.Length);
        for (var i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteInt16BigEndian(bytes.AsSpan(8 + (2 * i)), digits[first + i]);
        }

        return bytes;
    }
}
