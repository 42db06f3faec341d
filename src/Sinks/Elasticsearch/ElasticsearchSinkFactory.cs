namespace Sync.Sinks.Elasticsearch;

/// <summary>Opens <c>type: elasticsearch</c> sinks; a materializer's <c>target:</c> block binds to <see cref="ElasticsearchTargetOptions"/>.</summary>
public sealed class ElasticsearchSinkFactory() : SinkFactory<ElasticsearchSinkOptions, ElasticsearchPreflightCheck>("elasticsearch", typeof(ElasticsearchTargetOptions))
{
    protected override async ValueTask<ISink> OpenAsync(string name, ElasticsearchSinkOptions options, CancellationToken cancellationToken) =>
        await ElasticsearchSink.OpenAsync(name, options, cancellationToken);
}
