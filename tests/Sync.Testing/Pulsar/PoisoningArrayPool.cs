using System.Buffers;

namespace Sync.Testing.Pulsar;

/// <summary>An <see cref="ArrayPool{T}"/> for checking who gives buffers back when: every array
/// returned is overwritten with <see cref="Poison"/> at once and handed out again first, so a
/// reader that still looks at a buffer after it went back sees the poison, or the next entry's
/// bytes, instead of its own.</summary>
public sealed class PoisoningArrayPool : ArrayPool<byte>
{
    public const byte Poison = 0xEE;

    private readonly Lock _lock = new();
    private readonly Stack<byte[]> _free = new();
    private readonly List<byte[]> _returned = [];
    private int _rented;

    /// <summary>How many arrays were rented.</summary>
    public int Rented
    {
        get
        {
            lock (_lock)
            {
                return _rented;
            }
        }
    }

    /// <summary>Every array given back, in order (an array given back twice is listed twice).</summary>
    public IReadOnlyList<byte[]> Returned
    {
        get
        {
            lock (_lock)
            {
                return [.. _returned];
            }
        }
    }

    public override byte[] Rent(int minimumLength)
    {
        lock (_lock)
        {
            _rented++;
            if (_free.TryPeek(out var free) && free.Length >= minimumLength)
            {
                return _free.Pop();
            }
        }

        return new byte[minimumLength];
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        Array.Fill(array, Poison);
        lock (_lock)
        {
            _returned.Add(array);
            _free.Push(array);
        }
    }
}
