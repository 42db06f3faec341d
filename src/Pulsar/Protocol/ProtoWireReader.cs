using System.Text;
using static Google.Protobuf.WireFormat;

namespace Sync.Pulsar.Protocol;

/// <summary>Reads protobuf's wire format (https://protobuf.dev/programming-guides/encoding/) field
/// by field, for the few messages read once per batched message, where the generated parser's
/// objects would be most of the cost. Every size is checked against the bytes left; malformed input
/// is a <see cref="PulsarProtocolException"/> naming <c>what</c>.</summary>
internal ref struct ProtoWireReader
{
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
        if (GetTagFieldNumber(tag) == 0)
        {
            throw Malformed($"field number 0 at byte {_position}");
        }

        if (GetTagWireType(tag) == WireType.EndGroup)
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
        switch (GetTagWireType(tag))
        {
            case WireType.Varint:
                ReadVarint();
                break;
            case WireType.Fixed64:
                Advance(8);
                break;
            case WireType.LengthDelimited:
                ReadLengthDelimited();
                break;
            case WireType.Fixed32:
                Advance(4);
                break;
            case WireType.StartGroup:
                SkipGroup(GetTagFieldNumber(tag), 1);
                break;
            default:
                throw Malformed($"wire type {(uint)GetTagWireType(tag)} at byte {_position}");
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
    private void SkipGroup(int fieldNumber, int depth)
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
            if (GetTagWireType(tag) == WireType.EndGroup)
            {
                if (GetTagFieldNumber(tag) != fieldNumber)
                {
                    throw Malformed($"a group of field {fieldNumber} closed by field {GetTagFieldNumber(tag)}");
                }

                return;
            }

            if (GetTagFieldNumber(tag) == 0)
            {
                throw Malformed($"field number 0 at byte {_position}");
            }

            if (GetTagWireType(tag) == WireType.StartGroup)
            {
                SkipGroup(GetTagFieldNumber(tag), depth + 1);
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
