namespace Sync.Engine.Verify;

/// <summary>
/// Brings the two sides of a verification together in bounded memory, whatever the number of keys. Each
/// side is written once to spill files, split by key hash; then each partition's two files are read
/// into memory and every key is classified. A partition with more entries than
/// <see cref="PartitionLimit"/> is split again by the next bits of the hash, so memory holds at most a
/// partition's worth of keys (an external hash join: no side has to arrive sorted, so a sink needs no
/// ordered scan, and the log's keys need no sort of the whole key set).
/// </summary>
internal sealed class PartitionedMerge : IDisposable
{
    /// <summary>Bits of the hash that pick a partition at each level: 64 partitions.</summary>
    private const int FanBits = 6;

    private const int BufferSize = 16 * 1024;

    private readonly string _directory;
    private readonly Partitions _log;
    private readonly Partitions _sink;

    public PartitionedMerge(string spillDirectory, int partitionLimit)
    {
        _directory = Path.Combine(spillDirectory, "sync-verify-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        PartitionLimit = partitionLimit;
        _log = new Partitions(Path.Combine(_directory, "log"), 0);
        _sink = new Partitions(Path.Combine(_directory, "sink"), 0);
    }

    /// <summary>The most entries (both sides) a partition is merged in memory with.</summary>
    public int PartitionLimit { get; }

    /// <summary>The largest partition merged in memory (entries of both sides), for the report and benchmarks.</summary>
    public long LargestPartition { get; private set; }

    public void AddLog(VerifyEntry entry) => _log.Add(entry);

    public void AddSink(VerifyEntry entry) => _sink.Add(entry);

    /// <summary>Calls <paramref name="classify"/> once per key, with the log's entry (the newest change
    /// when the log holds several, as the runtime's collapse keeps it) and the sink's, either null.</summary>
    public void Merge(Action<VerifyEntry?, VerifyEntry?> classify)
    {
        _log.Close();
        _sink.Close();
        for (var p = 0; p < 1 << FanBits; p++)
        {
            MergePartition(_log.PathOf(p), _log.Counts[p], _sink.PathOf(p), _sink.Counts[p], 1, classify);
        }
    }

    public void Dispose()
    {
        _log.Close();
        _sink.Close();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A spill directory left behind holds nothing the next run needs.
        }
    }

    private void MergePartition(string logPath, long logCount, string sinkPath, long sinkCount, int level, Action<VerifyEntry?, VerifyEntry?> classify)
    {
        if (logCount + sinkCount > PartitionLimit && (level + 1) * FanBits <= 64)
        {
            var logParts = Split(logPath, logCount, level);
            var sinkParts = Split(sinkPath, sinkCount, level);
            for (var p = 0; p < 1 << FanBits; p++)
            {
                MergePartition(logParts.PathOf(p), logParts.Counts[p], sinkParts.PathOf(p), sinkParts.Counts[p], level + 1, classify);
            }

            return;
        }

        LargestPartition = Math.Max(LargestPartition, logCount + sinkCount);
        var logEntries = new Dictionary<string, VerifyEntry>(checked((int)logCount), StringComparer.Ordinal);
        foreach (var entry in ReadAll(logPath, logCount))
        {
            if (!logEntries.TryGetValue(entry.Canonical, out var held) || Replaces(entry, held))
            {
                logEntries[entry.Canonical] = entry;
            }
        }

        var sinkEntries = new Dictionary<string, VerifyEntry>(checked((int)sinkCount), StringComparer.Ordinal);
        foreach (var entry in ReadAll(sinkPath, sinkCount))
        {
            // A key with both a row and a marker (a row written by hand over a marker) is judged by its row.
            if (!sinkEntries.TryGetValue(entry.Canonical, out var held) || held.State != EntryState.Row)
            {
                sinkEntries[entry.Canonical] = entry;
            }
        }

        File.Delete(logPath);
        File.Delete(sinkPath);
        foreach (var (key, log) in logEntries)
        {
            classify(log, sinkEntries.Remove(key, out var stored) ? stored : null);
        }

        foreach (var stored in sinkEntries.Values)
        {
            classify(null, stored);
        }
    }

    /// <summary>As the runtime collapses: a later change replaces an earlier one unless it is older by version.</summary>
    private static bool Replaces(VerifyEntry later, VerifyEntry earlier) =>
        later.Version is not { } version || earlier.Version is not { } held || version.Supersedes(held);

    private Partitions Split(string path, long count, int level)
    {
        var parts = new Partitions(path + "." + level.ToString(CultureInfo.InvariantCulture), level);
        foreach (var entry in ReadAll(path, count))
        {
            parts.Add(entry);
        }

        parts.Close();
        File.Delete(path);
        return parts;
    }

    /// <summary>The <paramref name="count"/> entries of a spill file (counted as they were written: asking
    /// the stream for its length at each entry costs a system call per entry).</summary>
    private static IEnumerable<VerifyEntry> ReadAll(string path, long count)
    {
        if (count == 0)
        {
            yield break;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, BufferSize);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        for (var i = 0L; i < count; i++)
        {
            yield return VerifyEntry.Read(reader);
        }
    }

    /// <summary>One side's entries split by <see cref="FanBits"/> bits of the hash at a level.</summary>
    private sealed class Partitions(string prefix, int level)
    {
        private readonly BinaryWriter?[] _writers = new BinaryWriter?[1 << FanBits];

        public long[] Counts { get; } = new long[1 << FanBits];

        public string PathOf(int partition) => prefix + "-" + partition.ToString("x2", CultureInfo.InvariantCulture);

        public void Add(VerifyEntry entry)
        {
            var partition = (int)((entry.Hash << (level * FanBits)) >> (64 - FanBits));
            var writer = _writers[partition] ??= new BinaryWriter(
                new FileStream(PathOf(partition), FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize), Encoding.UTF8);
            entry.Write(writer);
            Counts[partition]++;
        }

        public void Close()
        {
            for (var i = 0; i < _writers.Length; i++)
            {
                _writers[i]?.Dispose();
                _writers[i] = null;
            }
        }
    }
}
