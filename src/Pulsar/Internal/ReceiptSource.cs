using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace Sync.Pulsar.Internal;

/// <summary>
/// A pooled, reusable awaitable for one send receipt, so that producing a message allocates no
/// Task. It returns itself to the pool once its result has been read.
/// </summary>
internal sealed class ReceiptSource : IValueTaskSource<MessageId>
{
    private static readonly ConcurrentQueue<ReceiptSource> Pool = new();
    private const int MaxPooled = 4096;

    private ManualResetValueTaskSourceCore<MessageId> _core = new() { RunContinuationsAsynchronously = true };

    public static ReceiptSource Rent() => Pool.TryDequeue(out var source) ? source : new ReceiptSource();

    public ValueTask<MessageId> Task => new(this, _core.Version);

    public void Complete(MessageId id) => _core.SetResult(id);

    public void Fail(Exception error) => _core.SetException(error);

    public MessageId GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            if (Pool.Count < MaxPooled)
            {
                Pool.Enqueue(this);
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
