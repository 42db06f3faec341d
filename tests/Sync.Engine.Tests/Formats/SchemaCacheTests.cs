using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

public class SchemaCacheTests
{
    [Fact]
    public void A_repeated_schema_is_compiled_once_and_its_row_schema_reused()
    {
        var decoder = new DebeziumJsonDecoder(NoOptions);

        var first = decoder.Decode(Value(Wrapped(UserFields, "c", null, """{"id":1,"name":"Ann"}"""), PlainKey("""{"id":1}""")));
        var second = decoder.Decode(Value(Wrapped(UserFields, "u", """{"id":2}""", """{"id":2,"name":"Bo"}"""), PlainKey("""{"id":2}""")));

        Assert.Same(first.After!.Schema, second.After!.Schema);
        Assert.Same(first.After.Schema, second.Before!.Schema);
        Assert.Equal(1, decoder.SchemasCompiled);
    }

    [Fact]
    public void A_different_schema_is_compiled_separately()
    {
        var decoder = new DebeziumJsonDecoder(NoOptions);

        var first = decoder.Decode(Value(Wrapped(UserFields, "c", null, """{"id":1}"""), PlainKey("""{"id":1}""")));
        var second = decoder.Decode(Value(Wrapped("""{"type":"int64","optional":false,"field":"id"}""", "c", null, """{"id":1}"""), PlainKey("""{"id":1}""")));

        Assert.NotSame(first.After!.Schema, second.After!.Schema);
        Assert.Equal(2, decoder.SchemasCompiled);
    }

    [Fact]
    public void The_cache_keeps_at_most_its_capacity_and_drops_the_least_recently_used()
    {
        var cache = new SchemaCache<string>(capacity: 2);
        var compiled = 0;
        string Get(string raw) => cache.GetOrAdd(System.Text.Encoding.UTF8.GetBytes(raw), raw, r => { compiled++; return r; });

        Get("a");
        Get("b");
        Get("a");
        Get("c"); // drops b, the least recently used
        Get("a");

        Assert.Equal(3, compiled);
        Assert.Equal(2, cache.Count);
        Get("b");
        Assert.Equal(4, compiled);
    }

    [Fact]
    public void A_schema_that_fails_to_compile_is_not_cached()
    {
        var cache = new SchemaCache<string>();

        Assert.Throws<DecodeException>(() => cache.GetOrAdd("x"u8, 0, _ => throw new DecodeException("bad")));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_cached_schema_is_recognised_in_any_layout_of_the_wrapper()
    {
        var decoder = new DebeziumJsonDecoder(NoOptions);
        var schema = EnvelopeSchema(UserFields);
        var payload = Bare("c", null, """{"id":1,"name":"Ann","price":"z8c="}""");
        string[] layouts =
        [
            $$"""{"schema":{{schema}},"payload":{{payload}}}""",
            "{ \"schema\" : " + schema + " ,\n  \"payload\" : " + payload + " }\n",
            $$"""{"payload":{{payload}},"schema":{{schema}}}""",
            $$"""{"schema":{{schema}},"payload":{{payload}},"extra":1}""",
        ];

        var rows = layouts.Select(json => decoder.Decode(Value(json, PlainKey("""{"id":1}"""))).After!).ToList();

        Assert.All(rows, row => Assert.Equal("""{"id":1,"name":"Ann","price":-123.45,"born":null}""", row.ToJson()));
        Assert.All(rows, row => Assert.Same(rows[0].Schema, row.Schema));
        Assert.Equal(1, decoder.SchemasCompiled);
    }

    [Fact]
    public void A_malformed_payload_after_a_cached_schema_reports_the_offset_in_the_whole_message()
    {
        var decoder = new DebeziumJsonDecoder(NoOptions);
        decoder.Decode(Value(Wrapped(UserFields, "c", null, """{"id":1}"""), PlainKey("""{"id":1}""")));
        var json = Wrapped(UserFields, "c", null, """{"id":x}""");

        var error = Assert.Throws<DecodeException>(() => decoder.Decode(Value(json, PlainKey("""{"id":1}"""))));

        Assert.Equal($"value: malformed JSON at byte offset {json.IndexOf("x}", StringComparison.Ordinal)}", error.Message);
    }

    [Fact]
    public void A_plain_json_row_schema_is_compiled_once()
    {
        var decoder = new JsonRowDecoder(NoOptions);
        var schema = """{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"string","optional":true,"name":"io.debezium.data.Uuid","field":"ref"}],"optional":false}""";

        var first = decoder.Decode(Value($$$"""{"schema":{{{schema}}},"payload":{"id":1,"ref":"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}}""", PlainKey("1")));
        var second = decoder.Decode(Value($$$"""{"schema":{{{schema}}},"payload":{"id":2,"ref":null}}""", PlainKey("2")));

        Assert.Same(first.After!.Schema, second.After!.Schema);
        Assert.Equal("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", first.After["ref"].ToText());
        Assert.Equal(1, decoder.SchemasCompiled);
    }
}
