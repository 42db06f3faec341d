namespace Sync.Engine.Sources;

/// <summary>Reads a changelog file line by line with byte offsets (for in-place compaction).</summary>
public static class ChangelogLines
{
    public static async IAsyncEnumerable<ChangelogLine> ReadAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
        using var lines = new LineBuffer();
        long number = 0;
        while (true)
        {
            var offset = lines.Offset;
            if (lines.TryTakeLine(out var line))
            {
                yield return new ChangelogLine(++number, offset, line);
                continue;
            }

            if (await lines.FillAsync(stream, cancellationToken) == 0)
            {
                if (lines.HasPartialLine)
                {
                    yield return new ChangelogLine(++number, lines.Offset, lines.TakePartialLine());
                }

                yield break;
            }
        }
    }
}
