using FsCheck;
using FsCheck.Xunit;
using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>Whatever arrives, a decoder either returns a usable change or throws a DecodeException.</summary>
public class DecoderRobustnessProperties
{
    private static readonly string[] Corpus =
    [
        Wrapped(UserFields, "c", null, """{"id":42,"name":"Alice","price":"MDk=","born":-1}"""),
        Wrapped(UserFields, "u", """{"id":42,"name":"Alice","price":"z8c=","born":18262}""", """{"id":42,"name":"Al","price":null,"born":0}"""),
        Bare("d", """{"id":42,"name":"Alice","price":12.50,"tags":["a"],"meta":{"x":1}}""", null),
        Bare("t", null, null),
        Wrapped(
            """{"type":"int32","optional":false,"field":"id"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","field":"ts"},{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","field":"zt"},{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","field":"vsd"},{"type":"string","optional":true,"name":"io.debezium.data.Uuid","field":"u"},{"type":"string","optional":true,"name":"io.debezium.data.Json","field":"j"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTime","field":"t"},{"type":"float64","optional":true,"field":"f"}""",
            "r",
            null,
            """{"id":1,"ts":-1,"zt":"2020-01-01T10:15:30.123Z","vsd":{"scale":3,"value":"z8c="},"u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","j":"{\"a\":[1,2]}","t":45296789012,"f":"NaN"}"""),
        """{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false},"payload":{"id":7}}""",
        """{"id":7,"name":"Ann","score":1.5e3}""",
    ];

    private static readonly MessageKey[] Keys =
    [
        PlainKey("""{"id":42}"""),
        Base64Key("""{"id":42}"""),
        PlainKey(WrappedKey(UserKeySchema, """{"id":42}""")),
        PlainKey("42"),
        default,
    ];

    private static readonly DecoderOptions WithKeyColumns = new() { KeyColumns = ["id"] };

    /// <summary>Decoders whose schema caches hold the corpus schemas, so that mutated messages also go
    /// through the cached-schema fast path. Properties of one class run one at a time.</summary>
    private static readonly IMessageDecoder[] Warm = WarmUp();

    [Property(MaxTest = 2000)]
    public void Arbitrary_bytes_only_ever_throw_DecodeException(byte[] value, byte[] key, bool keyIsBase64)
    {
        var messageKey = keyIsBase64 ? MessageKey.FromBytesAsBase64(key) : new MessageKey(Encoding.UTF8.GetString(key), false);
        DecodeSafely(Bytes(value, messageKey));
    }

    [Property(MaxTest = 3000)]
    public void Mutated_valid_messages_only_ever_throw_DecodeException(NonNegativeInt corpus, NonNegativeInt key, NonNegativeInt[] positions, byte[] replacements, bool truncate)
    {
        var bytes = Encoding.UTF8.GetBytes(Corpus[corpus.Get % Corpus.Length]);
        for (var i = 0; i < positions.Length && i < replacements.Length; i++)
        {
            bytes[positions[i].Get % bytes.Length] = replacements[i];
        }

        if (truncate && positions.Length > 0)
        {
            bytes = bytes[..(positions[0].Get % bytes.Length)];
        }

        DecodeSafely(Bytes(bytes, Keys[key.Get % Keys.Length]));
    }

    [Property(MaxTest = 2000)]
    public void Messages_with_characters_from_JSON_swapped_in_only_ever_throw_DecodeException(NonNegativeInt corpus, NonNegativeInt[] positions, NonNegativeInt[] tokens)
    {
        // Structural characters and escapes are more likely than random bytes to get past the parser.
        string[] pieces = ["{", "}", "[", "]", "\"", ":", ",", "null", "-1", "1e400", "\\ud800", "\\u0000", "\"\"", "0.5", "true", "\"z8c=\"", "9223372036854775808"];
        var text = new StringBuilder(Corpus[corpus.Get % Corpus.Length]);
        for (var i = 0; i < positions.Length && i < tokens.Length; i++)
        {
            var at = positions[i].Get % (text.Length + 1);
            text.Insert(at, pieces[tokens[i].Get % pieces.Length]);
        }

        DecodeSafely(Bytes(Encoding.UTF8.GetBytes(text.ToString()), Keys[0]));
    }

    private static void DecodeSafely(Sync.Engine.Sources.SourceMessage message)
    {
        IMessageDecoder[] fresh = [new DebeziumJsonDecoder(NoOptions), new DebeziumJsonDecoder(WithKeyColumns), new JsonRowDecoder(NoOptions), new JsonRowDecoder(WithKeyColumns)];
        foreach (var decoder in fresh.Concat(Warm))
        {
            ChangeEvent change;
            try
            {
                change = decoder.Decode(message);
            }
            catch (DecodeException)
            {
                continue;
            }

            // A decoded change must be usable: its key text and every value's text can be produced.
            _ = change.KeyText;
            foreach (var row in new[] { change.Key, change.Before, change.After })
            {
                if (row is null)
                {
                    continue;
                }

                _ = row.ToJson();
                foreach (var value in row.Values)
                {
                    _ = value.ToText();
                }
            }
        }
    }

    private static IMessageDecoder[] WarmUp()
    {
        IMessageDecoder[] decoders = [new DebeziumJsonDecoder(NoOptions), new JsonRowDecoder(WithKeyColumns)];
        foreach (var decoder in decoders)
        {
            foreach (var json in Corpus)
            {
                try
                {
                    decoder.Decode(Bytes(Encoding.UTF8.GetBytes(json), Keys[0]));
                }
                catch (DecodeException)
                {
                    // Not every corpus message suits every format; the schemas that compile are cached.
                }
            }
        }

        return decoders;
    }
}
