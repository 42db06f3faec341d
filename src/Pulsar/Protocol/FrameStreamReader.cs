namespace Sync.Pulsar.Protocol;

/// <summary>
/// Reads frames one after another from a stream (a socket), with one pooled buffer that grows
/// only as far as the largest frame allowed. Shared by the client and the fake broker.
/// </summary>
public sealed class FrameStreamReader : IDisposable
{
    private const int InitialBufferSize = 64 * 1024;

    private readonly Stream _stream;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    private int _start;
    private int _end;

    public FrameStreamReader(Stream stream, int maxFrameSize = FrameFormat.DefaultMaxFrameSize)
    {
        _stream = stream;
        MaxFrameSize = maxFrameSize;
    }

    /// <summary>Largest frame accepted; may be changed between reads (after CONNECTED).</summary>
    public int MaxFrameSize { get; set; }

    /// <summary>Where MESSAGE frames' bytes are rented from (see <see cref="PulsarFrame.Entry"/>);
    /// null: a new array per frame.</summary>
    internal ArrayPool<byte>? MessagePool { get; init; }

    /// <summary>The next frame, or null when the peer closed the stream cleanly between frames.</summary>
    /// <exception cref="PulsarProtocolException">Malformed or oversized frame, or the stream ended inside a frame.</exception>
    public async ValueTask<PulsarFrame?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_end > _start)
            {
                var pending = new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
                if (FrameDecoder.TryReadFrame(ref pending, MaxFrameSize, MessagePool, out var frame))
                {
                    _start = _end - (int)pending.Length;
                    if (_start == _end)
                    {
                        _start = _end = 0;
                    }
                    return frame;
                }
            }
            if (_end == _buffer.Length)
            {
                MakeRoom();
            }
            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (read == 0)
            {
                if (_end > _start)
                {
                    throw new PulsarProtocolException($"stream ended inside a frame ({_end - _start} bytes of it received)");
                }
                return null;
            }
            _end += read;
        }
    }

    /// <summary>Moves a partial frame to the front, or grows the buffer when one frame needs more room.</summary>
    private void MakeRoom()
    {
        var length = _end - _start;
        var needed = length >= 4
            ? (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start)) + 4L, MaxFrameSize)
            : 4;
        if (_start > 0 && needed <= _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, length);
        }
        else
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
            Buffer.BlockCopy(_buffer, _start, bigger, 0, length);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        _start = 0;
        _end = length;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
