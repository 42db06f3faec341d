using Sync.Sinks.Tests.Elasticsearch;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>The shared suite against the Elasticsearch sink on the Elasticsearch fake.</summary>
public sealed class ElasticsearchConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => await ElasticsearchTestHarness.CreateAsync();
}
