namespace Sync.Engine.Formats;

/// <summary>Compiled schemas by their raw JSON bytes. Every Debezium message repeats its schema, so
/// each distinct schema is parsed once: a lookup hashes the bytes and compares them with the stored
/// copy. Bounded: beyond <see cref="Capacity"/> the least recently used schema is dropped.
/// Not thread-safe; a decoder is used from one thread at a time.</summary>
internal sealed class SchemaCache<T>
    where T : class
{
    public const int DefaultCapacity = 256;

    private readonly Dictionary<(int Hash, int Length), LinkedListNode<Entry>> _map = [];
    private readonly LinkedList<Entry> _recency = new();

    public SchemaCache(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int Count => _map.Count;

    /// <summary>How many schemas were compiled (cache misses), for tests and telemetry.</summary>
    public long Compiled { get; private set; }

    /// <summary>How many of the most recently used schemas <see cref="TryMatchPrefix"/> compares.</summary>
    public const int PrefixCandidates = 4;

    /// <summary>Finds a recently used schema whose raw bytes <paramref name="input"/> starts with,
    /// without hashing or tokenizing: a JSON object ends where its own bytes say, so when the input
    /// starts with the bytes of a complete schema object, that object is the schema.</summary>
    public bool TryMatchPrefix(ReadOnlySpan<byte> input, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? plan, out int length)
    {
        var node = _recency.First;
        for (var i = 0; i < PrefixCandidates && node is not null; i++, node = node.Next)
        {
            if (input.StartsWith(node.Value.Raw))
            {
                if (node != _recency.First)
                {
                    _recency.Remove(node);
                    _recency.AddFirst(node);
                }

                plan = node.Value.Plan;
                length = node.Value.Raw.Length;
                return true;
            }
        }

        plan = null;
        length = 0;
        return false;
    }

    public T GetOrAdd<TState>(ReadOnlySpan<byte> raw, TState state, Func<TState, T> compile)
    {
        var hash = new HashCode();
        hash.AddBytes(raw);
        var key = (hash.ToHashCode(), raw.Length);
        if (_map.TryGetValue(key, out var node) && raw.SequenceEqual(node.Value.Raw))
        {
            if (node != _recency.First)
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
            }

            return node.Value.Plan;
        }

        // Compile before touching the cache: a schema that fails to compile is not stored.
        var plan = compile(state);
        Compiled++;
        if (node is not null)
        {
            // Same hash and length, different bytes: the newer schema takes the slot.
            _recency.Remove(node);
            _map.Remove(key);
        }

        if (_map.Count >= Capacity && _recency.Last is { } oldest)
        {
            _recency.RemoveLast();
            _map.Remove(oldest.Value.Key);
        }

        _map[key] = _recency.AddFirst(new Entry(key, raw.ToArray(), plan));
        return plan;
    }

    private sealed record Entry((int Hash, int Length) Key, byte[] Raw, T Plan);
}
