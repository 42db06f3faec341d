using Sync.Sinks.Elasticsearch;
using Sync.Sinks.Postgres;
using Sync.Sinks.Redis;
using Sync.Sinks.Sqlite;

namespace Sync.Sinks;

/// <summary>Every sink type this build knows, by its config <c>type</c>.</summary>
public static class SinkCatalog
{
    public static IReadOnlyList<ISinkFactory> All { get; } = [new SqliteSinkFactory(), new PostgresSinkFactory(), new RedisSinkFactory(), new ElasticsearchSinkFactory()];
}
