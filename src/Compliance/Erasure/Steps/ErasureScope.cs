namespace Sync.Compliance.Erasure.Steps;

/// <summary>What every step of one erasure shares: the request, its distinct keys and their hashes,
/// the subject's materializers, and the sinks and topic logs, each opened once for the whole erasure
/// (a topic log keeps its connection, producers and counts).</summary>
public sealed class ErasureScope : IAsyncDisposable
{
    private readonly Dictionary<string, ISink> _sinks = new(StringComparer.Ordinal);
    private ISuppressionLedger? _ledger;

    public ErasureScope(SyncConfig config, SyncComponents components, ErasureCommand command, SubjectConfig subject, SubjectHasher hasher)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(hasher);
        Config = config;
        Components = components;
        Command = command;
        Subject = subject;
        Keys = [.. command.Keys.Distinct(StringComparer.Ordinal)];
        KeySet = Keys.ToHashSet(StringComparer.Ordinal);
        Hashes = Keys.ToDictionary(k => k, k => hasher.Hash(subject.Name, k), StringComparer.Ordinal);
        Bindings = [.. subject.Bindings.Select(b => new BoundMaterializer(b, config.Materializers.First(m => m.Key == b.Materializer).Value))];
        Logs = new TopicLogs(components);
    }

    public SyncConfig Config { get; }

    public SyncComponents Components { get; }

    public ErasureCommand Command { get; }

    public bool DryRun => Command.DryRun;

    public SubjectConfig Subject { get; }

    /// <summary>The requested keys, each once, in the order given.</summary>
    public IReadOnlyList<string> Keys { get; }

    public HashSet<string> KeySet { get; }

    /// <summary>Each key's keyed hash: the only form of a key a report or the ledger holds.</summary>
    public IReadOnlyDictionary<string, string> Hashes { get; }

    public IReadOnlyList<BoundMaterializer> Bindings { get; }

    public TopicLogs Logs { get; }

    /// <summary>The suppression ledger, opened when a step first needs it (a dry run never does).</summary>
    public ISuppressionLedger Ledger => _ledger ??= SuppressionLedgers.Open(Config, Components);

    /// <summary>Opens every sink the subject's materializers write, once each.</summary>
    public async Task OpenSinksAsync(CancellationToken cancellationToken)
    {
        foreach (var sinkName in Bindings.Select(b => b.Sink).Distinct().Where(s => !_sinks.ContainsKey(s)))
        {
            var sinkConfig = Config.Sinks[sinkName];
            _sinks[sinkName] = await Components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
        }
    }

    public ISink SinkOf(BoundMaterializer bound)
    {
        ArgumentNullException.ThrowIfNull(bound);
        return _sinks[bound.Sink];
    }

    public BindingReader Reader(BoundMaterializer bound) => BindingReader.For(bound, Config, Components);

    /// <summary>Runs <paramref name="work"/> for every binding: the bindings of one sink in turn (a
    /// sink holds one connection), different sinks side by side. Results by materializer.</summary>
    public async Task<Dictionary<string, long>> PerSinkAsync(Func<BoundMaterializer, Task<long>> work)
    {
        var perSink = await Task.WhenAll(Bindings.GroupBy(b => b.Sink, StringComparer.Ordinal).Select(async group =>
        {
            var results = new List<(string Materializer, long Count)>();
            foreach (var bound in group)
            {
                results.Add((bound.Materializer, await work(bound)));
            }

            return results;
        }));
        return perSink.SelectMany(r => r).ToDictionary(r => r.Materializer, r => r.Count, StringComparer.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var sink in _sinks.Values)
        {
            await sink.DisposeAsync();
        }

        _sinks.Clear();
        await Logs.DisposeAsync();
        if (_ledger is not null)
        {
            await _ledger.DisposeAsync();
        }
    }
}
