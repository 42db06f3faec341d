using System.Text;

namespace Sync.Pulsar.Protocol;

/// <summary>Reads protobuf's wire format (https://protobuf.dev/programming-guides/encoding/) field
/// by field, for the few messages read once per batched message, where the generated parser's
/// objects would be most of the cost. Every size is checked against the bytes left; malformed input
/// is a <see cref="PulsarProtocolException"/> naming <c>what</c>.</summary>
internal ref struct ProtoWireReader
{
    public const int Varint = 0;
    public const int Fixed64 = 1;
    public const int LengthDelimited = 2;
    public const int StartGroup = 3;
    public const int EndGroup = 4;
    public const int Fixed32 = 5;

    private const int MaxVarintLength = 10;
    private const int MaxGroupDepth = 100;

    // Strings as the generated parser reads them: text that is not UTF-8 is refused.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _bytes;
    private readonly string _what;
    private int _position;

    /// <param name="what">The message's name, for errors.</param>
    public ProtoWireReader(ReadOnlySpan<byte> bytes, string what)
    {
        _bytes = bytes;
        _what = what;
    }

    /// <summary>The next field's tag (field number &lt;&lt; 3 | wire type); false at the end.</summary>
    public bool TryReadTag(out uint tag)
    {
        if (_position == _bytes.Length)
        {
            tag = 0;
            return false;
        }

        // A tag is a varint32: bits above the low 32 are dropped, as protobuf runtimes do.
        tag = (uint)ReadVarint();
        if (tag >> 3 == 0)
        {
            throw Malformed($"field number 0 at byte {_position}");
        }

        if ((tag & 7) == EndGroup)
        {
            throw Malformed($"an end-group tag without its start at byte {_position}");
        }

        return true;
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (var shift = 0; shift < MaxVarintLength * 7; shift += 7)
        {
            if (_position == _bytes.Length)
            {
                throw Malformed("ends inside a varint");
            }

            var b = _bytes[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw Malformed($"a varint longer than {MaxVarintLength} bytes ends at byte {_position}");
    }

    public ReadOnlySpan<byte> ReadLengthDelimited()
    {
        var length = (int)(uint)ReadVarint();
        if (length < 0)
        {
            throw Malformed($"a negative length at byte {_position}");
        }

        if (length > _bytes.Length - _position)
        {
            throw Malformed($"a length of {length} exceeds the {_bytes.Length - _position} bytes left");
        }

        var value = _bytes.Slice(_position, length);
        _position += length;
        return value;
    }

    /// <summary>Skips the value of a field read with <paramref name="tag"/> (an unknown field).</summary>
    public void Skip(uint tag)
    {
        switch ((int)(tag & 7))
        {
            case Varint:
                ReadVarint();
                break;
            case Fixed64:
                Advance(8);
                break;
            case LengthDelimited:
                ReadLengthDelimited();
                break;
            case Fixed32:
                Advance(4);
                break;
            case StartGroup:
                SkipGroup(tag >> 3, 1);
                break;
            default:
                throw Malformed($"wire type {tag & 7} at byte {_position}");
        }
    }

    /// <summary>The UTF-8 text of a string field.</summary>
    public readonly string Text(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return bytes.IsEmpty ? string.Empty : Utf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Malformed($"a string field that is not UTF-8, before byte {_position}");
        }
    }

    /// <summary>A group (deprecated, but still valid on the wire) ends at the end-group tag of its own field number.</summary>
    private void SkipGroup(uint fieldNumber, int depth)
    {
        if (depth > MaxGroupDepth)
        {
            throw Malformed($"groups nested deeper than {MaxGroupDepth}");
        }

        while (true)
        {
            if (_position == _bytes.Length)
            {
                throw Malformed("ends inside a group");
            }

            var tag = (uint)ReadVarint();
            if ((tag & 7) == EndGroup)
            {
                if (tag >> 3 != fieldNumber)
                {
                    throw Malformed($"a group of field {fieldNumber} closed by field {tag >> 3}");
                }

                return;
            }

            if (tag >> 3 == 0)
            {
                throw Malformed($"field number 0 at byte {_position}");
            }

            if ((tag & 7) == StartGroup)
            {
                SkipGroup(tag >> 3, depth + 1);
            }
            else
            {
                Skip(tag);
            }
        }
    }

    private void Advance(int count)
    {
        if (count > _bytes.Length - _position)
        {
            throw Malformed($"ends inside a fixed-size field ({count} bytes needed, {_bytes.Length - _position} left)");
        }

        _position += count;
    }

    private readonly PulsarProtocolException Malformed(string detail) => new($"{_what} does not parse: {detail}");
}
