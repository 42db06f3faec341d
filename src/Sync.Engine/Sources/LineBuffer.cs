using System.Buffers;

namespace Sync.Engine.Sources;

/// <summary>Splits a stream into lines of bytes: fills a pooled buffer from the stream, hands out
/// each complete line (without its line break) as an array of its own, and keeps a trailing
/// partial line until more bytes arrive. Tracks each line's byte offset in the stream.</summary>
public sealed class LineBuffer : IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _start;
    private int _end;

    /// <summary>Offset in the stream of the next line to be taken.</summary>
    public long Offset { get; private set; }

    /// <summary>Bytes held after the last complete line (a line still being written).</summary>
    public bool HasPartialLine => _end > _start;

    /// <summary>The next complete line, if the buffer holds one.</summary>
    public bool TryTakeLine(out ReadOnlyMemory<byte> line)
    {
        var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
        if (newline < 0)
        {
            line = default;
            return false;
        }

        var length = newline > 0 && _buffer[_start + newline - 1] == '\r' ? newline - 1 : newline;
        line = _buffer.AsSpan(_start, length).ToArray();
        _start += newline + 1;
        Offset += newline + 1;
        return true;
    }

    /// <summary>The trailing partial line, taken as a line (at the end of a file that does not end with a line break).</summary>
    public ReadOnlyMemory<byte> TakePartialLine()
    {
        var line = _buffer.AsSpan(_start, _end - _start).ToArray();
        Offset += _end - _start;
        _start = _end;
        return line;
    }

    /// <summary>Reads more bytes from the stream; 0 at its current end.</summary>
    public async ValueTask<int> FillAsync(Stream stream, CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            Buffer.BlockCopy(_buffer, 0, bigger, 0, _end);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }

        var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        _end += read;
        return read;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
