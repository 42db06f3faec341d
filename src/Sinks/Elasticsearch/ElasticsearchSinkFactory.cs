namespace Sync.Sinks.Elasticsearch;

/// <summary>Opens <c>type: elasticsearch</c> sinks; a materializer's <c>target:</c> block binds to <see cref="ElasticsearchTargetOptions"/>.</summary>
public sealed class ElasticsearchSinkFactory : ISinkFactory, Sync.Engine.Checks.IPreflightCheck
{
    public ValueTask<IReadOnlyList<Sync.Engine.Checks.CheckFinding>> CheckAsync(Sync.Engine.Checks.CheckScope scope, CancellationToken cancellationToken) =>
        new ElasticsearchPreflightCheck().CheckAsync(scope, cancellationToken);

    public string Type => "elasticsearch";

    public Type OptionsType => typeof(ElasticsearchSinkOptions);

    public Type? TargetOptionsType => typeof(ElasticsearchTargetOptions);

    public async ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return await ElasticsearchSink.OpenAsync(sink.Name, (ElasticsearchSinkOptions)sink.Options, cancellationToken);
    }
}
