namespace Sync.Compliance.Erasure.Steps;

/// <summary>One topic log per source, opened on first use and kept for the whole erasure.</summary>
public sealed class TopicLogs(SyncComponents components) : IAsyncDisposable
{
    private readonly Dictionary<string, ITopicLog> _open = new(StringComparer.Ordinal);

    public ITopicLog Get(ComponentConfig source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!_open.TryGetValue(source.Name, out var log))
        {
            _open[source.Name] = log = components.Sources[source.Type].OpenLog(source);
        }

        return log;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var log in _open.Values)
        {
            await log.DisposeAsync();
        }

        _open.Clear();
    }
}
