using System.Buffers;

namespace Sync.Engine.Sources.File;

/// <summary>One line of a changelog file: its number (1-based), where its bytes start, and the
/// bytes without the line break.</summary>
public readonly record struct ChangelogLine(long Number, long Offset, ReadOnlyMemory<byte> Bytes);

/// <summary>Reads a changelog file line by line with byte offsets (for in-place compaction).</summary>
public static class ChangelogLines
{
    public static async IAsyncEnumerable<ChangelogLine> ReadAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int start = 0, end = 0;
            long number = 0, offset = 0;
            while (true)
            {
                var newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    var length = newline > 0 && buffer[start + newline - 1] == '\r' ? newline - 1 : newline;
                    yield return new ChangelogLine(++number, offset, buffer.AsSpan(start, length).ToArray());
                    offset += newline + 1;
                    start += newline + 1;
                    continue;
                }

                if (start > 0)
                {
                    Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                    end -= start;
                    start = 0;
                }

                if (end == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    Buffer.BlockCopy(buffer, 0, bigger, 0, end);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var read = await stream.ReadAsync(buffer.AsMemory(end), cancellationToken);
                if (read == 0)
                {
                    if (end > 0)
                    {
                        yield return new ChangelogLine(++number, offset, buffer.AsSpan(0, end).ToArray());
                    }

                    yield break;
                }

                end += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
