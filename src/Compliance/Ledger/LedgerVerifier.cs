using Sync.Compliance.Erasure;
using Sync.Compliance.Erasure.Steps;
using Sync.Engine.DeadLetters;

namespace Sync.Compliance.Ledger;

/// <summary>The standing proof that erased subjects stay gone (<c>ledger verify</c>). The ledger holds
/// only keyed hashes, so the sweep goes over the data, not the entries: it loads the (subject, key
/// hash) of every active request, then streams every row of each bound materializer's sink target,
/// every message of the compacted view of its topics and every letter of its dead-letter table,
/// hashes the subject values each names and looks them up. Memory grows with the active requests
/// only; the data is streamed.</summary>
public sealed class LedgerVerifier
{
    private const int LetterPage = 1_000;

    private readonly SyncConfig _config;
    private readonly SyncComponents _components;

    public LedgerVerifier(SyncConfig config, SyncComponents components)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(components);
        _config = config;
        _components = components;
    }

    /// <summary>Sweeps the materializers bound to a subject (only those named, when
    /// <paramref name="materializers"/> is not empty).</summary>
    public async Task<LedgerVerification> VerifyAsync(IReadOnlyCollection<string> materializers, CancellationToken cancellationToken) =>
        (await SweepAsync(materializers, cancellationToken)).Result;

    /// <summary>Verifies; when it finds residue, erases the keys found (one erasure per subject kind,
    /// which reuses the requests already recorded for them) and verifies again.</summary>
    public async Task<LedgerVerification> VerifyAndRepairAsync(IReadOnlyCollection<string> materializers, string requestedBy, CancellationToken cancellationToken)
    {
        var sweep = await SweepAsync(materializers, cancellationToken);
        if (sweep.Result.Clean)
        {
            return sweep.Result;
        }

        var erasure = new ErasureService(_config, _components);
        var repairs = new List<Repair>();
        foreach (var (subject, keys) in sweep.FoundKeys.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var report = await erasure.EraseAsync(new ErasureCommand(subject, [.. keys.Order(StringComparer.Ordinal)], requestedBy, DryRun: false), cancellationToken);
            repairs.Add(new Repair(subject, keys.Count, [.. report.Keys.Select(k => k.RequestId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)], ErasureText.Of(report.Verdict)));
        }

        var after = await SweepAsync(materializers, cancellationToken);
        return sweep.Result with { Repairs = repairs, AfterRepair = after.Result };
    }

    private async Task<Sweep> SweepAsync(IReadOnlyCollection<string> materializers, CancellationToken cancellationToken)
    {
        if (_config.Erasure.Secret is not { } secret)
        {
            throw new ConfigException("erasure.secret is not set");
        }

        var configured = _config.Materializers.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
        foreach (var name in materializers.Where(m => !configured.ContainsKey(m)))
        {
            throw new ConfigException($"--materializer {name} is not configured (known: {string.Join(", ", configured.Keys.Order(StringComparer.Ordinal))})");
        }

        var hasher = new SubjectHasher(secret);
        string location;
        var active = new Dictionary<(string Subject, string KeyHash), string>();
        await using (var ledger = SuppressionLedgers.Open(_config, _components))
        {
            location = ledger.Location;
            await foreach (var request in ledger.ListAsync(cancellationToken))
            {
                if (request.IsActive)
                {
                    active.TryAdd((request.Subject, request.KeyHash), request.RequestId);
                }
            }
        }

        var sweep = new SweepState(hasher, active);
        var subjects = active.Keys.Select(k => k.Subject).ToHashSet(StringComparer.Ordinal);
        var bindings = _config.Subjects.Values
            .Where(s => subjects.Contains(s.Name))
            .SelectMany(s => s.Bindings.Select(b => (Subject: s.Name, Bound: new BoundMaterializer(b, configured[b.Materializer]))))
            .Where(b => materializers.Count == 0 || materializers.Contains(b.Bound.Materializer))
            .ToList();

        await using (var logs = new TopicLogs(_components))
        {
            foreach (var sourceBindings in bindings.GroupBy(b => b.Bound.Options.Source, StringComparer.Ordinal))
            {
                await SweepTopicsAsync(logs.Get(_config.Sources[sourceBindings.Key]), [.. sourceBindings], sweep, cancellationToken);
            }
        }

        foreach (var sinkBindings in bindings.GroupBy(b => b.Bound.Sink, StringComparer.Ordinal))
        {
            var sinkConfig = _config.Sinks[sinkBindings.Key];
            await using var sink = await _components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
            foreach (var (subject, bound) in sinkBindings)
            {
                await SweepSinkAsync(sink, subject, bound, sweep, cancellationToken);
                await SweepDeadLettersAsync(sink, subject, bound, sweep, cancellationToken);
            }
        }

        return new Sweep(
            new LedgerVerification(location, active.Count, sweep.Swept, sweep.ResidueByRequest(), sweep.NotSwept),
            sweep.FoundKeys);
    }

    /// <summary>One compacted read per source, whatever the number of materializers on it: each message
    /// is matched against the bindings whose topics include it.</summary>
    private async Task SweepTopicsAsync(ITopicLog log, List<(string Subject, BoundMaterializer Bound)> bindings, SweepState sweep, CancellationToken cancellationToken)
    {
        var readers = bindings.Select(b => (b.Subject, Reader: BindingReader.For(b.Bound, _config, _components))).ToList();
        var counts = new Dictionary<(string Materializer, string Topic), long>();
        await foreach (var message in log.ReadCompactedAsync(topic => readers.Any(r => r.Reader.Reads(topic)), cancellationToken))
        {
            foreach (var (subject, reader) in readers.Where(r => r.Reader.Reads(message.Topic)))
            {
                var place = (reader.Binding.Materializer, message.Topic);
                counts[place] = counts.GetValueOrDefault(place) + 1;
                if (!message.IsTombstone && reader.ChangeOf(message) is { } change)
                {
                    sweep.Check(subject, SubjectValues.Of(change, reader.Binding).Distinct(StringComparer.Ordinal), reader.Binding.Materializer, PlaceKind.Topic, $"topic {message.Topic}");
                }
            }
        }

        foreach (var ((materializer, topic), items) in counts.OrderBy(c => c.Key.Materializer, StringComparer.Ordinal).ThenBy(c => c.Key.Topic, StringComparer.Ordinal))
        {
            sweep.Swept.Add(new SweptPlace(materializer, PlaceKind.Topic, $"topic {topic}", items));
        }
    }

    private static async Task SweepSinkAsync(ISink sink, string subject, BoundMaterializer bound, SweepState sweep, CancellationToken cancellationToken)
    {
        var where = $"sink {bound.Sink}, table {bound.Options.Table}";
        if (sink.ScanColumn(bound.Target, bound.Binding.Key ?? bound.Binding.Field!, cancellationToken) is not { } values)
        {
            sweep.NotSwept.Add($"{bound.Materializer}: {where}: the sink cannot list its rows");
            return;
        }

        long rows = 0;
        await foreach (var value in values)
        {
            rows++;
            sweep.Check(subject, [value], bound.Materializer, PlaceKind.Sink, where);
        }

        sweep.Swept.Add(new SweptPlace(bound.Materializer, PlaceKind.Sink, where, rows));
    }

    private async Task SweepDeadLettersAsync(ISink sink, string subject, BoundMaterializer bound, SweepState sweep, CancellationToken cancellationToken)
    {
        if (_config.DeadLetterKindOf(bound.Options) != DeadLetterKind.Table || sink is not IDeadLetterStore store)
        {
            return;
        }

        var reader = BindingReader.For(bound, _config, _components);
        var where = $"dead letters: {store.DeadLetterTable}";
        var last = await store.LastDeadLetterIdAsync(bound.Materializer, cancellationToken);
        long letters = 0, after = 0;
        while (await store.ReadDeadLettersAsync(bound.Materializer, after, last, LetterPage, cancellationToken) is { Count: > 0 } page)
        {
            foreach (var (id, letter) in page)
            {
                after = id;
                letters++;
                if (DeadLetterTableReader.ToRecord(store.DeadLetterTable, id, letter).Message is { } message && reader.ChangeOf(message) is { } change)
                {
                    sweep.Check(subject, SubjectValues.Of(change, bound.Binding).Distinct(StringComparer.Ordinal), bound.Materializer, PlaceKind.DeadLetters, where);
                }
            }
        }

        sweep.Swept.Add(new SweptPlace(bound.Materializer, PlaceKind.DeadLetters, where, letters));
    }

    private sealed record Sweep(LedgerVerification Result, IReadOnlyDictionary<string, HashSet<string>> FoundKeys);

    /// <summary>The active requests, and what the sweep found so far: counts per request and place,
    /// and the keys found per subject kind (kept in memory only, for <c>--repair</c>; never reported).</summary>
    private sealed class SweepState(SubjectHasher hasher, Dictionary<(string Subject, string KeyHash), string> active)
    {
        private readonly Dictionary<(string RequestId, string Subject), Dictionary<(string Materializer, PlaceKind Kind, string Where), long>> _residue = [];

        public List<SweptPlace> Swept { get; } = [];

        public List<string> NotSwept { get; } = [];

        public Dictionary<string, HashSet<string>> FoundKeys { get; } = new(StringComparer.Ordinal);

        public void Check(string subject, IEnumerable<string> values, string materializer, PlaceKind kind, string where)
        {
            foreach (var value in values)
            {
                if (!active.TryGetValue((subject, hasher.Hash(subject, value)), out var requestId))
                {
                    continue;
                }

                var places = _residue.TryGetValue((requestId, subject), out var found) ? found : _residue[(requestId, subject)] = [];
                places[(materializer, kind, where)] = places.GetValueOrDefault((materializer, kind, where)) + 1;
                (FoundKeys.TryGetValue(subject, out var keys) ? keys : FoundKeys[subject] = new(StringComparer.Ordinal)).Add(value);
            }
        }

        public List<RequestResidue> ResidueByRequest() =>
        [
            .. _residue
                .OrderBy(r => r.Key.Subject, StringComparer.Ordinal).ThenBy(r => r.Key.RequestId, StringComparer.Ordinal)
                .Select(r => new RequestResidue(r.Key.RequestId, r.Key.Subject, [
                    .. r.Value
                        .OrderBy(p => p.Key.Materializer, StringComparer.Ordinal).ThenBy(p => p.Key.Kind).ThenBy(p => p.Key.Where, StringComparer.Ordinal)
                        .Select(p => new ResiduePlace(p.Key.Materializer, p.Key.Kind, p.Key.Where, p.Value)),
                ])),
        ];
    }
}
