using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Sync.Pulsar.Internal;

/// <summary>The bounded queue into which a composite consumer (partitions, several topics) merges
/// its children's messages. A child that fails for good fails the queue; readers then get that
/// failure, or <see cref="PulsarObjectClosedException"/> once the consumer is closed.</summary>
internal sealed class MergedQueue
{
    private readonly Channel<PulsarMessage> _channel;
    private readonly Func<string> _owner;

    /// <param name="capacity">Most messages held (back-pressure on the children's pumps).</param>
    /// <param name="owner">Names the consumer in errors, e.g. <c>consumer of topic/subscription</c>.</param>
    public MergedQueue(int capacity, Func<string> owner)
    {
        _channel = Channel.CreateBounded<PulsarMessage>(new BoundedChannelOptions(capacity) { SingleReader = false, SingleWriter = false });
        _owner = owner;
    }

    public int Count => _channel.Reader.Count;

    public ValueTask WriteAsync(PulsarMessage message, CancellationToken cancellationToken) => _channel.Writer.WriteAsync(message, cancellationToken);

    /// <summary>Ends the queue with a child's failure.</summary>
    public void Fail(Exception failure) => _channel.Writer.TryComplete(failure);

    /// <summary>Ends the queue because the consumer closed.</summary>
    public void Close() => _channel.Writer.TryComplete(new PulsarObjectClosedException(_owner()));

    /// <summary>Drops what is queued (the children redeliver it).</summary>
    public void Clear()
    {
        while (_channel.Reader.TryRead(out _))
        {
        }
    }

    public async ValueTask<PulsarMessage> ReceiveAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _channel.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException e)
        {
            throw e.InnerException as PulsarException ?? new PulsarObjectClosedException(_owner());
        }
    }

    public bool TryReceive([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PulsarMessage? message) => _channel.Reader.TryRead(out message);

    public async IAsyncEnumerable<PulsarMessage> ReceiveAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            yield return await ReceiveAsync(cancellationToken);
        }
    }
}
