using System.Text;
using BenchmarkDotNet.Attributes;
using Sync.Engine.Changes;
using Sync.Engine.Formats;
using Sync.Engine.Sources;
using Sync.Sources.File;

namespace Sync.Bench.Micro;

/// <summary>One message of the quick start decoded into a <see cref="ChangeEvent"/>: a bare
/// envelope (Pulsar IO) and a schema-wrapped one (Debezium Server), against one Utf8JsonReader
/// pass over the same bytes, the value and the key (the tokenizer limit), and over the value alone.</summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    private SourceMessage _bare = null!;
    private SourceMessage _withSchema = null!;
    private byte[] _bareKey = null!;
    private byte[] _withSchemaKey = null!;
    private IMessageDecoder _decoder = null!;

    [GlobalSetup]
    public void Setup()
    {
        var lines = File.ReadAllLines(Path.Combine(Repository.Root, "examples", "data", "changelog.jsonl"));
        _bare = Parse(lines.First(l => l.Contains("db1.public.customers", StringComparison.Ordinal) && l.Contains("\"op\":\"u\"", StringComparison.Ordinal)));
        _withSchema = Parse(lines.First(l => l.Contains("db2.sales.orders", StringComparison.Ordinal) && l.Contains("\"schema\"", StringComparison.Ordinal)));
        _bareKey = _bare.Key.GetBytes();
        _withSchemaKey = _withSchema.Key.GetBytes();
        _decoder = MessageFormats.Create("debezium-json", new DecoderOptions());
    }

    [Benchmark(Baseline = true)]
    public int Tokenize_bare_envelope() => Tokenize(_bare.Value.Span) + Tokenize(_bareKey);

    [Benchmark]
    public int Tokenize_bare_value_alone() => Tokenize(_bare.Value.Span);

    [Benchmark]
    public ChangeEvent Decode_bare_envelope() => _decoder.Decode(_bare);

    [Benchmark]
    public int Tokenize_with_schema() => Tokenize(_withSchema.Value.Span) + Tokenize(_withSchemaKey);

    [Benchmark]
    public ChangeEvent Decode_with_schema() => _decoder.Decode(_withSchema);

    private static int Tokenize(ReadOnlySpan<byte> json)
    {
        var reader = new System.Text.Json.Utf8JsonReader(json);
        var tokens = 0;
        while (reader.Read())
        {
            tokens++;
        }

        return tokens;
    }

    private static SourceMessage Parse(string line) => ChangelogLineParser.Parse(Encoding.UTF8.GetBytes(line), StreamPosition.ForLine(1), out _);
}
