using Sync.Sinks.Tests.Elasticsearch;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>The shared suite against the Elasticsearch sink on the Elasticsearch fake.</summary>
public sealed class ElasticsearchConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => await ElasticsearchTestHarness.CreateAsync();

    /// <summary>Elasticsearch holds no key columns: only a batch erase told that the column is the
    /// subject's key (<see cref="Sync.Engine.Sinks.SubjectMatches.IsKey"/>) marks absent documents.</summary>
    protected override bool SingleEraseMarksAbsentKeys => false;

    /// <summary>The sink maps an integer column as <c>long</c>.</summary>
    protected override string? CannotMatchNumberReason => "cannot match (long)";
}
