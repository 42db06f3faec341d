using Sync.Sinks.Tests.Conformance;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>An Elasticsearch sink on its own fake cluster, with retries that do not wait.</summary>
public sealed class ElasticsearchTestHarness : ISinkHarness
{
    private readonly ElasticsearchSinkOptions _options;

    private ElasticsearchTestHarness(FakeElasticsearch fake, ElasticsearchSinkOptions options, ElasticsearchSink sink)
    {
        Fake = fake;
        _options = options;
        Sink = sink;
    }

    public FakeElasticsearch Fake { get; }

    public ISink Sink { get; private set; }

    public ElasticsearchSink ElasticsearchSink => (ElasticsearchSink)Sink;

    public static async Task<ElasticsearchTestHarness> CreateAsync(Func<ElasticsearchSinkOptions, ElasticsearchSinkOptions>? configure = null, FakeElasticsearchOptions? fakeOptions = null)
    {
        var fake = FakeElasticsearch.Start(fakeOptions ?? new FakeElasticsearchOptions { Trace = Environment.GetEnvironmentVariable("ES_FAKE_TRACE") is null ? null : Console.Error.WriteLine });
        var options = DefaultOptions(fake);
        options = configure?.Invoke(options) ?? options;
        try
        {
            return new ElasticsearchTestHarness(fake, options, await ElasticsearchSink.OpenAsync("es", options, CancellationToken.None));
        }
        catch
        {
            await fake.DisposeAsync();
            throw;
        }
    }

    /// <summary>A second sink on the same cluster, with the default options: another writer.</summary>
    public async Task<ElasticsearchSink> OpenAnotherSinkAsync(string name) =>
        await ElasticsearchSink.OpenAsync(name, DefaultOptions(Fake), CancellationToken.None);

    /// <summary>The sink indexes and deletes with <c>version_type=external</c>: Elasticsearch applies such a
    /// write only when its version is higher than the stored one (else a version conflict, which the sink
    /// counts as stale), and a delete keeps its version as a tombstone for <c>index.gc_deletes</c>
    /// (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-index_.html#index-versioning,
    /// docs-delete.html#delete-versioning). The check and the write are one step per document, made under
    /// the shard's per-id lock, so two writers cannot interleave inside it. The fake
    /// (tests/Sync.Testing/Elasticsearch, FakeElasticsearch.Documents.cs) models the comparison (external
    /// versions strictly greater, tombstones keeping their version) and runs each request under one lock,
    /// a whole <c>_bulk</c> at a time: coarser than the real per-document step, the same for what the
    /// conformance suite's concurrent writers rely on, that no other write lands between a document's
    /// version check and its write.</summary>
    async Task<ISink> ISinkHarness.OpenAnotherAsync() => await OpenAnotherSinkAsync("es2");

    private static ElasticsearchSinkOptions DefaultOptions(FakeElasticsearch fake) => new()
    {
        Urls = [fake.Url.ToString()],
        Retry = new RetryPolicy { InitialDelay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, MaxAttempts = 8 },

        // The tests of the idle probe turn it on, on a clock of their own; elsewhere its requests would
        // only interleave with the ones a test counts.
        IdleProbeInterval = TimeSpan.Zero,
    };

    public TargetSpec Target(string table) => new(table) { Options = new ElasticsearchTargetOptions() };

    public async Task RestartAsync()
    {
        await Sink.DisposeAsync();
        Sink = await ElasticsearchSink.OpenAsync("es", _options, CancellationToken.None);
    }

    /// <summary>Every live document of the target's index as canonical <c>col=value</c> text: the fields
    /// of the index (its mapped properties and every key of every <c>_source</c>), missing ones as null.</summary>
    public Task<IReadOnlyList<string>> ReadAsync(TargetSpec target) => Task.FromResult(Read(target.Table));

    public IReadOnlyList<string> Read(string index)
    {
        var documents = Fake.Documents(index);
        var fields = new SortedSet<string>(StringComparer.Ordinal);
        if (Fake.Mapping(index)?["properties"] is System.Text.Json.Nodes.JsonObject properties)
        {
            fields.UnionWith(properties.Select(p => p.Key));
        }

        var parsed = documents.Values.Select(source => JsonDocument.Parse(source)).ToList();
        try
        {
            foreach (var document in parsed)
            {
                fields.UnionWith(document.RootElement.EnumerateObject().Select(p => p.Name));
            }

            var rows = parsed.Select(document => string.Join('|', fields.Select(f =>
                    f + "=" + (document.RootElement.TryGetProperty(f, out var value) ? Canonical(value) : "null"))))
                .Order(StringComparer.Ordinal)
                .ToList();
            return rows;
        }
        finally
        {
            foreach (var document in parsed)
            {
                document.Dispose();
            }
        }
    }

    /// <summary>Strings as their text, numbers exactly as written, JSON values as their raw text.</summary>
    public static string Canonical(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText(),
    };

    public async ValueTask DisposeAsync()
    {
        await Sink.DisposeAsync();
        await Fake.DisposeAsync();
    }
}
