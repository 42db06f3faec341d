using Sync.Engine.Verify;

namespace Sync.Engine.Tests.Verify;

public sealed class PartitionedMergeTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("verify-merge-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static VerifyEntry Entry(long id, long lsn) =>
        VerifyEntry.Of(new Row(["id"], [FieldValue.FromInt64(id)]), EntryState.Row, new ChangeVersion(lsn, "t", StreamPosition.ForLine(lsn)), new Row(["id"], [FieldValue.FromInt64(id)]));

    [Fact]
    public void Every_key_meets_its_counterpart_once_and_no_partition_held_in_memory_exceeds_the_limit()
    {
        const int Keys = 20_000;
        using var merge = new PartitionedMerge(_directory, partitionLimit: 100);
        for (var id = 0; id < Keys; id++)
        {
            merge.AddLog(Entry(id, 1));
            merge.AddLog(Entry(id, 2)); // a later change of the key replaces the first, as the runtime collapses
            if (id % 10 != 0)
            {
                merge.AddSink(Entry(id, 2));
            }
        }

        for (var id = Keys; id < Keys + 7; id++)
        {
            merge.AddSink(Entry(id, 1));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var (both, logOnly, sinkOnly) = (0, 0, 0);
        merge.Merge((log, stored) =>
        {
            Assert.True(seen.Add((log ?? stored)!.Canonical));
            Assert.True(log is null || log.Version!.Value.Lsn == 2);
            _ = log is not null && stored is not null ? both++ : log is not null ? logOnly++ : sinkOnly++;
        });

        Assert.Equal((Keys * 9 / 10, Keys / 10, 7), (both, logOnly, sinkOnly));
        Assert.InRange(merge.LargestPartition, 1, 100);
        Assert.Single(Directory.GetFileSystemEntries(_directory));
    }
}
