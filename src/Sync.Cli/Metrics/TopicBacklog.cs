using Sync.Engine.Changes;
using Sync.Engine.Topics;

namespace Sync.Cli.Metrics;

/// <summary>Where each materializer's topics end and how far its committed positions are behind,
/// for the backlog gauge: one topic log per source, opened at the first refresh and kept, and one
/// refresh at a time, so that a scrape costs the broker no more than <c>sync status</c> does.</summary>
internal sealed class TopicBacklog(SyncConfig config, SyncComponents components) : IAsyncDisposable
{
    private readonly Dictionary<string, ITopicLog> _logs = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _one = new(1, 1);

    public async ValueTask<IReadOnlyList<TopicEnd>> EndsAsync(string materializer, IReadOnlyDictionary<string, StreamPosition> committed, CancellationToken cancellationToken)
    {
        if (config.Materializers.FirstOrDefault(m => m.Key == materializer).Value is not { } options)
        {
            return [];
        }

        await _one.WaitAsync(cancellationToken);
        try
        {
            if (!_logs.TryGetValue(options.Source, out var log))
            {
                var source = config.Sources[options.Source];
                _logs[options.Source] = log = components.Sources[source.Type].OpenLog(source);
            }

            return await log.EndsAsync(options.TopicFilter(), committed, cancellationToken);
        }
        finally
        {
            _one.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _one.WaitAsync();
        foreach (var log in _logs.Values)
        {
            await log.DisposeAsync();
        }

        _logs.Clear();
        _one.Dispose();
    }
}
