namespace Sync.Chaos;

/// <summary>
/// The never-regress check, Jepsen-style: every sample of a sink taken during the campaign is
/// part of a history, and a key's observed version must never go down from one sample to a later
/// one. (A key may disappear and come back newer: a delete and a re-create.)
/// </summary>
public sealed class VersionHistory
{
    private readonly Dictionary<(string Sink, RowKey Key), long> _highest = [];
    private readonly HashSet<(string Sink, RowKey Key)> _regressed = [];
    private readonly HashSet<string> _rollingBack = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public int Samples { get; private set; }

    /// <summary>Keys whose version went down in some sink, each counted once per sink.</summary>
    public int Regressed => _regressed.Count;

    public IEnumerable<string> Examples => _regressed.Take(5).Select(r => $"{r.Sink} {r.Key}");

    public void Observe(string sink, IReadOnlyDictionary<RowKey, long> rows)
    {
        lock (_lock)
        {
            Samples++;
            if (_rollingBack.Contains(sink))
            {
                return; // a sample taken while the fault puts an older copy back proves nothing
            }

            foreach (var (key, version) in rows)
            {
                if (_highest.TryGetValue((sink, key), out var highest) && version < highest)
                {
                    _regressed.Add((sink, key));
                }
                else
                {
                    _highest[(sink, key)] = version;
                }
            }
        }
    }

    /// <summary>A sink-rollback fault is putting an older copy of the sink back: its samples are
    /// not compared until <see cref="EndRollback"/>.</summary>
    public void BeginRollback(string sink)
    {
        lock (_lock)
        {
            _rollingBack.Add(sink);
        }
    }

    /// <summary>The sink went back in time by the fault's hand: its history starts again from
    /// <paramref name="baseline"/>, a reading that is at or below what the restored copy holds.</summary>
    public void EndRollback(string sink, IReadOnlyDictionary<RowKey, long> baseline)
    {
        lock (_lock)
        {
            foreach (var key in _highest.Keys.Where(k => k.Sink == sink).ToList())
            {
                _highest.Remove(key);
            }

            foreach (var (key, version) in baseline)
            {
                _highest[(sink, key)] = version;
            }

            _rollingBack.Remove(sink);
        }
    }
}

/// <summary>A sink's final state against the model.</summary>
public sealed record SinkComparison(string Sink, int Expected, int Lost, int Duplicated, IReadOnlyList<string> Examples)
{
    public bool Matches => Lost == 0 && Duplicated == 0;

    /// <summary>Lost: a model row missing from the sink or behind it. Duplicated: a row the model does
    /// not have (a resurrected delete) or ahead of it (a change applied that was never confirmed).</summary>
    public static SinkComparison Compare(string sink, IReadOnlyDictionary<RowKey, long> expected, IReadOnlyDictionary<RowKey, long> actual)
    {
        var lost = 0;
        var duplicated = 0;
        var examples = new List<string>();
        foreach (var (key, version) in expected)
        {
            if (!actual.TryGetValue(key, out var found))
            {
                lost++;
                Note(examples, $"{sink}: {key} missing (model version {version})");
            }
            else if (found < version)
            {
                lost++;
                Note(examples, $"{sink}: {key} at version {found}, model {version}");
            }
            else if (found > version)
            {
                duplicated++;
                Note(examples, $"{sink}: {key} at version {found}, ahead of the model's {version}");
            }
        }

        foreach (var (key, version) in actual)
        {
            if (!expected.ContainsKey(key))
            {
                duplicated++;
                Note(examples, $"{sink}: {key} present at version {version}, deleted or never created in the model");
            }
        }

        return new SinkComparison(sink, expected.Count, lost, duplicated, examples);
    }

    private static void Note(List<string> examples, string example)
    {
        if (examples.Count < 5)
        {
            examples.Add(example);
        }
    }
}
