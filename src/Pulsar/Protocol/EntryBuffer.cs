namespace Sync.Pulsar.Protocol;

/// <summary>
/// The bytes of one MESSAGE frame in an array rented from a pool, shared by the frame while it is
/// dispatched and by every message delivered from it. The array goes back to the pool when the
/// last of them lets go, and never before: a message whose array was reused would read another
/// entry's bytes. Whoever holds the buffer may hand a hold on to another (<see cref="Hold"/>);
/// each hold is let go once (<see cref="Release"/>).
/// </summary>
internal sealed class EntryBuffer
{
    private readonly ArrayPool<byte> _pool;
    private byte[]? _array;
    private int _holders = 1;

    /// <summary>Rents room for <paramref name="length"/> bytes; the caller holds the buffer.</summary>
    public EntryBuffer(ArrayPool<byte> pool, int length)
    {
        _pool = pool;
        _array = pool.Rent(length);
    }

    public byte[] Array => _array ?? throw new InvalidOperationException("the entry buffer went back to its pool");

    /// <summary>Adds a holder; only someone who holds the buffer may call it, so it cannot come back from the pool.</summary>
    public void Hold()
    {
        if (Interlocked.Increment(ref _holders) <= 1)
        {
            throw new InvalidOperationException("an entry buffer was held after it went back to its pool");
        }
    }

    /// <summary>Lets go of one hold; the last one returns the array to the pool.</summary>
    public void Release()
    {
        var left = Interlocked.Decrement(ref _holders);
        if (left > 0)
        {
            return;
        }

        if (left < 0)
        {
            throw new InvalidOperationException("an entry buffer was released more often than it was held");
        }

        _pool.Return(Interlocked.Exchange(ref _array, null)!);
    }
}
